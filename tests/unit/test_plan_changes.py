"""Plan changes (issue 23): a change now closes the period as a cancellation's final period is
closed and starts the next on the new version, in one transaction; at the period's end it waits for
the close; a preview runs the same code without the commit; every refusal writes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.credits import CreditBook, auto_top_up
from billing.domain.errors import Conflict, CreditLimitReached, UnknownService, ValidationFailed
from billing.domain.idempotency import IdempotencyKeyReused
from billing.domain.lab_standard import lab_standard_terms
from billing.domain.subscriptions import AutoTopUp
from billing.services import catalog, credits, holds, invoices, subscriptions, usage_reporting
from billing.services.credits import CreditChangeRequest
from billing.services.holds import HoldRequest, SettleRequest
from billing.services.invoices import DraftRequest
from billing.services.plan_changes import (
    PlanChangePreview,
    PlanChangeRequest,
    cancel_pending_plan_change,
    change_plan,
)
from billing.services.subscriptions import SettingsRequest
from tests.unit.world import ADMIN, NOW, SERVICE, World, no_pause

LAB_FEE, LAB_ALLOWANCE = 49_900, Decimal(1000)  # Lab Standard's (the world's plan "lab")
PRO_FEE, PRO_ALLOWANCE = 120_000, Decimal(3000)
SLA = {"accepted_by": "ada", "sla_version": "2"}


def publish(world: World, plan_id: str, **terms):
    return catalog.publish_plan(world.billing, plan_id, lab_standard_terms().model_copy(update=terms))


@pytest.fixture
def world() -> World:
    world = World()
    publish(world, "pro", base_fee_cents=PRO_FEE, credit_allowance=PRO_ALLOWANCE, billing_cadence="quarterly")
    publish(world, "lab-too", base_fee_cents=LAB_FEE + 100)  # same SLA as lab: no acceptance needed
    return world


def change(world: World, plan_id: str, effective: str = "now", key: str | None = None, **more):
    request = PlanChangeRequest.model_validate(
        {
            "plan_id": plan_id,
            "effective": effective,
            "idempotency_key": key or f"k-{plan_id}-{world.clock.now().isoformat()}",
        }
        | more
    )
    return change_plan(world.billing, ADMIN, world.sid, request, pause=no_pause)


def invoices_of(world: World):
    return sorted(world.invoices.page(world.sid, limit=200, cursor=None).items, key=lambda i: i.period_start)


def written(world: World):
    """Everything a write could leave behind: the subscription, its ledger, its invoices, the outbox."""
    return (
        world.subscriptions.get(world.sid),
        len(world.ledger()),
        invoices_of(world),
        len(world.subscriptions.outbox),
    )


def base_fee(invoice) -> int:
    return next(line.amount_cents for line in invoice.line_items if line.kind == "base_fee")


def test_a_change_now_bills_the_short_period_and_starts_the_new_plan_in_one_write(world):
    world.record("u1", 20, now=NOW + timedelta(days=10))  # 100 of 1000 allowance credits
    changed_at = NOW + timedelta(days=15)
    world.at(changed_at)
    sub, replayed = change(world, "pro", sla_acceptance=SLA)

    assert not replayed and (sub.plan_id, sub.plan_version, sub.billing_cadence) == ("pro", 1, "quarterly")
    assert (sub.current_period_start, sub.current_period_end) == (changed_at, changed_at + timedelta(days=90))
    assert sub.allowance_balance == PRO_ALLOWANCE and sub.sla_acceptance.sla_version == "2"
    [closed] = invoices_of(world)  # drafted at once, billed until the change
    assert (closed.period_start, closed.period_end, closed.plan_id) == (NOW, changed_at, "lab")
    days = Decimal((changed_at - NOW).total_seconds()) / Decimal((NOW.replace(month=12) - NOW).total_seconds())
    assert base_fee(closed) == int((LAB_FEE * days).quantize(Decimal(1)))  # time (50%) beats allowance (10%)
    entries = world.ledger()
    assert [e.type for e in entries[-2:]] == ["expiry", "grant"] and entries[-2].amount == -900
    [event] = [e for e in world.subscriptions.outbox if e.detail_type == "SubscriptionPlanChanged"]
    assert event.detail["previous_plan"] == {"plan_id": "lab", "plan_version": 1}
    assert event.detail["subscription"]["plan_id"] == "pro"


def test_switching_back_and_forth_using_the_whole_allowance_bills_every_base_fee_in_full(world):
    """A→B→A→B, each short period's allowance used up: three closed short periods, three whole fees."""
    fees = {"lab": LAB_FEE, "lab-too": LAB_FEE + 100}
    plans = ["lab-too", "lab", "lab-too"]
    for day, target in enumerate(plans, start=1):
        world.record(f"all-{day}", 200, now=NOW + timedelta(days=day))  # 1000 credits: the whole allowance
        change(world, target)
    closed = invoices_of(world)
    assert [base_fee(i) for i in closed] == [fees[i.plan_id] for i in closed] == [LAB_FEE, LAB_FEE + 100, LAB_FEE]
    assert all(i.period_end - i.period_start == timedelta(days=1) for i in closed)  # each a day long


