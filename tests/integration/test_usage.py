"""The usage functions on moto, driven by events/, and the usage bus end to end (the client's UsageBus -> consumer)."""

import json
from decimal import Decimal

import boto3
import pytest
from marketplace_billing import instrumentation_run, planner_finalization, sequence_analysis
from marketplace_billing.bus import RefusedEntry, UsageBus

from .conftest import claims, sample_event

USAGE_QUEUE, USAGE_DLQ = "UsageQueue", "UsageDeadLetterQueue"


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


def through_bus(functions, *events: dict) -> dict:
    """Producers put the events on the usage bus; its rule queues them; the consumer drains them."""
    assert functions.queues.put_events("UsageBus", list(events)) == len(events)
    return functions.queues.drain(USAGE_QUEUE)[USAGE_QUEUE]


def recorded(functions, subscription) -> list[dict]:
    _, _, page = functions.http(
        "UsageReportingFunction",
        "usage_reporting/list_usage.json",
        path_parameters={"subscription_id": subscription["subscription_id"]},
        query={"limit": "100"},
        authorizer=claims("finance"),
    )
    return page["items"]


def test_given_a_usage_bus_event_when_delivered_twice_then_it_is_charged_once(functions, subscribed):
    delivery = sample_event("usage_bus/usage_recorded.json")
    report = through_bus(functions, delivery, delivery)
    assert (report["deliveries"], report["failures"]) == (2, 0)
    [event] = recorded(functions, subscribed)
    assert event["credits"] == "5" and event["guardrail"]["flags"] == ["door_open"]
    assert through_bus(functions, delivery)["failures"] == 0  # a later batch: a duplicate
    assert [e["type"] for e in ledger(functions, subscribed)] == ["grant", "usage"]


def test_given_an_unrecordable_bus_event_when_delivered_then_it_is_retried_alone_then_dead_lettered(
    functions, subscribed
):
    good = sample_event("usage_bus/usage_recorded.json")
    bad = json.loads(json.dumps(good))
    bad["detail"] |= {"service": "telepathy", "idempotency_key": "bad-1"}
    report = through_bus(functions, good, bad)
    # the bad one is received three times (maxReceiveCount), the good one once: charged once
    assert (report["deliveries"], report["failures"], report["dead_lettered"]) == (4, 3, 1)
    [dead] = functions.queues.messages(USAGE_DLQ)
    assert json.loads(dead)["detail"]["idempotency_key"] == "bad-1"
    assert [e["type"] for e in ledger(functions, subscribed)] == ["grant", "usage"]
    functions.queues.send(USAGE_QUEUE, json.dumps({"detail-type": "SomethingElse", "detail": {}}))
    assert functions.queues.drain(USAGE_QUEUE)[USAGE_QUEUE]["dead_lettered"] == 1  # not a usage event


def test_given_floats_in_the_message_when_recorded_then_they_are_read_exactly(functions, subscribed):
    delivery = sample_event("usage_bus/usage_recorded.json")
    delivery["detail"] |= {"service": "analytics", "quantity": 0.1, "idempotency_key": "float-1", "unit": "sample"}
    through_bus(functions, delivery)
    [event] = recorded(functions, subscribed)
    assert event["quantity"] == "0.1" and event["credits"] == "0.025"


