"""Usage corrections on an in-memory deployment: a void gives each grant back exactly what it paid
(a share of an ended grant ends again at once), the event leaves every aggregate and its period's
draft; an amend is a void and a new event in one write."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.access import Caller
from billing.domain.errors import CreditLimitReached, Forbidden, NotFound
from billing.domain.lab_standard import lab_standard_terms
from billing.domain.ledger import GrantAllocation, LedgerEntry, shares_of
from billing.domain.usage import UsageFilters, UsageRequest
from billing.services import catalog, credits, invoices, subscriptions, usage, usage_corrections, usage_reporting
from billing.services.credits import CreditChangeRequest
from billing.services.plan_changes import PlanChangeRequest, change_plan
from billing.services.usage_corrections import (
    AmendUsageRequest,
    EventVoided,
    PeriodInvoiced,
    VoidUsageRequest,
)

from .world import ADMIN, NOW, SERVICE, World, no_pause

FINANCE = Caller("fin", frozenset({"finance"}), None, "us")


def void(world, event, key="v1", reason="wrong run", caller=SERVICE):
    found = usage_corrections.correctable_event(world.billing, caller, event.event_id)
    return usage_corrections.void_usage(
        world.billing, caller, found, VoidUsageRequest(reason=reason, idempotency_key=key), pause=no_pause
    )


def amend(world, event, quantity, key="a1", caller=SERVICE):
    found = usage_corrections.correctable_event(world.billing, caller, event.event_id)
    request = AmendUsageRequest(quantity=Decimal(quantity), reason="mis-sized", idempotency_key=key)
    return usage_corrections.amend_usage(world.billing, caller, found, request, pause=no_pause)


def top_up(world, amount, key):
    request = CreditChangeRequest(type="top_up", amount=Decimal(amount), reason="pack", idempotency_key=key)
    credits.change_credits(world.billing, ADMIN, world.sid, request, pause=no_pause)


def balance(world):
    return world.subscriptions.get(world.sid).credit_balance


def assert_ledger_adds_up(world):
    entries = world.ledger()
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert sum(e.amount for e in entries) == entries[-1].balance_after == balance(world)
    subscription = world.subscriptions.get(world.sid)
    assert sum(g.remaining for g in subscription.grants) == subscription.credit_balance


def test_an_event_s_shares_are_its_slice_of_the_chunk_allocation():
    entry = LedgerEntry(
        subscription_id="s",
        seq=3,
        entry_id="e",
        type="usage",
        amount=Decimal("-30"),
        bucket="allowance",
        balance_after=Decimal("70"),
        reference="r",
        actor="a",
        reason="r",
        created_at=NOW,
        allocation=[
            GrantAllocation(grant_id="a", amount=Decimal("-12")),
            GrantAllocation(grant_id="b", amount=Decimal("-18")),
        ],
    )
    # The chunk started at 100; the second event drew 10 from 90 down to 80, across a and b.
    assert shares_of(entry, Decimal("80"), Decimal("10")) == [
        GrantAllocation(grant_id="a", amount=Decimal("2")),
        GrantAllocation(grant_id="b", amount=Decimal("8")),
    ]


def test_a_void_gives_each_grant_back_what_the_event_paid_and_the_event_leaves_the_aggregates():
    world = World(credit_allowance=Decimal("10"))
    top_up(world, "100", "t1")
    kept, _ = world.record("k1", 1)  # 5 credits from the allowance
    wrong, _ = world.record("k2", 3)  # 5 from the allowance, 10 purchased
    voided, replayed = void(world, wrong)
    assert not replayed and voided.status == "voided" and voided.void_reason == "wrong run"
    reversal = world.ledger()[-1]
    assert reversal.type == "reversal" and reversal.amount == Decimal("15")
    assert sorted(a.amount for a in reversal.allocation) == [Decimal("5"), Decimal("10")]
    assert balance(world) == Decimal("105")
    summary = usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=None)
    assert summary.totals.events == 1 and summary.totals.credits == kept.credits
    assert_ledger_adds_up(world)
    [outboxed] = [e for e in world.subscriptions.outbox if e.detail_type == "UsageVoided"]
    assert outboxed.detail["usage_event"]["event_id"] == wrong.event_id


def test_voiding_again_or_under_another_key_changes_nothing_and_the_same_key_replays():
    world = World()
    event, _ = world.record("k1", 2)
    void(world, event, key="v1")
    entries = len(world.ledger())
    again, replayed = void(world, event, key="v1")
    assert replayed and again.status == "voided"
    other, replayed = void(world, event, key="v2")
    assert not replayed and other.status == "voided" and len(world.ledger()) == entries


def test_a_share_of_a_grant_ended_since_is_given_back_and_ended_again_across_a_period_close():
    world = World(credit_allowance=Decimal("100"))
    event, _ = world.record("k1", 4)  # 20 credits of this period's allowance
    allowance_id = world.ledger()[-1].grant_id
    period_end = world.subscription.current_period_end
    world.at(period_end + timedelta(hours=1))
    world.invoicing_run(period_end + timedelta(hours=1))  # closes: the allowance's 80 expire, a draft is made
    draft = world.invoices.latest_for_period(world.sid, event.period_start)
    assert draft.status == "draft" and balance(world) == Decimal("100")
    world.at(period_end + timedelta(hours=2))
    void(world, event)
    reversal, expiry = world.ledger()[-2:]
    assert (reversal.type, reversal.amount) == ("reversal", Decimal("20"))
    assert (expiry.type, expiry.amount, expiry.grant_id) == ("expiry", Decimal("-20"), allowance_id)
    assert balance(world) == Decimal("100")  # nothing ended became spendable
    ended = world.subscriptions.grant(world.subscriptions.get(world.sid), allowance_id)
    assert ended.status == "expired" and ended.ended_amount == Decimal("100")
    redrafted = world.invoices.latest_for_period(world.sid, event.period_start)
    assert redrafted.invoice_id == draft.invoice_id and redrafted.updated_at > draft.updated_at
    assert_ledger_adds_up(world)


def test_a_closed_period_s_draft_loses_the_voided_overage_and_its_depleted_allowance_ends_again():
    world = World(credit_allowance=Decimal("10"))
    event, _ = world.record("k1", 4)  # 20 credits: the whole allowance and 10 of overage
    allowance_id = world.ledger()[-1].grant_id
    period_end = world.subscription.current_period_end
    world.invoicing_run(world.at(period_end + timedelta(hours=1)).clock.now())
    draft = world.invoices.latest_for_period(world.sid, event.period_start)
    assert [line.kind for line in draft.line_items] == ["base_fee", "overage"]
    void(world, event)
    redrafted = world.invoices.latest_for_period(world.sid, event.period_start)
    assert [line.kind for line in redrafted.line_items] == ["base_fee"]
    ended = world.subscriptions.grant(world.subscriptions.get(world.sid), allowance_id)
    assert (ended.status, ended.ended_amount, ended.remaining) == ("expired", Decimal("10"), Decimal("0"))
    periods = usage_reporting.list_periods(world.billing, ADMIN, world.sid, limit=5, cursor=None).items
    assert periods[-1].overage_credits == 0 and periods[-1].usage_credits == 0
    assert_ledger_adds_up(world)


def test_a_depleted_grant_still_in_effect_is_active_again_with_its_share():
    world = World(credit_allowance=Decimal("10"))
    event, _ = world.record("k1", 2)  # the whole allowance
    assert world.subscriptions.get(world.sid).grants == ()
    void(world, event)
    [back] = world.subscriptions.get(world.sid).grants
    assert back.remaining == Decimal("10")
    assert world.subscriptions.grant(world.subscriptions.get(world.sid), back.grant_id).status == "active"
    assert_ledger_adds_up(world)


def test_an_event_of_an_invoiced_period_is_corrected_with_a_credit_note_instead():
    world = World()
    event, _ = world.record("k1", 1)
    period_end = world.subscription.current_period_end
    world.invoicing_run(world.at(period_end + timedelta(hours=1)).clock.now())
    draft = world.invoices.latest_for_period(world.sid, event.period_start)
    issued = invoices.issue_invoice(world.billing, ADMIN, world.sid, draft.invoice_id)
    with pytest.raises(PeriodInvoiced) as refused:
        void(world, event)
    assert refused.value.details == {"invoice_id": issued.invoice_id, "number": issued.number}


def test_an_amend_voids_the_event_and_records_its_replacement_in_one_write():
    world = World(credit_allowance=Decimal("100"))
    event, _ = world.record("k1", 4)  # 20 credits
    new, replayed = amend(world, event, "2")
    assert not replayed and new.replaces == event.event_id and new.credits == Decimal("10")
    old = world.usage.event(event.event_id)
    assert old.status == "voided" and old.replaced_by == new.event_id
    assert balance(world) == Decimal("90")
    summary = usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=None)
    assert summary.totals.events == 1 and summary.totals.credits == Decimal("10")
    listed = world.usage.events_page(world.sid, UsageFilters(status="voided"), limit=10, cursor=None).items
    assert [e.event_id for e in listed] == [event.event_id]
    with pytest.raises(EventVoided):
        amend(world, event, "3", key="a2")
    assert_ledger_adds_up(world)


def test_an_amend_a_block_plan_cannot_cover_is_refused_and_writes_nothing():
    world = World(credit_allowance=Decimal("10"), overage_policy="block")
    event, _ = world.record("k1", 1)
    entries = len(world.ledger())
    with pytest.raises(CreditLimitReached):
        amend(world, event, "3")  # 15 credits, 10 available once the 5 are back
    assert len(world.ledger()) == entries and world.usage.event(event.event_id).status == "recorded"


def test_organization_users_get_403_for_their_own_events_and_404_for_anyone_else_s():
    world = World()
    event, _ = world.record("k1", 1)
    member = Caller("m", frozenset({"org:admin"}), "org-1", "us")
    outsider = Caller("o", frozenset({"org:admin"}), "org-2", "us")
    with pytest.raises(Forbidden):
        usage_corrections.correctable_event(world.billing, member, event.event_id)
    with pytest.raises(NotFound) as other:
        usage_corrections.correctable_event(world.billing, outsider, event.event_id)
    with pytest.raises(NotFound) as unknown:
        usage_corrections.correctable_event(world.billing, outsider, "01NOSUCHEVENT")
    assert other.value.code == unknown.value.code
    far = Caller("f", frozenset({"finance"}), None, "eu")
    with pytest.raises(Forbidden) as residency:
        usage_corrections.correctable_event(world.billing, far, event.event_id)
    assert residency.value.code == "residency_mismatch"
    assert usage_corrections.correctable_event(world.billing, FINANCE, event.event_id).event_id == event.event_id


def test_the_daily_aggregate_is_the_day_the_event_occurred():
    world = World()
    earlier = NOW - timedelta(days=3)
    request = UsageRequest(
        organization_id="org-1", service="planner", quantity=1, idempotency_key="late", occurred_at=earlier
    )
    event, _ = usage.record_usage(world.billing, SERVICE, request, pause=no_pause)
    days = usage_reporting.daily_usage(world.billing, ADMIN, world.sid, start=None, end=None)
    assert [d.day for d in days] == [earlier.date().isoformat()]
    void(world, event)
    assert usage_reporting.daily_usage(world.billing, ADMIN, world.sid, start=None, end=None) == []


def test_an_issue_racing_the_void_makes_it_retry_and_find_the_period_invoiced(monkeypatch):
    """The void read the period's draft; the invoice is issued before it commits: the draft's
    condition refuses the whole write, and the retry answers 409 `period_invoiced`."""
    world = World(credit_allowance=Decimal("10"))
    event, _ = world.record("k1", 4)
    period_end = world.subscription.current_period_end
    world.invoicing_run(world.at(period_end + timedelta(hours=1)).clock.now())
    draft = world.invoices.latest_for_period(world.sid, event.period_start)
    entries = len(world.ledger())
    reads = iter([draft])  # the first attempt reads the draft, as it was before the issue

    def as_read(subscription_id, period_start):
        stale = next(reads, None)
        return stale or world.invoices.__class__.latest_for_period(world.invoices, subscription_id, period_start)

    issued = invoices.issue_invoice(world.billing, ADMIN, world.sid, draft.invoice_id)
    monkeypatch.setattr(world.invoices, "latest_for_period", as_read)
    with pytest.raises(PeriodInvoiced):
        void(world, event)
    assert len(world.ledger()) == entries and world.usage.event(event.event_id).status == "recorded"
    assert world.invoices.get(world.sid, draft.invoice_id).line_items == issued.line_items


def period_totals(world, period_start):
    return usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=period_start).totals


def test_an_amend_of_a_closed_period_s_event_records_its_replacement_in_the_open_period():
    """Usage is billed in the period open when it is recorded: the new event draws the open
    period's credits and counts there, on the old event's day; the old period's draft loses the
    voided event."""
    world = World(credit_allowance=Decimal("10"))
    event, _ = world.record("k1", 4)  # 20 credits: the whole allowance and 10 of overage
    closed_start = event.period_start
    period_end = world.subscription.current_period_end
    world.invoicing_run(world.at(period_end + timedelta(hours=1)).clock.now())
    assert [line.kind for line in world.invoices.latest_for_period(world.sid, closed_start).line_items] == [
        "base_fee",
        "overage",
    ]
    new, _ = amend(world, event, "6")  # 30 credits
    open_start = world.subscriptions.get(world.sid).current_period_start
    assert new.period_start == open_start != closed_start and new.occurred_at == event.occurred_at
    assert (new.debited_credits, new.overage_credits) == (Decimal("10"), Decimal("20"))
    assert balance(world) == Decimal("0")
    assert [line.kind for line in world.invoices.latest_for_period(world.sid, closed_start).line_items] == ["base_fee"]
    closed, current = period_totals(world, closed_start), period_totals(world, open_start)
    assert (closed.events, closed.credits) == (0, Decimal("0"))
    assert (current.events, current.credits, current.overage_credits) == (1, Decimal("30"), Decimal("20"))
    days = usage_reporting.daily_usage(world.billing, ADMIN, world.sid, start=None, end=None)
    assert [d.day for d in days] == [event.occurred_at.date().isoformat()]
    assert_ledger_adds_up(world)


def test_an_amend_after_a_plan_change_now_is_priced_at_the_plan_the_open_period_is_on():
    world = World(credit_allowance=Decimal("1000"))
    rates = {"instrumentation": {"unit": "run", "credits_per_unit": Decimal("50")}}
    catalog.publish_plan(world.billing, "lab-pro", lab_standard_terms().model_copy(update={"usage_rates": rates}))
    event, _ = world.record("k1", 2)  # 10 credits at 5 a run
    world.at(NOW + timedelta(hours=1))
    request = PlanChangeRequest(plan_id="lab-pro", effective="now", idempotency_key="pc-1")
    change_plan(world.billing, ADMIN, world.sid, request, pause=no_pause)
    allowance = balance(world)
    new, _ = amend(world, event, "3")
    assert new.credits == Decimal("150") and new.period_start == world.subscriptions.get(world.sid).current_period_start
    assert balance(world) == allowance - Decimal("150")
    redrafted = world.invoices.latest_for_period(world.sid, event.period_start)
    assert redrafted.plan_id == "lab"
    assert period_totals(world, event.period_start).events == 0
    assert_ledger_adds_up(world)


def change_plan_now(world, key="pc-1"):
    catalog.publish_plan(world.billing, "lab-pro", lab_standard_terms().model_copy(update={"credit_allowance": 50}))
    request = PlanChangeRequest(plan_id="lab-pro", effective="now", idempotency_key=key)
    change_plan(world.billing, ADMIN, world.sid, request, pause=no_pause)


def cancel(world):
    subscriptions.cancel_subscription(world.billing, ADMIN, world.sid, pause=no_pause)


@pytest.mark.parametrize("cut_short", [change_plan_now, cancel], ids=["plan-change-now", "cancellation"])
def test_a_depleted_allowance_of_a_period_cut_short_ends_again_with_what_a_void_gives_back(cut_short):
    """The cut-short close ends the period's allowance though its expires_at is still ahead: the
    share given back to it must not make the closed period's allowance spendable again."""
    world = World(credit_allowance=Decimal("100"))
    event, _ = world.record("k1", 20)  # 100 credits: the whole allowance, depleted
    allowance_id = world.ledger()[-1].grant_id
    world.at(NOW + timedelta(seconds=60))
    cut_short(world)
    before = balance(world)
    world.at(NOW + timedelta(seconds=120))
    void(world, event)
    reversal, expiry = world.ledger()[-2:]
    assert (reversal.type, reversal.amount) == ("reversal", Decimal("100"))
    assert (expiry.type, expiry.amount, expiry.grant_id) == ("expiry", Decimal("-100"), allowance_id)
    assert balance(world) == before
    subscription = world.subscriptions.get(world.sid)
    assert allowance_id not in {g.grant_id for g in subscription.grants}
    ended = world.subscriptions.grant(subscription, allowance_id)
    assert (ended.status, ended.remaining, ended.ended_amount) == ("expired", Decimal("0"), Decimal("100"))
    assert_ledger_adds_up(world)