def test_a_short_period_bills_at_least_its_used_share_of_the_base_fee(world):
    world.record("some", 60, now=NOW + timedelta(hours=2))  # 300 credits: 30% of the allowance in 2 hours
    change(world, "lab-too")
    [closed] = invoices_of(world)
    assert base_fee(closed) == LAB_FEE * 30 // 100


def test_a_preview_is_the_change_to_the_cent_and_writes_nothing(world):
    world.record("u1", 250, now=NOW + timedelta(days=3))  # 1250 credits: 250 of them overage
    world.at(NOW + timedelta(days=4))
    before = written(world)
    preview, replayed = change(world, "pro", key="same", preview=True, sla_acceptance=SLA)
    assert isinstance(preview, PlanChangePreview) and not replayed
    assert written(world) == before

    change(world, "pro", key="same", sla_acceptance=SLA)  # the preview recorded no key: this is a first
    [drafted] = invoices_of(world)
    assert preview.closing_invoice.model_dump(exclude={"bill_to", "issuer"}) == drafted.model_dump(
        exclude={"bill_to", "issuer"}
    )
    sub = world.subscriptions.get(world.sid)
    assert (preview.next_period.period_start, preview.next_period.period_end) == (
        sub.current_period_start,
        sub.current_period_end,
    )
    assert preview.next_period.credit_allowance == sub.allowance_balance == PRO_ALLOWANCE


def test_the_upcoming_invoice_before_a_change_now_is_its_closing_invoice(world):
    world.record("u1", 30, now=NOW + timedelta(days=6))
    upcoming = invoices.upcoming_invoice(world.billing, ADMIN, world.sid, cancel_now=True)
    preview, _ = change(world, "lab-too", preview=True)
    assert upcoming.total_cents == preview.closing_invoice.total_cents > 0
    amounts = [(line.kind, line.quantity, line.amount_cents) for line in upcoming.line_items]
    assert amounts == [(line.kind, line.quantity, line.amount_cents) for line in preview.closing_invoice.line_items]


def test_the_final_invoice_is_upcoming_after_a_cancellation_until_its_close_drafts_it(world):
    world.record("u1", 30, now=NOW + timedelta(days=6))
    expected = invoices.upcoming_invoice(world.billing, ADMIN, world.sid, cancel_now=True)
    subscriptions.cancel_subscription(world.billing, ADMIN, world.sid, pause=no_pause)
    world.at(NOW + timedelta(days=7))  # the final period has ended; no close has drafted it yet
    for cancel_now in (False, True):
        upcoming = invoices.upcoming_invoice(world.billing, ADMIN, world.sid, cancel_now=cancel_now)
        assert (upcoming.period_end, upcoming.total_cents) == (expected.period_end, expected.total_cents)
        assert upcoming.line_items == expected.line_items
    world.invoicing_run(world.clock.now())
    with pytest.raises(Conflict) as nothing:
        invoices.upcoming_invoice(world.billing, ADMIN, world.sid, cancel_now=False)
    assert nothing.value.code == "no_active_subscription"


