"""Holds, entitlement checks and the settings around them, on the in-memory stores: the edges an
independent review found (each test failed before its fix)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.errors import CreditLimitReached, RetryableConflict, ValidationFailed
from billing.domain.subscriptions import AutoTopUp
from billing.services import credits, holds, subscriptions
from billing.services.credits import GrantRequest
from billing.services.holds import EntitlementRequest, HoldRequest
from billing.services.subscriptions import SettingsRequest

from .world import ADMIN, NOW, SERVICE, World, no_pause


def hold(world, runs, **fields):
    request = HoldRequest.model_validate(
        {"organization_id": "org-1", "service": "instrumentation", "quantity": runs, "idempotency_key": f"h{runs}"}
        | fields
    )
    return holds.place_hold(world.billing, SERVICE, request, pause=no_pause)[0]


def test_an_allow_plan_cannot_hold_more_than_a_balance_can_say():
    world = World(overage_policy="allow")
    hold(world, "150000000000")  # 7.5 x 10^11 credits at 5 a run
    with pytest.raises(ValidationFailed) as refused:
        hold(world, "150000000001")
    assert refused.value.fields[0]["field"] == "quantity"
    assert world.subscriptions.get(world.sid).held_credits == Decimal("750000000000")


def test_a_block_plan_hold_counts_only_credits_that_outlive_it():
    world = World(overage_policy="block", credit_allowance=Decimal(0))
    soon = NOW + timedelta(minutes=30)
    request = GrantRequest(amount=100, kind="promotional", expires_at=soon, reason="promo", idempotency_key="p")
    credits.create_grant(world.billing, ADMIN, world.sid, request, pause=no_pause)
    with pytest.raises(CreditLimitReached):
        hold(world, 20, expires_in_seconds=3600)  # the promotion ends before the hold would
    assert hold(world, 20, expires_in_seconds=600).credits == 100


def test_the_allowance_backs_a_hold_past_the_period_end_as_it_renews():
    world = World(overage_policy="block", credit_allowance=Decimal(100))
    world.at(world.subscription.current_period_end - timedelta(minutes=10))
    assert hold(world, 20, expires_in_seconds=3600).credits == 100


def test_an_entitlement_check_at_a_period_end_counts_holds_against_the_next_allowance():
    world = World(overage_policy="block", credit_allowance=Decimal(1000))
    world.at(world.subscription.current_period_end - timedelta(hours=1))
    hold(world, 200, expires_in_seconds=86_400)  # all 1000, held past the period's end
    world.at(world.subscription.current_period_end + timedelta(seconds=1))
    check = holds.check_entitlement(
        world.billing, SERVICE, EntitlementRequest(organization_id="org-1", service="instrumentation", quantity=1)
    )
    assert (check.allowed, check.available_credits) == (False, 0)


def test_a_small_dear_top_up_still_invoices_and_closes():
    world = World()
    request = GrantRequest(amount="0.5", kind="purchased", price_cents=999_999_999_999, reason="r", idempotency_key="k")
    credits.create_grant(world.billing, ADMIN, world.sid, request, pause=no_pause)
    world.at(world.subscription.current_period_end + timedelta(minutes=1))
    run, closed = world.invoicing_run(world.clock.now())  # a failing close would raise here
    assert run.subscriptions_due == 1 and closed.periods_closed == 1


def test_settings_are_refused_when_an_auto_top_up_would_cost_under_a_cent_or_over_the_invoice_range():
    world = World()  # Lab Standard sells credits at 10 cents
    for amount in ("0.04", "999999999999"):
        body = {"auto_top_up": {"enabled": True, "threshold_credits": 1, "amount": amount, "max_per_period": 1}}
        with pytest.raises(ValidationFailed) as refused:
            subscriptions.change_settings(world.billing, ADMIN, world.sid, SettingsRequest.model_validate(body))
        assert refused.value.fields[0]["field"] == "auto_top_up.amount"


def test_settings_written_over_a_revision_that_moved_are_retried_not_lost():
    world = World()
    stale = world.subscriptions.get(world.sid)
    world.record("k1", 1)  # a charge moves the revision
    with pytest.raises(RetryableConflict):
        world.subscriptions.save_settings(stale, {"auto_top_up": None})


def test_an_auto_top_up_stored_on_a_plan_that_sells_no_credits_never_adds_free_credits():
    world = World(credit_price_cents=None, overage_policy="allow")
    stored = AutoTopUp(enabled=True, threshold_credits=Decimal(1), amount=Decimal(1_000_000), max_per_period=100)
    world.subscriptions.save_settings(world.subscriptions.get(world.sid), {"auto_top_up": stored})  # as before the fix
    world.record("k1", 250)  # 1,250 credits of a 1,000 allowance: the balance hits 0
    subscription = world.subscriptions.get(world.sid)
    assert subscription.credit_balance == 0 and subscription.auto_top_ups_in_period == 0
    assert not [e for e in world.ledger() if e.type == "top_up"]
