"""Events out, decided once for every credit write (CreditPosting.of) and written by the stores with
the change they report: one CreditBalanceLow per crossing, CreditsDepleted once per fall to zero,
CreditsToppedUp per top-up, invoice and cancellation events once per change."""

from datetime import timedelta
from decimal import Decimal

import pytest
from msgspec.structs import replace

from billing.domain.credits import CreditBook, CreditPosting
from billing.domain.errors import BillingError
from billing.domain.events import outbox_event
from billing.domain.ids import new_id
from billing.domain.subscriptions import AutoTopUp
from billing.services import credits, holds, invoices, subscriptions
from billing.services.credit_write import write_off_past_due
from billing.services.credits import CreditChangeRequest, GrantRequest

from .world import ADMIN, NOW, SERVICE, World, no_pause


def events(world, detail_type=None):
    return [e for e in world.subscriptions.outbox if detail_type is None or e.detail_type == detail_type]


def types(world):
    return [e.detail_type for e in world.subscriptions.outbox]


def top_up(world, amount, kind="top_up"):
    body = CreditChangeRequest(
        amount=Decimal(amount), type=kind, reason="pack", idempotency_key=f"k{len(types(world))}"
    )
    return credits.change_credits(world.billing, ADMIN, world.sid, body, pause=no_pause)[0]


def stored(world):
    return world.subscriptions.get(world.sid)


def test_provisioning_reports_nothing():
    assert types(World()) == []


def test_the_balance_falling_below_the_threshold_alerts_once_per_crossing():
    world = World()  # 1000 credits, threshold 100, 5 credits a run
    world.record("a", 170)  # 150 left: above
    assert types(world) == []
    world.record("b", 11)  # 95 left: below
    world.record("c", 1)  # 90: still below, no second alert
    assert types(world) == ["CreditBalanceLow"]
    low = events(world)[0]
    assert low.detail["credit_balance"] == "95" and low.detail["threshold_credits"] == "100"
    assert low.detail["ledger_entry"]["type"] == "usage" and stored(world).low_balance_alerted

    top_up(world, 10)  # 100: at the threshold again, the alert is cleared
    assert types(world)[1:] == ["CreditsToppedUp"] and not stored(world).low_balance_alerted
    world.record("d", 1)  # 95: a new crossing
    assert types(world)[2:] == ["CreditBalanceLow"]


def test_reaching_zero_from_above_is_depleted_once():
    world = World()
    world.record("a", 200)  # 1000 credits: exactly zero, and below the threshold on the way
    assert types(world) == ["CreditBalanceLow", "CreditsDepleted"]
    world.record("b", 10)  # overage: the balance stays at zero
    assert types(world) == ["CreditBalanceLow", "CreditsDepleted"]
    top_up(world, 5)
    world.record("c", 1)  # zero again, from 5
    assert types(world)[2:] == ["CreditsToppedUp", "CreditsDepleted"]  # still alerted: no second low


def test_every_top_up_is_reported_with_its_ledger_entry_and_a_promotion_is_not():
    world = World()
    first, second = top_up(world, 10), top_up(world, 20)
    bought, _ = credits.create_grant(
        world.billing,
        ADMIN,
        world.sid,
        GrantRequest(amount=Decimal(5), kind="purchased", reason="bought", idempotency_key="g1"),
        pause=no_pause,
    )
    credits.create_grant(
        world.billing,
        ADMIN,
        world.sid,
        GrantRequest(amount=Decimal(5), kind="promotional", reason="promo", idempotency_key="g2"),
        pause=no_pause,
    )
    topped = events(world, "CreditsToppedUp")
    assert [e.detail["ledger_entry"]["entry_id"] for e in topped[:2]] == [first.entry_id, second.entry_id]
    assert topped[2].detail["ledger_entry"]["grant_id"] == bought.grant_id
    assert len(topped) == 3 and types(world) == ["CreditsToppedUp"] * 3


def test_an_auto_top_up_is_reported_in_the_usage_write_that_made_it():
    world = World()
    subscriptions.change_settings(
        world.billing,
        ADMIN,
        world.sid,
        subscriptions.SettingsRequest(
            auto_top_up=AutoTopUp(enabled=True, threshold_credits=Decimal(200), amount=Decimal(500), max_per_period=2)
        ),
    )
    world.record("a", 170)  # 150 left, under 200: 500 more in the same write, so never low
    (topped,) = events(world)
    assert topped.detail_type == "CreditsToppedUp" and topped.detail["ledger_entry"]["actor"] == "auto-top-up"


def test_a_period_close_that_expires_and_grants_the_allowance_says_nothing_about_the_balance():
    world = World()
    world.record("a", 100)  # 500 left
    end = world.subscription.current_period_end
    world.at(end).invoicing_run(end)  # the run and its workers
    assert types(world) == ["InvoiceDrafted"]


def test_a_write_off_by_the_run_can_raise_the_alert():
    world = World(credit_allowance=Decimal(0))
    expiring = world.clock.now() + timedelta(days=1)
    credits.create_grant(
        world.billing,
        ADMIN,
        world.sid,
        GrantRequest(amount=Decimal(50), kind="promotional", reason="promo", idempotency_key="g", expires_at=expiring),
        pause=no_pause,
    )
    reported = len(types(world))
    write_off_past_due(world.at(expiring).billing, world.sid, now=expiring, pause=no_pause)
    assert types(world)[reported:] == ["CreditsDepleted"]  # zero threshold (no allowance): depleted, never "low"