def test_the_same_key_replays_the_first_answer_before_any_state_check(world):
    world.at(NOW + timedelta(days=2))
    first, _ = change(world, "lab-too", key="once")
    before = written(world)
    again, replayed = change(world, "lab-too", key="once")  # its target is now current: still a replay
    assert replayed and again.model_dump() == first.model_dump() and written(world) == before
    with pytest.raises(IdempotencyKeyReused):
        change(world, "pro", key="once", sla_acceptance=SLA)


def canceled_and_closed(world: World) -> None:
    """Canceled, and its final period closed (any change closes an ended period first: not its own write)."""
    subscriptions.cancel_subscription(world.billing, ADMIN, world.sid, pause=no_pause)
    world.invoicing_run(world.clock.now())


@pytest.mark.parametrize(
    ("prepare", "plan_id", "more", "code"),
    [
        (lambda w: None, "lab", {}, "plan_unchanged"),
        (lambda w: catalog.archive_plan(w.billing, "lab-too"), "lab-too", {}, "plan_archived"),
        (lambda w: publish(w, "euro", currency="EUR"), "euro", {}, "currency_mismatch"),
        (lambda w: None, "pro", {}, "validation_error"),  # another SLA tier's terms, without acceptance
        (canceled_and_closed, "lab-too", {}, "no_active_subscription"),
        (lambda w: w.at(NOW), "lab-too", {}, "period_open"),  # the period's first second
    ],
)
@pytest.mark.parametrize("effective", ["now", "period_end"])
def test_every_refusal_writes_nothing(world, prepare, plan_id, more, code, effective):
    publish(world, "pro-sla", sla={**lab_standard_terms().sla.model_dump(), "tier": "premium"})
    plan_id = "pro-sla" if code == "validation_error" else plan_id
    world.at(NOW + (timedelta(0) if code == "period_open" else timedelta(days=1)))
    prepare(world)
    before = written(world)
    if code == "period_open" and effective == "period_end":
        change(world, plan_id, effective)  # waiting for the period's end is never too early
        return
    with pytest.raises((Conflict, ValidationFailed)) as refused:
        change(world, plan_id, effective, **more)
    assert refused.value.code == code
    if code == "validation_error":
        assert [f["field"] for f in refused.value.fields] == ["sla_acceptance"]
    assert written(world) == before


def test_a_change_at_period_end_waits_for_the_close_then_bills_the_period_whole(world):
    world.at(NOW + timedelta(days=5))
    pending, _ = change(world, "pro", "period_end", sla_acceptance=SLA)
    period_end = NOW.replace(month=12)
    assert pending.pending_plan_change.model_dump() == {"plan_id": "pro", "plan_version": 1, "effective_at": period_end}
    assert pending.plan_id == "lab" and pending.due_at == period_end  # due at its period end like any other
    assert not [e for e in world.subscriptions.outbox if e.detail_type == "SubscriptionPlanChanged"]

    world.at(period_end)
    _, closed = world.invoicing_run(period_end)
    assert closed.periods_closed == 1
    sub = world.subscriptions.get(world.sid)
    assert (sub.plan_id, sub.billing_cadence, sub.current_period_start) == ("pro", "quarterly", period_end)
    assert sub.current_period_end == period_end.replace(month=3, year=2027)
    assert sub.pending_plan_change is None and sub.allowance_balance == PRO_ALLOWANCE
    assert sub.sla_acceptance.sla_version == "2"
    [bill] = invoices_of(world)
    assert base_fee(bill) == LAB_FEE and bill.period_end == period_end
    assert [e.detail_type for e in world.subscriptions.outbox].count("SubscriptionPlanChanged") == 1


