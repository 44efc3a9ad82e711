"""Every resource of the client against the local stack: what each method sends is what API.md
asks, and what it answers is typed (Decimal credits, int cents, aware UTC datetimes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from marketplace_billing import (
    Hold,
    Invoice,
    LedgerEntry,
    Plan,
    Subscription,
    UsageEvent,
    instrumentation_run,
    planner_finalization,
    sequence_analysis,
)

from .conftest import new_org

pytestmark = pytest.mark.client


def balance(billing, subscription_id) -> Decimal:
    return billing.subscriptions.get(subscription_id).credit_balance


def test_plans_are_listed_and_read_typed_without_a_token(base_url):
    from marketplace_billing import Billing

    with Billing(base_url) as anonymous:
        plans = {p.plan_id: p for p in anonymous.plans.list()}
        lab = anonymous.plans.get("lab-standard")
    assert isinstance(plans["lab-standard"], Plan) and plans["lab-standard"] == lab
    assert lab.credit_allowance == Decimal("1000") and lab.overage_rate_cents == Decimal("12.5")
    assert isinstance(lab.base_fee_cents, int) and lab.usage_rates["analytics"].credits_per_unit == Decimal("0.25")
    assert lab.created_at.tzinfo is UTC and lab.created_at <= datetime.now(UTC)


def test_a_subscription_is_created_read_listed_and_canceled(admin, billing_as, subscribed):
    created = subscribed()
    assert isinstance(created, Subscription) and created.status == "active"
    assert created.credit_balance == created.allowance_balance == created.available_credits == Decimal("1000")
    assert created.current_period_start.tzinfo is UTC and created.current_period_end > created.current_period_start

    org = created.organization_id
    member = billing_as("org:member", org=org)
    read = member.subscriptions.get(created.subscription_id)
    assert read.health is not None and read.health.status == "healthy"
    assert [s.subscription_id for s in member.subscriptions.list(organization_id=org)] == [created.subscription_id]
    across = admin.subscriptions.list(organization_id=org, status="active", residency="us")
    assert [s.subscription_id for s in across] == [created.subscription_id]

    canceled = billing_as("org:admin", org=org).subscriptions.cancel(created.subscription_id)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    assert admin.subscriptions.cancel(created.subscription_id).status == "canceled"  # twice: the same answer


def test_usage_is_recorded_once_per_key_and_listed_newest_first(service, admin, subscribed):
    sub = subscribed()
    org = sub.organization_id
    first = service.usage.record(
        organization_id=org,
        service="analytics",
        quantity=Decimal("96.5"),
        idempotency_key="sequence_analysis:seq-1",
        guardrail={"flags": ["low_coverage"]},
        metadata={"pipeline": "wgs"},
    )
    assert isinstance(first, UsageEvent) and first.credits == Decimal("24.125")
    assert first.balance_after == Decimal("975.875") and first.guardrail.flags == ["low_coverage"]
    again = service.usage.record(
        organization_id=org,
        service="analytics",
        quantity=Decimal("96.5"),
        idempotency_key="sequence_analysis:seq-1",
        guardrail={"flags": ["low_coverage"]},
        metadata={"pipeline": "wgs"},
    )
    assert again == first and balance(admin, sub.subscription_id) == Decimal("975.875")
    second = service.usage.record(organization_id=org, service="planner", quantity=1)  # a fresh key of its own
    assert second.idempotency_key and second.idempotency_key != first.idempotency_key

    listed = list(admin.usage.list(sub.subscription_id))
    assert [e.event_id for e in listed] == [second.event_id, first.event_id]
    assert [e.event_id for e in admin.usage.list(sub.subscription_id, service="analytics")] == [first.event_id]
    later = list(admin.usage.list(sub.subscription_id, from_=datetime(2999, 1, 1, tzinfo=UTC)))
    assert later == []


def test_record_many_sends_any_number_in_hundreds_and_answers_one_result_per_event_in_order(service, admin, subscribed):
    sub = subscribed()
    org = sub.organization_id
    events = [sequence_analysis(org, f"seq-{n}", units=4) for n in range(230)]
    events.insert(57, {"organization_id": org, "service": "teleportation", "quantity": 1, "idempotency_key": "bad-1"})
    events.append(planner_finalization(org, "fin-1", escalation_codes=["ESC-REAGENT-LOW"]))
    events.append(instrumentation_run(org, "run-1", guardrail_flags=["temperature_drift"]))

    results = service.usage.record_many(events)
    assert len(results) == len(events) == 233
    assert [r.idempotency_key for r in results] == [
        e["idempotency_key"] if isinstance(e, dict) else e.idempotency_key for e in events
    ]
    assert results[57].status == "rejected" and results[57].error["code"] == "unknown_service"
    assert all(r.status == "accepted" and r.event is not None for i, r in enumerate(results) if i != 57)
    assert results[-2].event.guardrail.escalation_codes == ["ESC-REAGENT-LOW"]
    assert balance(admin, sub.subscription_id) == Decimal(1000) - 230 * 1 - 2 - 5

    replayed = service.usage.record_many(events[:3])  # reported again: duplicates, nothing charged
    assert [r.status for r in replayed] == ["duplicate"] * 3 and all(r.charged for r in replayed)
    assert [r.event.event_id for r in replayed] == [r.event.event_id for r in results[:3]]
    assert balance(admin, sub.subscription_id) == Decimal(1000) - 237


def test_lists_follow_the_cursor_past_200_items(service, admin, subscribed):
    sub = subscribed()
    keys = {f"sequence_analysis:seq-{n}" for n in range(205)}
    results = service.usage.record_many(sequence_analysis(sub.organization_id, f"seq-{n}", units=1) for n in range(205))
    assert {r.status for r in results} == {"accepted"}

    everything = list(admin.usage.list(sub.subscription_id))  # the API's default page: 50
    assert len(everything) == 205 and {e.idempotency_key for e in everything} == keys
    assert everything == sorted(everything, key=lambda e: e.recorded_at, reverse=True)
    in_two_pages = list(admin.usage.list(sub.subscription_id, limit=200))
    assert [e.event_id for e in in_two_pages] == [e.event_id for e in everything]


def test_an_entitlement_check_says_what_recording_would_do(service, subscribed):
    sub = subscribed()
    twelve = Decimal("1.2E+1")  # an exact twelve, however it was computed
    allowed = service.entitlements.check(
        organization_id=sub.organization_id, service="instrumentation", quantity=twelve
    )
    assert allowed.allowed is True and allowed.credits_required == Decimal(60)
    assert allowed.available_credits == Decimal(1000) and allowed.subscription_id == sub.subscription_id
    nobody = service.entitlements.check(organization_id=new_org(), service="planner", quantity=1)
    assert (nobody.allowed, nobody.reason) == (False, "no_active_subscription")


def test_holds_are_placed_read_settled_and_released(service, admin, subscribed):
    sub = subscribed()
    org = sub.organization_id
    hold = service.holds.place(organization_id=org, service="instrumentation", quantity=4, expires_in_seconds=600)
    assert isinstance(hold, Hold) and (hold.status, hold.credits) == ("held", Decimal(20))
    assert hold.expires_at.tzinfo is UTC and service.holds.get(hold.hold_id) == hold
    assert admin.subscriptions.get(sub.subscription_id).available_credits == Decimal(980)

    charged = service.holds.settle(hold.hold_id, quantity=3, idempotency_key="instrumentation_run:run-7")
    assert (charged.hold_id, charged.credits, charged.idempotency_key) == (
        hold.hold_id,
        15,
        "instrumentation_run:run-7",
    )
    assert service.holds.get(hold.hold_id).status == "settled"

    other = service.holds.place(organization_id=org, service="planner", quantity=1, source={"kind": "x", "id": "1"})
    released = service.holds.release(other.hold_id)
    assert released.status == "released" and released.source.kind == "x"
    after = admin.subscriptions.get(sub.subscription_id)
    assert (after.credit_balance, after.held_credits, after.available_credits) == (985, 0, 985)


def test_a_reserved_run_is_charged_what_it_used_once_even_when_the_producer_repeats_it(service, admin, subscribed):
    sub = subscribed()
    org = sub.organization_id

    with service.holds.reserve(
        organization_id=org, service="instrumentation", quantity=12, idempotency_key="instrumentation_run:run-4410"
    ) as run:
        assert admin.subscriptions.get(sub.subscription_id).held_credits == Decimal(60)
        charged = run.settle(quantity=10)
    assert (charged.credits, charged.hold_id, run.status) == (Decimal(50), run.hold_id, "settled")
    assert run.charge == charged and charged.idempotency_key == "instrumentation_run:run-4410"

    # The producer restarts and repeats the same run: the same hold, the same charge, nothing more.
    with service.holds.reserve(
        organization_id=org, service="instrumentation", quantity=12, idempotency_key="instrumentation_run:run-4410"
    ) as repeated:
        assert repeated.hold_id == run.hold_id
        assert repeated.settle(quantity=10) == charged
    assert balance(admin, sub.subscription_id) == Decimal(950)


def test_a_reserved_run_left_normally_is_charged_the_held_quantity(service, admin, subscribed):
    sub = subscribed()
    with service.holds.reserve(
        organization_id=sub.organization_id, service="planner", quantity=3, idempotency_key="planner_finalization:f-9"
    ) as run:
        pass
    assert run.status == "settled" and run.charge.quantity == Decimal(3) and run.charge.credits == Decimal(6)
    assert service.holds.get(run.hold_id).settled_event_id == run.charge.event_id
    assert balance(admin, sub.subscription_id) == Decimal(994)


def test_a_reserved_run_that_raises_releases_its_hold_and_re_raises(service, admin, subscribed):
    sub = subscribed()
    with pytest.raises(RuntimeError, match="the instrument jammed"):
        with service.holds.reserve(
            organization_id=sub.organization_id,
            service="instrumentation",
            quantity=3,
            idempotency_key="instrumentation_run:run-4411",
        ) as crashed:
            raise RuntimeError("the instrument jammed")
    assert crashed.status == "released" and service.holds.get(crashed.hold_id).status == "released"
    after = admin.subscriptions.get(sub.subscription_id)
    assert (after.credit_balance, after.held_credits) == (Decimal(1000), Decimal(0))


def test_credits_are_topped_up_and_adjusted_and_the_ledger_reads_oldest_first(admin, subscribed):
    sub = subscribed()
    topped = admin.credits.top_up(sub.subscription_id, amount=Decimal("250.5"), reason="PO 7781")
    assert isinstance(topped, LedgerEntry) and (topped.type, topped.amount) == ("top_up", Decimal("250.5"))
    adjusted = admin.credits.adjust(sub.subscription_id, amount=-10, reason="goodwill reversal")
    assert (adjusted.type, adjusted.amount, adjusted.balance_after) == ("adjustment", -10, Decimal("1240.5"))
    ledger = list(admin.ledger.list(sub.subscription_id, limit=1))  # a page per entry: the cursor followed
    assert [e.type for e in ledger] == ["grant", "top_up", "adjustment"] and [e.seq for e in ledger] == [1, 2, 3]
    assert sum(e.amount for e in ledger) == ledger[-1].balance_after == balance(admin, sub.subscription_id)


def test_finance_drafts_issues_exports_and_voids_invoices(billing_as, service, admin, subscribed):
    sub = subscribed()
    service.usage.record(organization_id=sub.organization_id, service="planner", quantity=600)  # 200 over
    admin.subscriptions.cancel(sub.subscription_id)  # the final period ends now: it can be issued
    finance = billing_as("finance")

    draft = finance.invoices.draft(sub.subscription_id)
    assert isinstance(draft, Invoice) and draft.status == "draft" and draft.number is None
    overage = next(line for line in draft.line_items if line.kind == "overage")
    assert (overage.quantity, overage.unit_amount_cents, overage.amount_cents) == (200, Decimal("12.5"), 2500)
    assert isinstance(draft.total_cents, int) and draft.total_cents == sum(li.amount_cents for li in draft.line_items)
    assert finance.invoices.draft(sub.subscription_id, period_start=draft.period_start).invoice_id == draft.invoice_id

    drafts = finance.invoices.list(status="draft", organization_id=sub.organization_id)
    assert [i.invoice_id for i in drafts] == [draft.invoice_id]
    issued = finance.invoices.issue(sub.subscription_id, draft.invoice_id)
    assert issued.status == "issued" and issued.number.startswith("INV-") and issued.issued_at.tzinfo is UTC
    assert finance.invoices.get(sub.subscription_id, draft.invoice_id) == issued
    assert [i.status for i in finance.invoices.list(subscription_id=sub.subscription_id)] == ["issued"]

    csv = finance.invoices.export(sub.subscription_id, draft.invoice_id, format="csv").decode()
    assert "amount_cents" in csv.splitlines()[0] and len(csv.splitlines()) == 1 + len(draft.line_items)
    as_json = json.loads(finance.invoices.export(sub.subscription_id, draft.invoice_id, format="json"))
    assert as_json["invoice_id"] == draft.invoice_id

    voided = finance.invoices.void(sub.subscription_id, draft.invoice_id)
    assert voided.status == "void" and voided.voided_at is not None