def test_invoice_drafts_issues_and_voids_are_reported_once_each():
    world = World()
    draft, _ = invoices.draft_invoice(world.billing, ADMIN, world.sid, invoices.DraftRequest())
    invoices.void_invoice(world.billing, ADMIN, world.sid, draft.invoice_id, pause=no_pause)
    invoices.void_invoice(world.billing, ADMIN, world.sid, draft.invoice_id, pause=no_pause)  # no-op: no event
    end = world.subscription.current_period_end
    world.at(end).invoicing_run(end)  # the run and its workers
    closed = world.invoices.latest_for_period(world.sid, world.subscription.current_period_start)
    issued = invoices.issue_invoice(world.billing, ADMIN, world.sid, closed.invoice_id, pause=no_pause)
    assert types(world) == ["InvoiceDrafted", "InvoiceVoided", "InvoiceDrafted", "InvoiceIssued"]
    assert events(world)[1].detail["invoice"]["status"] == "void"
    assert events(world)[3].detail["invoice"] == issued.model_dump(mode="json")
    assert all(e.organization_id == "org-1" and e.subscription_id == world.sid for e in events(world))


def test_canceling_is_reported_once():
    world = World()
    subscriptions.cancel_subscription(world.billing, ADMIN, world.sid)
    subscriptions.cancel_subscription(world.billing, ADMIN, world.sid)
    (canceled,) = events(world)
    assert canceled.detail_type == "SubscriptionCanceled" and canceled.detail["subscription"]["status"] == "canceled"
    assert canceled.document()["event_id"] == canceled.event_id


def test_a_refused_or_conflicting_write_reports_nothing():
    world = World()
    with pytest.raises(BillingError):
        top_up(world, -5000, kind="adjustment")  # below zero: refused before writing
    append = world.subscriptions.append
    lost = []

    def lose_the_race_once(posting, **kwargs):
        if not lost:  # a concurrent writer moved the seq: this attempt's posting does not land
            lost.append(posting)
            stale = replace(posting, previous_revision=posting.previous_revision - 1)
            return append(stale, **kwargs)
        return append(posting, **kwargs)

    world.subscriptions.append = lose_the_race_once
    top_up(world, 10)
    (topped,) = events(world)
    assert lost[0].events and topped.event_id != lost[0].events[0].event_id  # the retry's own event


def test_the_outbox_event_constructor_names_who_it_is_about():
    world = World()
    event = outbox_event("HoldExpired", world.subscription, occurred_at=NOW, hold={"hold_id": "h1"})
    assert event.document() == {
        "event_id": event.event_id,
        "subscription_id": world.sid,
        "organization_id": "org-1",
        "occurred_at": "2026-11-24T10:00:00Z",
        "hold": {"hold_id": "h1"},
    }


def test_a_posting_can_carry_more_events_in_its_transaction():
    world = World()
    subscription = world.subscriptions.get(world.sid)
    posting = CreditPosting.of(subscription, CreditBook.open(subscription, NOW, "holds"))
    expired = outbox_event("HoldExpired", subscription, occurred_at=NOW, hold={"hold_id": "h1"})
    world.subscriptions.append(posting.reporting(expired), idempotency=None)
    assert events(world) == [expired]


def test_a_hold_found_past_its_expiry_is_reported_by_the_write_that_ends_it():
    world = World()
    request = holds.HoldRequest(
        organization_id="org-1",
        service="instrumentation",
        quantity=Decimal(2),
        idempotency_key="h",
        expires_in_seconds=60,
    )
    placed, _ = holds.place_hold(world.billing, SERVICE, request, pause=no_pause)
    released = holds.place_hold(
        world.billing, SERVICE, request.model_copy(update={"idempotency_key": "r"}), pause=no_pause
    )[0]
    holds.release_hold(world.billing, SERVICE, released.hold_id, pause=no_pause)  # released, not expired
    assert types(world) == []
    world.record("a", 1, now=NOW + timedelta(minutes=2))  # the usage write ends the expired hold
    world.record("b", 1)
    (expired,) = events(world)
    assert expired.detail_type == "HoldExpired" and expired.detail["hold"]["hold_id"] == placed.hold_id
    assert expired.detail["hold"]["credits"] == "10" and expired.detail["hold"]["status"] == "expired"


def test_minting_events_at_another_moment_keeps_the_order_of_ids_minted_at_one():
    """Provisioning mints ids at a period's whole second while its cancel event has the request's
    microseconds: the event ids have a sequence of their own, so subscriptions still sort by age."""
    world = World()
    whole_second = NOW.replace(microsecond=0)
    minted = []
    for _ in range(50):
        minted.append(new_id(whole_second))
        outbox_event("SubscriptionCanceled", world.subscription, occurred_at=NOW + timedelta(microseconds=123456))
    assert minted == sorted(minted)


def test_the_alert_flag_is_stored_but_never_answered():
    world = World()
    world.record("a", 190)  # below the threshold: alerted
    subscription = stored(world)
    assert subscription.low_balance_alerted and "low_balance_alerted" not in subscription.model_dump(mode="json")
    assert subscription.stored()["low_balance_alerted"] is True
