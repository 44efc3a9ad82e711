"""Closing billing periods: lazily by usage that arrives after the end, and by the scheduled run;
each period exactly once."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.errors import ValidationFailed
from billing.domain.grants import ActiveGrant
from billing.domain.holds import ActiveHold
from billing.services import invoicing_run, period_closing, subscriptions

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
    run, closed = world.invoicing_run(later)
    assert run.subscriptions_due == 0 and closed.periods_closed == 0  # nothing left for the run


def test_a_final_close_with_nothing_to_expire_happens_once():
    world = World(credit_allowance=Decimal(0))
    subscriptions.cancel_subscription(world.at(NOW + timedelta(days=3)).billing, ADMIN, world.sid)
    run = lambda: world.at(NOW + timedelta(days=4)).invoicing_run(NOW + timedelta(days=4))[1]  # noqa: E731
    assert (run().final_periods_closed, run().final_periods_closed) == (1, 0)


def test_a_run_whose_time_is_ahead_of_the_clock_is_refused_and_closes_nothing():
    world = World()
    ahead = world.subscription.current_period_end + timedelta(seconds=1)  # the clock is still at NOW
    with pytest.raises(ValidationFailed, match="ahead of the billing clock"):
        invoicing_run.run_invoicing(world.billing, scheduled_at=ahead)
    assert world.subscriptions.get(world.sid) == world.subscription and not world.billing.period_closings.messages
    assert world.at(ahead).invoicing_run(ahead)[1].periods_closed == 1


def test_the_due_moment_is_the_period_end_then_the_cancellation_then_none_once_closed():
    world = World()
    assert world.subscription.due_at == world.subscription.current_period_end
    canceled_at = NOW + timedelta(days=3)
    subscriptions.cancel_subscription(world.at(canceled_at).billing, ADMIN, world.sid)
    assert world.subscriptions.get(world.sid).due_at == canceled_at  # the final close comes early
    world.at(NOW + timedelta(days=4)).invoicing_run(NOW + timedelta(days=4))
    assert world.subscriptions.get(world.sid).due_at is None


def test_the_run_queues_only_what_is_due_and_a_second_delivery_changes_nothing():
    world = World()
    end = world.subscription.current_period_end
    run, _ = world.at(end - timedelta(seconds=1)).invoicing_run(end - timedelta(seconds=1))
    assert run.subscriptions_due == 0
    invoicing_run.run_invoicing(world.at(end).billing, scheduled_at=end)  # due at its end itself
    [due] = world.billing.period_closings.take()
    closed = period_closing.ClosingReport()
    period_closing.close_due(world.billing, due, closed, pause=no_pause)
    period_closing.close_due(world.billing, due, closed, pause=no_pause)  # delivered twice
    assert closed.periods_closed == 1 and world.subscriptions.get(world.sid).current_period_start == end


def test_a_due_subscription_delivered_twice_at_once_is_closed_once():
    world = World()
    end = world.subscription.current_period_end
    invoicing_run.run_invoicing(world.at(end).billing, scheduled_at=end)
    invoicing_run.run_invoicing(world.billing, scheduled_at=end)  # a second run: a second message
    twins = world.billing.period_closings.take()
    barrier, reports = threading.Barrier(2), [period_closing.ClosingReport(), period_closing.ClosingReport()]

    def worker(position: int) -> None:
        barrier.wait()
        period_closing.close_due(world.billing, twins[position], reports[position], pause=no_pause)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(twins) == 2 and sum(r.periods_closed for r in reports) == 1
    assert [e.type for e in world.ledger()] == ["grant", "expiry", "grant"]


def test_a_grant_or_hold_that_expires_first_brings_the_subscription_due_earlier():
    subscription = World().subscription
    expiring = ActiveGrant(
        grant_id="promo",
        kind="promotional",
        amount=Decimal(5),
        remaining=Decimal(5),
        priority=100,
        effective_at=NOW,
        expires_at=NOW + timedelta(days=2),
    )
    with_grant = subscription.model_copy(update={"grants": (*subscription.grants, expiring)})
    assert with_grant.due_at == NOW + timedelta(days=2)
    assert with_grant.period_closes_at == subscription.current_period_end  # the period itself is not due
    held = with_grant.model_copy(update={"holds": (ActiveHold(hold_id="h", credits=1, expires_at=NOW),)})
    assert held.due_at == NOW