def test_bus_batches_are_charged_exactly_as_http_usage_with_each_key_charged_once(functions, subscribed):
    """The same usage, one POST /usage at a time for one organization and through the bus in
    batches (duplicates inside a batch and across batches) for another: the same charges."""
    status, _, other = functions.http(
        "SubscriptionsFunction",
        "subscriptions/provision.json",
        path_parameters={"organization_id": "org-bus"},
        authorizer=claims("marketplace:admin"),
    )
    assert status == 201
    usage = [
        {"service": service, "quantity": quantity, "idempotency_key": f"k{i}"}
        for i, (service, quantity) in enumerate(
            [("instrumentation", "3"), ("analytics", "7.5"), ("planner", "2"), ("instrumentation", "1")] * 10
        )
    ]
    for body in usage:
        status, _, _ = functions.http(
            "UsageRecordingFunction",
            "usage_recording/record_usage.json",
            body={"organization_id": "org-helix", **body},
        )
        assert status == 201
    on_bus = [
        {"detail-type": "UsageRecorded", "source": "marketplace.lab", "detail": {"organization_id": "org-bus", **body}}
        for body in usage
    ]
    first = through_bus(functions, *on_bus[:25], *on_bus[:5])  # five keys twice in one batch
    second = through_bus(functions, *on_bus[20:])  # five keys again in a later batch
    assert first["failures"] == second["failures"] == 0

    def charges(subscription):
        return sorted(
            (e["idempotency_key"], e["credits"], e["overage_credits"], e["quantity"])
            for e in recorded(functions, subscription)
        )

    assert charges(other) == charges(subscribed) and len(charges(other)) == 40
    balances = [ledger(functions, s)[-1]["balance_after"] for s in (subscribed, other)]
    assert balances[0] == balances[1]
    assert [e["type"] for e in ledger(functions, other)] == ["grant", "usage", "usage"]  # one entry a batch


def test_the_client_bus_producers_events_are_recorded_by_the_bus_consumer(functions, subscribed):
    events = boto3.client("events", region_name="us-east-1")
    events.create_event_bus(Name="usage-test")
    bus = UsageBus("usage-test", events, source="marketplace.lab")
    usage = [
        planner_finalization("org-helix", "fin-1", escalation_codes=["ESC-9"]),
        instrumentation_run("org-helix", "run-1", guardrail_flags=["temperature_drift"]),
        sequence_analysis("org-helix", "seq-1", units=Decimal("96")),
    ]
    assert bus.put(*usage) == []  # moto accepts them; what it would deliver is each entry as an EventBridge event
    delivered = [
        {"detail-type": entry["DetailType"], "source": entry["Source"], "detail": json.loads(entry["Detail"])}
        for entry in map(bus.entry, usage)
    ]
    assert through_bus(functions, *delivered)["failures"] == 0
    assert through_bus(functions, *delivered)["failures"] == 0  # delivered again: duplicates
    assert sorted(e["idempotency_key"] for e in recorded(functions, subscribed)) == [
        "instrumentation_run:run-1",
        "planner_finalization:fin-1",
        "sequence_analysis:seq-1",
    ]
    assert Decimal(ledger(functions, subscribed)[-1]["balance_after"]) == Decimal(1000) - 2 - 5 - 24


def test_the_client_bus_answers_the_entries_eventbridge_refused_ten_a_call():
    class RefusingBus:
        calls: list[int] = []

        def put_events(self, Entries):
            self.calls.append(len(Entries))
            answers = [{"EventId": str(n)} for n in range(len(Entries))]
            answers[-1] = {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
            return {"FailedEntryCount": 1, "Entries": answers}

    refusing = RefusingBus()
    usage = [planner_finalization("o", f"f{n}") for n in range(12)]
    refused = UsageBus("b", refusing, source="s").put(*usage)
    assert refusing.calls == [10, 2]
    assert refused == [
        RefusedEntry(usage[9], "ThrottlingException", "slow down"),
        RefusedEntry(usage[11], "ThrottlingException", "slow down"),
    ]
    assert [r.record.idempotency_key for r in refused] == ["planner_finalization:f9", "planner_finalization:f11"]


def test_the_client_bus_refuses_an_event_without_a_key_before_sending_anything():
    class Bus:
        def put_events(self, Entries):
            raise AssertionError("nothing is sent")

    keyless = planner_finalization("o", "f1").model_copy(update={"idempotency_key": None})
    with pytest.raises(ValueError, match="idempotency key"):
        UsageBus("b", Bus()).put(planner_finalization("o", "f0"), keyless)
