"""Edge cases found in review: each of these failed (or hung, or answered 500) before its fix."""
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from billing.domain.access import Caller
from billing.domain.errors import ValidationFailed
from billing.domain.lab_standard import lab_standard_terms
from billing.domain.plans import PlanTerms, UsageRate
from billing.domain.usage import UsageRequest, price
from billing.domain.values import to_cents
from billing.services import catalog, credits, invoices, subscriptions, usage
from billing.services.credits import CreditChangeRequest
from billing.services.subscriptions import ProvisionRequest

from .world import ADMIN, NOW, SERVICE, World, no_pause

def test_usage_after_the_period_ended_closes_it_first_and_meets_the_new_allowance():
    world = World(overage_policy="block", credit_allowance=Decimal(10))
    world.record("a", 2)  # 10 credits: the allowance is spent
    later = world.subscription.current_period_end + timedelta(hours=2)  # before any scheduled run
    event, _ = world.record("b", 1, now=later)
    assert event.credits == 5 and event.period_start == world.subscription.current_period_end
    assert [e.type for e in world.ledger()] == ["grant", "usage", "grant", "usage"]
    drafted = world.invoices.page(world.sid, limit=10, cursor=None).items
    assert [i.period_start for i in drafted] == [world.subscription.current_period_start]
    report = invoices.run_invoicing(world.plans, world.subscriptions, world.usage, world.invoices, now=later, served_residencies=("us",), pause=no_pause)
    assert report.periods_closed == 0  # nothing left for the run


def test_a_twin_that_committed_meanwhile_is_replayed_not_refused():
    world = World(overage_policy="block", credit_allowance=Decimal(5))
    find_events = world.usage.find_events
    calls = []

    def racing_find_events(keys):
        calls.append(keys)
        if len(calls) == 1:  # our first look finds nothing; the twin commits right after it
            found = find_events(keys)
            world.record("same", 1)
            return found
        return find_events(keys)

    world.usage.find_events = racing_find_events
    event, replayed = world.record("same", 1)  # our own attempt now meets an empty balance
    assert replayed and event.credits == 5 and len([e for e in world.ledger() if e.type == "usage"]) == 1


def test_a_credit_twin_that_committed_meanwhile_is_replayed_not_refused():
    world = World()
    body = CreditChangeRequest(amount=Decimal(-1), type="adjustment", reason="r", idempotency_key="k")
    credits.change_credits(world.plans, world.subscriptions, ADMIN, world.sid, CreditChangeRequest(amount=Decimal(1), type="top_up", reason="r", idempotency_key="t"), now=NOW)
    lookup = world.subscriptions.idempotency_record
    state = {"first": True}

    def racing_lookup(scope):
        if state.pop("first", False):
            credits.change_credits(world.plans, world.subscriptions, ADMIN, world.sid, body, now=NOW, pause=no_pause)  # the twin
            return None
        return lookup(scope)

    world.subscriptions.idempotency_record = racing_lookup
    entry, replayed = credits.change_credits(world.plans, world.subscriptions, ADMIN, world.sid, body, now=NOW, pause=no_pause)
    assert replayed and entry.amount == -1 and world.subscriptions.get(world.sid).purchased_balance == 0


def test_a_final_close_with_nothing_to_expire_happens_once():
    world = World(credit_allowance=Decimal(0))
    subscriptions.cancel_subscription(world.subscriptions, ADMIN, world.sid, now=NOW + timedelta(days=3))
    run = lambda: invoices.run_invoicing(world.plans, world.subscriptions, world.usage, world.invoices, now=NOW + timedelta(days=4),  # noqa: E731
                                         served_residencies=("us",), pause=no_pause)
    assert (run().final_periods_closed, run().final_periods_closed) == (1, 0)


def test_a_stale_draft_never_overwrites_a_newer_one():
    world = World()
    first, _ = invoices.draft_invoice(world.plans, world.subscriptions, world.usage, world.invoices, ADMIN, world.sid, invoices.DraftRequest(), now=NOW)
    newer, _ = invoices.draft_invoice(world.plans, world.subscriptions, world.usage, world.invoices, ADMIN, world.sid, invoices.DraftRequest(), now=NOW + timedelta(minutes=1))
    with pytest.raises(Exception) as raised:
        world.invoices.save_draft(first.model_copy(update={"updated_at": NOW + timedelta(minutes=2)}), first)  # built on the older read
    assert type(raised.value).__name__ == "RetryableConflict"
    assert world.invoices.get(world.sid, first.invoice_id) == newer


def test_out_of_range_inputs_are_refused_not_crashes():
    with pytest.raises(ValidationError):
        UsageRequest(organization_id="o", service="s", quantity=1, idempotency_key="k", metadata={"n": 10**40})
    with pytest.raises(ValidationError):
        PlanTerms.model_validate(lab_standard_terms().model_dump() | {"features": [{"key": "seats", "label": "Seats", "included": True, "limit": 10**40}]})
    with pytest.raises(ValidationFailed):
        price(Decimal("99999999999"), UsageRate(unit="run", credits_per_unit=Decimal("99999999999")))
    started = time.perf_counter()
    with pytest.raises(ValueError):
        to_cents(Decimal("1E+1000000"))
    assert time.perf_counter() - started < 0.1
    world = World()
    for far in (datetime(9999, 12, 31, tzinfo=timezone.utc), datetime(1, 1, 1, tzinfo=timezone.utc)):
        with pytest.raises(ValidationFailed):
            usage.usage_summary(world.subscriptions, world.usage, ADMIN, world.sid, period_start=far)


def test_a_batch_with_many_distinct_flags_splits_so_each_update_expression_stays_small():
    world = World()
    events = [{"organization_id": "org-1", "service": "instrumentation", "quantity": 1, "idempotency_key": f"f{i}",
               "guardrail": {"flags": [f"flag-{i}-{j}" for j in range(5)]}} for i in range(97)]  # 485 distinct flags
    report = usage.record_usage_batch(world.plans, world.subscriptions, world.usage, world.invoices, SERVICE, events, now=NOW, pause=no_pause)
    assert all(r["status"] == "accepted" for r in report.results)
    chunks = [e for e in world.ledger() if e.type == "usage"]
    assert len(chunks) >= 3  # 485 flag counters cannot share one expression
    summary = usage.usage_summary(world.subscriptions, world.usage, ADMIN, world.sid, period_start=None)
    assert len(summary.guardrail_flags) == 485 and summary.totals.events == 97