def test_a_pending_change_is_dropped_by_delete_and_by_a_cancellation(world):
    world.at(NOW + timedelta(days=1))
    with pytest.raises(Conflict) as none:
        cancel_pending_plan_change(world.billing, ADMIN, world.sid, pause=no_pause)
    assert none.value.code == "no_pending_plan_change"
    change(world, "lab-too", "period_end")
    dropped = cancel_pending_plan_change(world.billing, ADMIN, world.sid, pause=no_pause)
    assert dropped.pending_plan_change is None and world.subscriptions.get(world.sid).pending_plan_change is None

    change(world, "lab-too", "period_end", key="again")
    canceled = subscriptions.cancel_subscription(world.billing, ADMIN, world.sid, pause=no_pause)
    assert canceled.pending_plan_change is None
    world.invoicing_run(world.at(NOW.replace(month=12)).clock.now())
    assert world.subscriptions.get(world.sid).plan_id == "lab"


def test_a_cancellation_after_the_period_ended_bills_what_followed_on_the_pending_plan(world):
    """The change took effect at the period's end, before the cancellation: the days between are
    the new plan's, even when no write closed the period in between."""
    world.at(NOW + timedelta(days=1))
    change(world, "lab-too", "period_end")
    period_end = NOW.replace(month=12)
    world.at(period_end + timedelta(days=3))
    subscriptions.cancel_subscription(world.billing, ADMIN, world.sid, pause=no_pause)
    world.invoicing_run(world.clock.now())
    sub = world.subscriptions.get(world.sid)
    assert (sub.status, sub.plan_id, sub.current_period_start) == ("canceled", "lab-too", period_end)
    whole, short = invoices_of(world)
    assert (base_fee(whole), whole.period_end) == (LAB_FEE, period_end)
    assert short.period_start == period_end and 0 < base_fee(short) < LAB_FEE + 100
    assert base_fee(short) == round((LAB_FEE + 100) * 3 / 31)  # 3 of December's 31 days, new plan's fee


def test_every_earlier_period_stays_findable_after_changes(world):
    world.record("a", 10, now=NOW + timedelta(days=2))
    change(world, "pro", sla_acceptance=SLA)
    world.record("b", 10, now=NOW + timedelta(days=4))
    sub, _ = change(world, "lab", sla_acceptance=SLA)
    world.record("c", 10, now=NOW + timedelta(days=5))
    periods = usage_reporting.list_periods(world.billing, ADMIN, world.sid, limit=10, cursor=None).items
    assert [(p.period_start, p.period_end, p.status) for p in periods] == [
        (NOW + timedelta(days=4), NOW.replace(month=12) + timedelta(days=4), "open"),
        (NOW + timedelta(days=2), NOW + timedelta(days=4), "closed"),
        (NOW, NOW + timedelta(days=2), "closed"),
    ]
    assert [p.usage_credits for p in periods] == [50, 50, 50] and all(p.invoice_id for p in periods[1:])
    paged = usage_reporting.list_periods(world.billing, ADMIN, world.sid, limit=1, cursor=None)
    second = usage_reporting.list_periods(world.billing, ADMIN, world.sid, limit=5, cursor=paged.next_cursor).items
    assert [p.period_start for p in second] == [p.period_start for p in periods[1:]]
    summary = usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=NOW + timedelta(days=2))
    assert summary.totals.credits == 50
    redrafted, created = invoices.draft_invoice(
        world.billing, ADMIN, world.sid, DraftRequest(period_start=NOW + timedelta(days=2)), pause=no_pause
    )
    assert not created and redrafted.plan_id == "pro" and redrafted.period_end == NOW + timedelta(days=4)
    days = usage_reporting.daily_usage(world.billing, ADMIN, world.sid, start=NOW, end=NOW + timedelta(days=6))
    assert [d.day for d in days] == [(NOW + timedelta(days=n)).date().isoformat() for n in (2, 4, 5)]