@pytest.mark.parametrize("cut_short", [change_plan_now, cancel], ids=["plan-change-now", "cancellation"])
def test_a_correction_redrafts_a_period_cut_short_with_the_allowance_it_gave_back(cut_short):
    """The prorated base fee counts the allowance used as the correction leaves it: the draft it
    writes is the one drafting the period afresh afterwards makes."""
    world = World(credit_allowance=Decimal("1000"))
    first, _ = world.record("k1", 60)  # 300 credits of the allowance
    world.record("k2", 60)
    world.at(NOW + timedelta(days=1))
    cut_short(world)
    world.invoicing_run(world.clock.now())  # the cancellation's final close (a change now closed already)
    before = world.invoices.latest_for_period(world.sid, first.period_start)
    void(world, first)
    corrected = world.invoices.latest_for_period(world.sid, first.period_start)
    afresh, _ = invoices.draft_invoice(
        world.billing, ADMIN, world.sid, invoices.DraftRequest(period_start=first.period_start), pause=no_pause
    )
    assert corrected.line_items[0].quantity < before.line_items[0].quantity
    assert corrected.line_items == afresh.line_items


def test_voiding_an_event_all_overage_writes_no_reversal_and_its_overage_leaves_the_period():
    world = World(credit_allowance=Decimal("10"))
    world.record("k1", 2)  # the whole allowance
    overage_only, _ = world.record("k2", 1)
    assert overage_only.debited_credits == 0 < overage_only.overage_credits
    entries = len(world.ledger())
    voided, _ = void(world, overage_only)
    assert voided.status == "voided" and len(world.ledger()) == entries
    assert period_totals(world, overage_only.period_start).overage_credits == 0
    assert_ledger_adds_up(world)
