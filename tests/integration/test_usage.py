"""The usage functions on moto, driven by events/, and the usage bus end to end (emitter -> consumer)."""

import json
from decimal import Decimal

import boto3
import pytest

from billing.domain.errors import ValidationFailed
from billing.emitter import UsageEmitter, UsageNotEmitted, instrumentation_run, planner_finalization, sequence_analysis

from .conftest import sample_event


@pytest.fixture
def subscribed(functions):
    functions.http("PlanCatalogFunction", "plan_catalog/list_plans.json")
    status, _, subscription = functions.http("SubscriptionsFunction", "subscriptions/provision.json")
    assert status == 201
    return subscription


def ledger(functions, subscription):
    _, _, page = functions.http(
        "CreditsFunction",
        "credits/read_ledger.json",
        path_parameters={"subscription_id": subscription["subscription_id"]},
    )
    return page["items"]


def test_given_the_sample_events_when_usage_is_recorded_then_it_is_charged_listed_and_summarized(functions, subscribed):
    sid = {"subscription_id": subscribed["subscription_id"]}
    status, _, event = functions.http("UsageRecordingFunction", "usage_recording/record_usage.json")
    assert status == 201 and event["credits"] == "2" and event["guardrail"]["escalation_codes"] == ["ESC-REAGENT-LOW"]
    status, _, report = functions.http("UsageRecordingFunction", "usage_recording/record_usage_batch.json")
    assert status == 200 and [r["status"] for r in report["results"]] == ["accepted", "accepted"]
    status, _, listed = functions.http("UsageReportingFunction", "usage_reporting/list_usage.json", path_parameters=sid)
    assert status == 200 and [e["idempotency_key"] for e in listed["items"]] == ["run-5511"]
    status, _, summary = functions.http(
        "UsageReportingFunction", "usage_reporting/usage_summary.json", path_parameters=sid
    )
    assert status == 200 and summary["totals"] == {"credits": "31", "overage_credits": "0", "events": 3}
    assert summary["guardrail_flags"] == {"temperature_drift": 1} and summary["escalation_codes"] == {
        "ESC-REAGENT-LOW": 1
    }


def test_given_a_usage_bus_event_when_delivered_twice_then_it_is_charged_once(functions, subscribed):
    delivery = sample_event("usage_bus/usage_recorded.json")
    first = functions("UsageBusFunction").invoke(delivery)
    again = functions("UsageBusFunction").invoke(delivery)
    assert first["status"] == "accepted" and again["status"] == "duplicate" and again["event"] == first["event"]
    assert first["event"]["credits"] == "5" and first["event"]["guardrail"]["flags"] == ["door_open"]
    assert [e["type"] for e in ledger(functions, subscribed)] == ["grant", "usage"]


def test_given_an_unrecordable_bus_event_when_delivered_then_it_fails_for_the_dead_letter_queue(functions, subscribed):
    delivery = sample_event("usage_bus/usage_recorded.json")
    delivery["detail"]["service"] = "telepathy"
    with pytest.raises(Exception) as raised:
        functions("UsageBusFunction").invoke(delivery)
    assert getattr(raised.value, "code", None) == "unknown_service"
    delivery["detail-type"] = "SomethingElse"
    with pytest.raises(ValidationFailed):
        functions("UsageBusFunction").invoke(delivery)
    assert [e["type"] for e in ledger(functions, subscribed)] == ["grant"]


def test_given_floats_from_the_lambda_runtime_when_recorded_then_they_are_read_exactly(functions, subscribed):
    delivery = sample_event("usage_bus/usage_recorded.json")
    delivery["detail"] |= {"service": "analytics", "quantity": 0.1, "idempotency_key": "float-1", "unit": "sample"}
    result = functions("UsageBusFunction").invoke(delivery)
    assert result["event"]["quantity"] == "0.1" and result["event"]["credits"] == "0.025"


def test_the_emitters_events_are_recorded_by_the_bus_consumer(functions, subscribed):
    events = boto3.client("events", region_name="us-east-1")
    events.create_event_bus(Name="usage-test")
    emitter = UsageEmitter(events, bus_name="usage-test", source="marketplace.lab")
    usage = [
        planner_finalization("org-helix", "fin-1", escalation_codes=["ESC-9"]),
        instrumentation_run("org-helix", "run-1", guardrail_flags=["temperature_drift"]),
        sequence_analysis("org-helix", "seq-1", units=Decimal("96")),
    ]
    emitter.emit(*usage)  # moto accepts them; what it would deliver is each entry as an EventBridge event
    for request in usage:
        entry = emitter.entry(request)
        delivered = {
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "detail": json.loads(entry["Detail"]),
        }
        assert functions("UsageBusFunction").invoke(delivered)["status"] == "accepted"
        assert functions("UsageBusFunction").invoke(delivered)["status"] == "duplicate"
    assert [e.idempotency_key for e in usage] == [
        "planner_finalization:fin-1",
        "instrumentation_run:run-1",
        "sequence_analysis:seq-1",
    ]
    assert Decimal(ledger(functions, subscribed)[-1]["balance_after"]) == Decimal(1000) - 2 - 5 - 24


def test_the_emitter_names_the_events_the_bus_refused():
    class RefusingBus:
        def put_events(self, Entries):
            return {
                "FailedEntryCount": 1,
                "Entries": [{"EventId": "1"}, {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}],
            }

    with pytest.raises(UsageNotEmitted) as raised:
        UsageEmitter(RefusingBus(), bus_name="b", source="s").emit(
            planner_finalization("o", "f1"), planner_finalization("o", "f2")
        )
    assert raised.value.failures == [
        {"idempotency_key": "planner_finalization:f2", "error": "ThrottlingException", "message": "slow down"}
    ]