def test_purchased_credits_and_holds_carry_over_and_a_hold_settles_at_the_rates_it_was_placed_under(world):
    world.at(NOW + timedelta(days=1))
    top_up = CreditChangeRequest(type="top_up", amount=Decimal(40), reason="pack", idempotency_key="t1")
    credits.change_credits(world.billing, ADMIN, world.sid, top_up, pause=no_pause)
    hold_request = HoldRequest.model_validate(
        {
            "organization_id": "org-1",
            "service": "instrumentation",
            "quantity": 2,
            "idempotency_key": "h1",
            "expires_in_seconds": 604_800,
        }
    )
    hold, _ = holds.place_hold(world.billing, SERVICE, hold_request, pause=no_pause)
    assert hold.credits == 10  # 5 credits a run on lab
    rates = {"instrumentation": {"unit": "run", "credits_per_unit": Decimal(7)}}
    publish(world, "dear", usage_rates=rates)
    world.at(NOW + timedelta(days=2))
    sub, _ = change(world, "dear")
    assert sub.purchased_balance == 40 and sub.held_credits == 10 and [h.hold_id for h in sub.holds] == [hold.hold_id]
    settle = SettleRequest(idempotency_key="s1")
    event, _ = holds.settle_hold(world.billing, SERVICE, hold.hold_id, settle, pause=no_pause)
    assert event.credits == 10  # lab's rate, not dear's 14
    assert world.record("after", 2)[0].credits == 14  # new usage is on the new version


def test_a_concurrent_change_with_another_key_meets_the_state_the_first_left(world):
    """Two changes to the same plan under different keys: one applies, the other is 409
    plan_unchanged; to another plan, it applies on top (from the next second on)."""
    world.at(NOW + timedelta(days=1))
    change(world, "lab-too", key="first")
    with pytest.raises(Conflict) as second:
        change(world, "lab-too", key="second")
    assert second.value.code == "plan_unchanged"
    with pytest.raises(Conflict) as same_second:
        change(world, "lab", key="third")
    assert same_second.value.code == "period_open"
    world.at(NOW + timedelta(days=1, seconds=1))
    on_top, _ = change(world, "lab", key="third")
    assert on_top.plan_id == "lab" and len(invoices_of(world)) == 2


def test_usage_the_new_version_has_no_rate_for_is_refused_once_the_close_applied_the_change(world):
    rates = {"planner": {"unit": "finalization", "credits_per_unit": Decimal(2)}}
    publish(world, "planner-only", usage_rates=rates)
    world.at(NOW + timedelta(days=1))
    change(world, "planner-only", "period_end")
    with pytest.raises(UnknownService):  # the close (not the usage's write) moved it to the new version
        world.record("late", 1, now=NOW.replace(month=12) + timedelta(hours=1))
    assert world.subscriptions.get(world.sid).plan_id == "planner-only"


# --- what a change may leave behind (review of issue 23) ------------------------------------------


def hold_for(world: World, runs: int, key: str, seconds: int = 604_800):
    """A hold of `runs` instrumentation runs (5 credits each on lab)."""
    request = HoldRequest.model_validate(
        {
            "organization_id": "org-1",
            "service": "instrumentation",
            "quantity": runs,
            "idempotency_key": key,
            "expires_in_seconds": seconds,
        }
    )
    return holds.place_hold(world.billing, SERVICE, request, pause=no_pause)[0]


def top_up(world: World, amount, key: str, price_cents: int | None = None):
    request = CreditChangeRequest(
        type="top_up", amount=Decimal(amount), reason="pack", idempotency_key=key, price_cents=price_cents
    )
    return credits.change_credits(world.billing, ADMIN, world.sid, request, pause=no_pause)


@pytest.fixture
def block_world() -> World:
    """On a `block` plan with lab's allowance (1000), and a `block` plan granting 100 to move to."""
    world = World(overage_policy="block")
    publish(world, "small-block", overage_policy="block", credit_allowance=Decimal(100), base_fee_cents=1000)
    return world


