"""Draw-down, expiry and void on a subscription's grants (the CreditBook), without any store."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.domain.credits import CreditBook
from billing.domain.grants import MAX_ACTIVE_GRANTS, ActiveGrant, CreditGrant, GrantLimitReached
from billing.domain.ledger import InsufficientCredits

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def grant(grant_id, remaining, *, priority=100, expires_in_days=None, effective_in_days=0, kind="purchased"):
    return ActiveGrant(
        grant_id=grant_id,
        kind=kind,
        amount=Decimal(remaining),
        remaining=Decimal(remaining),
        priority=priority,
        effective_at=NOW + timedelta(days=effective_in_days),
        expires_at=NOW + timedelta(days=expires_in_days) if expires_in_days is not None else None,
    )


def book(*grants, now=NOW):
    return CreditBook("sub-1", tuple(grants), 7, now, "admin")


def remaining(credit_book):
    return {g.grant_id: g.remaining for g in credit_book.grants}


def test_draws_by_priority_then_earliest_expiry_then_oldest():
    credits = book(
        grant("03-purchased", 10, priority=100),
        grant("02-promo-late", 10, priority=50, expires_in_days=20),
        grant("04-promo-soon", 10, priority=50, expires_in_days=5),
        grant("01-allowance", 10, priority=0, expires_in_days=30, kind="allowance"),
        grant("00-purchased-older", 10, priority=100),
    )
    assert credits.draw(Decimal(25)) == 0
    assert remaining(credits) == {"02-promo-late": 5, "03-purchased": 10, "00-purchased-older": 10}
    assert credits.draw(Decimal(10)) == 0
    assert remaining(credits) == {"03-purchased": 10, "00-purchased-older": 5}  # the older of equals first


def test_grants_not_yet_effective_or_past_expiry_are_never_drawn_from():
    credits = book(
        grant("future", 10, effective_in_days=1),
        grant("expired", 10, expires_in_days=-1),
        grant("live", 3),
    )
    assert credits.available() == 3
    assert credits.draw(Decimal(5)) == 2  # the shortfall: overage, or a refusal on a block plan
    assert remaining(credits) == {"future": 10, "expired": 10}


def test_a_depleted_grant_leaves_the_active_set_and_its_record_is_ended():
    credits = book(grant("a", 4, priority=0), grant("b", 10))
    credits.draw(Decimal(4))
    assert [g.grant_id for g in credits.grants] == ["b"]
    assert [(e.grant_id, e.status, e.remaining) for e in credits.ended] == [("a", "depleted", 0)]


def test_one_usage_entry_carries_the_allocation_across_grants():
    credits = book(grant("a", 4, priority=0, kind="allowance"), grant("b", 10))
    credits.draw(Decimal(3))
    credits.draw(Decimal(3))
    entry = credits.post_draws("usage", reference="usage:x", reason="Usage", overage=Decimal(0))
    assert entry.seq == 8 and entry.amount == -6 and entry.balance_after == 8 and entry.bucket == "allowance"
    assert [(a.grant_id, a.amount) for a in entry.allocation] == [("a", -4), ("b", -2)]
    assert entry.grant_id is None  # several grants paid: the allocation says which


def test_expiry_writes_one_entry_per_expired_grant_and_ends_it():
    credits = book(grant("old", 5, expires_in_days=-2), grant("older", 2, expires_in_days=-3), grant("keep", 1))
    credits.expire_due()
    assert [(e.type, e.grant_id, e.amount, e.balance_after) for e in credits.entries] == [
        ("expiry", "older", -2, 6),
        ("expiry", "old", -5, 1),
    ]
    assert {e.grant_id: e.status for e in credits.ended} == {"old": "expired", "older": "expired"}
    assert [e.seq for e in credits.entries] == [8, 9]


def test_void_takes_the_remaining_credits_out_and_a_second_void_is_refused():
    credits = book(grant("a", 5), grant("b", 1))
    credits.void("a", reason="mistake", reference="grant:a")
    assert credits.balance == 1 and credits.entries[-1].type == "void" and credits.entries[-1].amount == -5
    with pytest.raises(Exception, match="not active"):
        credits.void("a", reason="again", reference="grant:a")


def test_a_negative_adjustment_may_not_take_the_balance_below_zero():
    credits = book(grant("a", 5))
    with pytest.raises(InsufficientCredits):
        credits.take_exactly(Decimal("5.000001"))
    assert credits.balance == 5 and not credits.entries


def test_the_number_of_active_grants_is_bounded():
    credits = book(*(grant(f"g{i:02d}", 1) for i in range(MAX_ACTIVE_GRANTS)))
    extra = CreditGrant(
        **grant("extra", 1).model_dump(),
        subscription_id="sub-1",
        currency="USD",
        reason="one too many",
        period_start=NOW,
        actor="admin",
        created_at=NOW,
    )
    with pytest.raises(GrantLimitReached):
        credits.add(extra, entry_type="top_up", reference="r")


def test_the_largest_write_the_bounds_allow_fits_one_dynamodb_transaction():
    """A period close that writes off every grant the bounds allow (32, and the allowance that is
    exempt), ends every hold and grants the next allowance, with its draft and the events of both
    (one outbox item each): at most 100 items."""
    from billing.domain.credits import CreditPosting, PeriodClose
    from billing.domain.holds import MAX_ACTIVE_HOLDS, ActiveHold
    from billing.store.dynamodb_subscriptions import Tables, credit_layouts
    from billing.store.dynamodb_writes import actions
    from billing.store.writes import posting_write

    from .world import World

    world = World()
    subscription = world.subscriptions.get(world.sid)
    expired = tuple(grant(f"g{i:02d}", 1, expires_in_days=-1) for i in range(MAX_ACTIVE_GRANTS + 1))
    lapsed = tuple(
        ActiveHold(hold_id=f"h{i}", credits=Decimal(0), expires_at=NOW - timedelta(hours=1))
        for i in range(MAX_ACTIVE_HOLDS)
    )
    full = subscription.model_copy(update={"grants": expired, "holds": lapsed})
    credits = CreditBook.open(full, NOW, "close")
    credits.expire_due()
    allowance = CreditGrant(
        **grant("next", 1000, priority=0, kind="allowance").model_dump(),
        subscription_id=world.sid,
        currency="USD",
        reason="next period",
        period_start=NOW,
        actor="close",
        created_at=NOW,
    )
    credits.add(allowance, entry_type="grant", reference="period", within_limit=False)
    credits.closing = PeriodClose(full.current_period, full.current_period)  # a close: the period moves
    posting = CreditPosting.of(full, credits)
    assert [e.detail_type for e in posting.events] == ["HoldExpired"] * MAX_ACTIVE_HOLDS  # one outbox item
    items = actions(posting_write(posting), credit_layouts(Tables("subscriptions", "ledger", "outbox")))
    draft = 2  # the draft and its InvoiceDrafted outbox item
    assert len(items) + draft <= 100, len(items)
