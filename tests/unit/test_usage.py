"""Pricing, draw-down and usage recording against the in-memory stores."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.access import Caller
from billing.domain.errors import Conflict, Forbidden, PayloadTooLarge, ValidationFailed
from billing.domain.idempotency import IdempotencyKeyReused
from billing.domain.usage import CreditLimitReached, PeriodUsage, UnknownService, UsageRequest
from billing.services import subscriptions, usage, usage_reporting

from .world import ADMIN, NOW, SERVICE, no_pause
from .world import World as ServiceWorld


class World(ServiceWorld):
    def __init__(self, overage_policy="allow", allowance="1000"):
        super().__init__(overage_policy=overage_policy, credit_allowance=Decimal(allowance))

    def record(self, who=SERVICE, now=None, **fields):
        if now is not None:
            self.at(now)
        request = UsageRequest.model_validate(
            {"organization_id": "org-1", "service": "instrumentation", "quantity": 1, "idempotency_key": "k1"} | fields
        )
        return usage.record_usage(self.billing, who, request, pause=no_pause)

    def batch(self, events):
        return usage.record_usage_batch(self.billing, SERVICE, events, pause=no_pause)

    def balance(self):
        return self.subscriptions.get(self.subscription.subscription_id).credit_balance


def test_an_event_is_priced_at_the_plan_rate_and_written_with_its_entry_and_aggregate():
    world = World()
    event, replayed = world.record(quantity="2.5", guardrail={"flags": ["door_open"]})
    assert (
        not replayed
        and event.credits == Decimal("12.5")
        and event.debited_credits == Decimal("12.5")
        and event.overage_credits == 0
    )
    assert event.unit == "run" and event.balance_after == Decimal("987.5") and event.ledger_seq == 2
    [_, entry] = world.ledger()
    assert (entry.type, entry.amount, entry.bucket, entry.balance_after) == (
        "usage",
        Decimal("-12.5"),
        "allowance",
        Decimal("987.5"),
    )
    aggregate = world.usage.period_usage(world.subscription.subscription_id, world.subscription.current_period_start)
    assert aggregate.services["instrumentation"].credits == Decimal("12.5") and aggregate.guardrail_flags == {
        "door_open": 1
    }


def test_replays_answer_the_first_event_and_reused_keys_are_refused():
    world = World()
    first, _ = world.record()
    again, replayed = world.record()
    assert replayed and again == first
    with pytest.raises(IdempotencyKeyReused):
        world.record(quantity=2)
    assert len(world.ledger()) == 2


def test_a_blocking_plan_refuses_what_the_balance_cannot_cover_and_writes_nothing():
    world = World(overage_policy="block", allowance="12")
    world.record(quantity=2, idempotency_key="a")  # 10 credits
    with pytest.raises(CreditLimitReached):
        world.record(quantity=1, idempotency_key="b")  # 5 more: only 2 left
    assert world.balance() == 2 and len(world.ledger()) == 2


def test_an_allowing_plan_records_overage_beyond_the_balance():
    world = World(allowance="12")
    world.record(quantity=3)
    [_, entry] = world.ledger()
    event = world.usage.find_events([("org-1", "k1")])[("org-1", "k1")]
    assert (event.debited_credits, event.overage_credits, event.balance_after, entry.amount) == (12, 3, 0, -12)


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"service": "telepathy"}, UnknownService),
        ({"unit": "hour"}, ValidationFailed),
        ({"occurred_at": (NOW + timedelta(hours=1)).isoformat()}, ValidationFailed),
        ({"organization_id": "org-2"}, Conflict),
    ],
)
def test_unchargeable_events_are_refused(fields, error):
    world = World()
    with pytest.raises(error):
        world.record(**fields)
    assert len(world.ledger()) == 1


def test_only_services_and_admins_record_usage_and_canceled_subscriptions_take_none():
    world = World()
    with pytest.raises(Forbidden):
        world.record(who=Caller("o", frozenset({"org:admin"}), "org-1", "us"))
    subscriptions.cancel_subscription(world.billing, ADMIN, world.sid)
    with pytest.raises(Conflict) as raised:
        world.record()
    assert raised.value.code == "no_active_subscription"


def event(key, **fields):
    return {"organization_id": "org-1", "service": "analytics", "quantity": "4", "idempotency_key": key} | fields


def test_a_batch_answers_each_event_and_one_bad_event_sinks_none():
    world = World()
    world.record(idempotency_key="seen")
    report = world.batch(
        [
            event("a"),
            {"organization_id": "org-1"},
            event("b", service="telepathy"),
            event("seen", service="instrumentation", quantity=1),
            event("a"),
            event("c", organization_id="org-none"),
            event("seen", quantity="9"),
        ]
    )
    statuses = [(r["status"], r.get("error", {}).get("code")) for r in report.results]
    assert statuses == [
        ("accepted", None),
        ("rejected", "validation_error"),
        ("rejected", "unknown_service"),
        ("duplicate", None),
        ("duplicate", None),
        ("rejected", "no_active_subscription"),
        ("rejected", "idempotency_key_reused"),
    ]
    assert report.results[1]["error"]["details"]["fields"][0]["field"].startswith("events.1.")
    assert report.results[4]["event_id"] == report.results[0]["event_id"]
    assert len(world.ledger()) == 3  # grant, the single event, one entry for the batch


def test_a_full_batch_takes_as_few_transactions_as_the_item_limit_allows():
    world = World()
    report = world.batch([event(f"e{i}", quantity="1") for i in range(100)])
    assert [r["status"] for r in report.results] == ["accepted"] * 100
    entries = world.ledger()
    assert [e.type for e in entries] == [
        "grant",
        "usage",
        "usage",
    ]  # 95 + 5 events: two transactions of at most 100 items
    assert sum(e.amount for e in entries[1:]) == Decimal("-25") and world.balance() == Decimal(975)
    with pytest.raises(PayloadTooLarge):
        world.batch([event(f"x{i}") for i in range(101)])


def test_a_blocking_plan_refuses_only_the_events_the_balance_cannot_cover_in_a_batch():
    world = World(overage_policy="block", allowance="10")
    report = world.batch(
        [event("a", quantity="16"), event("b", quantity="40"), event("c", quantity="24")]
    )  # 4, 10, 6 credits
    assert [(r["status"], r.get("error", {}).get("code")) for r in report.results] == [
        ("accepted", None),
        ("rejected", "insufficient_credits"),
        ("accepted", None),
    ]
    assert world.balance() == 0


def test_period_usage_sums_events_per_service_and_flag():
    world = World()
    world.batch(
        [
            event("a", guardrail={"flags": ["door_open", "drift"]}),
            event("b", service="planner", quantity="1", guardrail={"escalation_codes": ["E1"]}),
            event("c", guardrail={"flags": ["drift"]}),
        ]
    )
    summary = usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=None)
    assert summary.services["analytics"].events == 2 and summary.services["analytics"].credits == 2
    assert summary.guardrail_flags == {"door_open": 1, "drift": 2} and summary.escalation_codes == {"E1": 1}
    assert summary.totals.credits == 4 and summary.totals.events == 3
    with pytest.raises(ValidationFailed):
        usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=NOW + timedelta(days=1))
    assert PeriodUsage.of([]).totals.credits == 0


def test_a_batch_with_many_distinct_flags_splits_so_each_update_expression_stays_small():
    world = World()
    events = [
        {
            "organization_id": "org-1",
            "service": "instrumentation",
            "quantity": 1,
            "idempotency_key": f"f{i}",
            "guardrail": {"flags": [f"flag-{i}-{j}" for j in range(5)]},
        }
        for i in range(97)
    ]  # 485 distinct flags
    report = usage.record_usage_batch(world.billing, SERVICE, events, pause=no_pause)
    assert all(r["status"] == "accepted" for r in report.results)
    chunks = [e for e in world.ledger() if e.type == "usage"]
    assert len(chunks) >= 3  # 485 flag counters cannot share one expression
    summary = usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=None)
    assert len(summary.guardrail_flags) == 485 and summary.totals.events == 97