@pytest.mark.parametrize("effective", ["now", "period_end"])
@pytest.mark.parametrize("preview", [False, True])
def test_a_change_to_a_block_plan_that_would_not_cover_the_holds_is_402_and_writes_nothing(
    block_world, effective, preview
):
    world = block_world
    period_end = NOW.replace(month=12)
    world.at(period_end - timedelta(days=2))
    hold = hold_for(world, 180, "big")  # 900 credits, beyond the period's end
    before = written(world)
    with pytest.raises(CreditLimitReached) as refused:
        change(world, "small-block", effective, preview=preview)
    assert refused.value.code == "insufficient_credits"  # 402 (CreditLimitReached)
    assert (refused.value.details["credit_balance"], refused.value.details["held_credits"]) == ("100", "900")
    assert "settle or release holds first" in refused.value.message
    assert written(world) == before

    holds.release_hold(world.billing, SERVICE, hold.hold_id, pause=no_pause)
    hold_for(world, 20, "fits")  # 100 credits: what the new plan grants covers them
    changed, _ = change(world, "small-block", effective, preview=preview)
    assert changed is not None


def test_a_hold_placed_while_a_change_to_a_block_plan_is_pending_counts_only_its_allowance(block_world):
    world = block_world
    period_end = NOW.replace(month=12)
    world.at(period_end - timedelta(days=2))
    change(world, "small-block", "period_end")
    with pytest.raises(CreditLimitReached):
        hold_for(world, 180, "beyond-the-end")  # 900 credits outliving the period: the next grants 100
    hold_for(world, 20, "covered")  # 100 credits beyond the end: covered by the new allowance
    hold_for(world, 180, "within", seconds=3600)  # 900 ending before the period does: the allowance counts
    world.at(period_end)
    world.invoicing_run(period_end)
    sub = world.subscriptions.get(world.sid)
    assert sub.plan_id == "small-block" and sub.held_credits == 100 and sub.available_credits >= 0


def test_a_change_to_an_allowance_the_balance_cannot_hold_is_422_and_writes_nothing(world):
    publish(world, "huge", credit_allowance=Decimal("999999999999"))
    world.at(NOW + timedelta(days=1))
    top_up(world, "500000000000", "big", price_cents=1)
    before = written(world)
    for effective, preview in [("now", False), ("now", True), ("period_end", False), ("period_end", True)]:
        with pytest.raises(ValidationFailed) as refused:
            change(world, "huge", effective, preview=preview)
        assert [f["field"] for f in refused.value.fields] == ["plan_id"] and "10^12" in refused.value.message
    assert written(world) == before


def test_the_close_grants_a_pending_plans_allowance_only_as_far_as_the_balance_can_hold_it(world):
    publish(world, "large", credit_allowance=Decimal("600000000000"))
    world.at(NOW + timedelta(days=1))
    change(world, "large", "period_end")  # fits: 1000 allowance and nothing else held
    top_up(world, "500000000000", "after-scheduling", price_cents=1)  # fits lab's allowance, not large's
    period_end = NOW.replace(month=12)
    world.at(period_end)
    _, closed = world.invoicing_run(period_end)
    sub = world.subscriptions.get(world.sid)
    assert closed.periods_closed == 1 and sub.plan_id == "large"
    assert sub.credit_balance < Decimal(10) ** 12 <= sub.purchased_balance + Decimal("600000000000")
    assert sub.allowance_balance == Decimal(10) ** 12 - Decimal("0.000001") - sub.purchased_balance


def test_a_change_to_a_version_that_cannot_price_the_auto_top_up_is_422(world):
    settings = SettingsRequest.model_validate(
        {"auto_top_up": {"enabled": True, "threshold_credits": 10, "amount": 9000, "max_per_period": 1}}
    )
    subscriptions.change_settings(world.billing, ADMIN, world.sid, settings, pause=no_pause)
    publish(world, "dear-credits", credit_price_cents=Decimal("900000000000"))
    publish(world, "no-credits", credit_price_cents=None)
    world.at(NOW + timedelta(days=1))
    before = written(world)
    for plan_id in ("dear-credits", "no-credits"):
        for effective in ("now", "period_end"):
            with pytest.raises(ValidationFailed) as refused:
                change(world, plan_id, effective)
            assert [f["field"] for f in refused.value.fields] == ["plan_id"]
            assert "auto_top_up" in refused.value.message
    assert written(world) == before


