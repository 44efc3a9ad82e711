"""GuardrailRollupsFunction on moto, fed the usage table's stream records (events/guardrail_rollups):
each recorded event counts once however often it is delivered, and a void takes back exactly what
it added; GuardrailAnalyticsFunction reads the result."""

import copy

import pytest

from billing.services import guardrail_analytics

from .conftest import claims, sample_event

SUBSCRIPTION = "01KAXPZ4H2J4K6M8N0P2Q4R6S8"  # the samples' subscription, of residency us
DAY = {"from": "2026-11-25", "to": "2026-11-25", "group_by": "day,organization,service"}


@pytest.fixture
def rollups(functions, monkeypatch):
    # The fold reads each subscription's residency once per container; the samples' is us.
    monkeypatch.setitem(guardrail_analytics._residencies, SUBSCRIPTION, "us")
    return functions


def fold(functions, name: str) -> dict:
    return functions("GuardrailRollupsFunction").invoke(copy.deepcopy(sample_event(f"guardrail_rollups/{name}")))


def report(functions, residency="us", **query):
    status, _, body = functions.http(
        "GuardrailAnalyticsFunction",
        "guardrail_analytics/guardrail_report.json",
        authorizer=claims("finance", residency=residency),
        query=DAY | query,
    )
    assert status == 200, body
    return body


def test_a_recorded_event_is_counted_once_however_often_the_stream_delivers_it(rollups):
    assert fold(rollups, "usage_recorded.json") == {"applied": 1}
    assert fold(rollups, "usage_recorded.json") == {"applied": 0}
    answer = report(rollups)
    assert answer["items"] == [
        {
            "day": "2026-11-25",
            "organization_id": "org-acme",
            "service": "instrumentation",
            "events": 1,
            "flagged_events": 1,
            "flag_rate": "1",
            "flags": {"temperature_drift": 1},
            "escalation_codes": {"ESC-17": 1},
            "credits": "12.5",
            "flagged_credits": "12.5",
        }
    ]
    assert answer["as_of"] == "2026-11-25T10:00:00Z"
    assert report(rollups, residency="eu")["items"] == []


def test_a_void_takes_back_exactly_what_the_event_added_once(rollups):
    fold(rollups, "usage_recorded.json")
    assert fold(rollups, "usage_voided.json") == {"applied": 1}
    assert fold(rollups, "usage_voided.json") == {"applied": 0}
    assert report(rollups)["items"] == []


def test_a_batch_with_a_record_seen_before_still_applies_the_new_ones(rollups):
    fold(rollups, "usage_recorded.json")
    batch = copy.deepcopy(sample_event("guardrail_rollups/usage_recorded.json"))
    other = copy.deepcopy(batch["Records"][0])
    image = other["dynamodb"]["NewImage"]
    image["event_id"] = {"S": "01KAXQ3Z8N6R9T2V4W6Y8A0C3G"}
    image["sk"] = {"S": "USAGE#run-2026-11-25-0043"}
    image["guardrail"] = {"M": {"flags": {"L": []}, "escalation_codes": {"L": []}}}
    batch["Records"].append(other)
    assert rollups("GuardrailRollupsFunction").invoke(batch) == {"applied": 1}
    [item] = report(rollups)["items"]
    assert (item["events"], item["flagged_events"], item["flag_rate"]) == (2, 1, "0.5")
    assert (item["credits"], item["flagged_credits"]) == ("25", "12.5")


def test_aggregate_rows_and_removals_are_not_usage(rollups):
    batch = copy.deepcopy(sample_event("guardrail_rollups/usage_recorded.json"))
    record = batch["Records"][0]
    record["dynamodb"]["NewImage"]["sk"] = {"S": "PERIOD#2026-11-01T00:00:00Z#DAY#2026-11-25"}
    removal = copy.deepcopy(sample_event("guardrail_rollups/usage_recorded.json"))["Records"][0]
    removal["eventName"] = "REMOVE"
    assert rollups("GuardrailRollupsFunction").invoke({"Records": [record, removal]}) == {"applied": 0}
