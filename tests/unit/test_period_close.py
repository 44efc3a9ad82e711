"""Closing billing periods: lazily by usage that arrives after the end, and by the scheduled run;
each period exactly once."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.errors import ValidationFailed
from billing.services import invoices, subscriptions

from .world import ADMIN, NOW, World, no_pause


def test_usage_after_the_period_ended_closes_it_first_and_meets_the_new_allowance():
    world = World(overage_policy="block", credit_allowance=Decimal(10))
    world.record("a", 2)  # 10 credits: the allowance is spent
    later = world.subscription.current_period_end + timedelta(hours=2)  # before any scheduled run
    event, _ = world.record("b", 1, now=later)
    assert event.credits == 5 and event.period_start == world.subscription.current_period_end
    assert [e.type for e in world.ledger()] == ["grant", "usage", "grant", "usage"]
    drafted = world.invoices.page(world.sid, limit=10, cursor=None).items
    assert [i.period_start for i in drafted] == [world.subscription.current_period_start]
    report = invoices.run_invoicing(world.billing, scheduled_at=later, pause=no_pause)
    assert report.periods_closed == 0  # nothing left for the run


def test_a_final_close_with_nothing_to_expire_happens_once():
    world = World(credit_allowance=Decimal(0))
    subscriptions.cancel_subscription(world.at(NOW + timedelta(days=3)).billing, ADMIN, world.sid)
    run = lambda: invoices.run_invoicing(
        world.at(NOW + timedelta(days=4)).billing, scheduled_at=NOW + timedelta(days=4), pause=no_pause
    )  # noqa: E731
    assert (run().final_periods_closed, run().final_periods_closed) == (1, 0)


def test_a_run_whose_time_is_ahead_of_the_clock_is_refused_and_closes_nothing():
    world = World()
    ahead = world.subscription.current_period_end + timedelta(seconds=1)  # the clock is still at NOW
    with pytest.raises(ValidationFailed, match="ahead of the billing clock"):
        invoices.run_invoicing(world.billing, scheduled_at=ahead, pause=no_pause)
    assert world.subscriptions.get(world.sid) == world.subscription
    assert invoices.run_invoicing(world.at(ahead).billing, scheduled_at=ahead, pause=no_pause).periods_closed == 1