def test_no_auto_top_up_is_added_priced_beyond_what_an_invoice_holds(world):
    """Settings stored before a check existed: the domain itself adds no such top-up."""
    dear = publish(world, "dear-credits", credit_price_cents=Decimal("900000000000"))
    sub = world.subscriptions.get(world.sid).model_copy(
        update={"auto_top_up": AutoTopUp(enabled=True, threshold_credits=10, amount=9000, max_per_period=1)}
    )
    book = CreditBook.open(sub, NOW, "test")
    book.draw(book.balance)  # under the threshold
    assert auto_top_up(sub, dear, book) is None
    assert auto_top_up(sub, world.plans.version("lab", 1), book) is not None  # 9000 × 10 cents is fine


def test_a_same_tier_sla_on_new_terms_asks_for_acceptance_in_words_a_client_reads(world):
    terms = lab_standard_terms().sla.model_dump() | {"uptime_percent": Decimal("99.5")}
    publish(world, "new-terms", sla=terms)
    world.at(NOW + timedelta(days=1))
    with pytest.raises(ValidationFailed) as refused:
        change(world, "new-terms")
    message = refused.value.fields[0]["message"]
    assert "different terms" in message and "tier standard than" not in message


def test_a_hold_from_an_earlier_plan_version_settles_at_most_its_held_quantity_at_its_rates(world):
    world.at(NOW + timedelta(days=1))
    hold = hold_for(world, 2, "h1")  # 10 credits at lab's 5 a run
    publish(world, "planner-only", usage_rates={"planner": {"unit": "finalization", "credits_per_unit": Decimal(9)}})
    world.at(NOW + timedelta(days=2))
    change(world, "planner-only")
    before = written(world)
    with pytest.raises(ValidationFailed) as refused:
        holds.settle_hold(world.billing, SERVICE, hold.hold_id, SettleRequest(idempotency_key="more", quantity=3))
    assert [f["field"] for f in refused.value.fields] == ["quantity"] and "changed plan" in refused.value.message
    assert written(world) == before and world.subscriptions.get(world.sid).held_credits == 10  # still held

    event, _ = holds.settle_hold(world.billing, SERVICE, hold.hold_id, SettleRequest(idempotency_key="held"))
    assert (event.quantity, event.credits) == (2, 10)  # the service the new version lacks, at lab's rate


def test_the_usage_summary_of_a_period_cut_short_ends_where_its_billing_did(world):
    world.record("a", 10, now=NOW + timedelta(days=2))
    changed_at = NOW + timedelta(days=3)
    world.at(changed_at)
    change(world, "lab-too")
    summary = usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=NOW)
    [period] = [
        p
        for p in usage_reporting.list_periods(world.billing, ADMIN, world.sid, limit=5, cursor=None).items
        if p.period_start == NOW
    ]
    assert summary.period_end == period.period_end == changed_at


def test_on_an_allow_plan_a_hold_outliving_a_pending_change_to_a_block_plan_must_be_covered_by_it(world):
    publish(world, "small-block", overage_policy="block", credit_allowance=Decimal(100), base_fee_cents=1000)
    period_end = NOW.replace(month=12)
    world.at(period_end - timedelta(days=2))
    change(world, "small-block", "period_end")
    with pytest.raises(CreditLimitReached):
        hold_for(world, 180, "beyond-the-end")  # lab allows overage; small-block would not cover 900
    hold_for(world, 20, "covered")
    hold_for(world, 500, "within", seconds=3600)  # 2500 credits ending before the change: lab's overage
    world.at(period_end)
    world.invoicing_run(period_end)
    sub = world.subscriptions.get(world.sid)
    assert sub.plan_id == "small-block" and sub.held_credits == 100 and sub.available_credits >= 0
