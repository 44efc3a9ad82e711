"""Server-chosen ids: ordered by time, random across milliseconds, never stuck on a future moment."""

from datetime import UTC, datetime, timedelta

from billing.domain.ids import new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def as_int(ulid: str) -> int:
    value = 0
    for char in ulid:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_a_future_moment_never_sticks_to_later_ids():
    now = datetime.now(UTC)
    new_id(now + timedelta(days=31))  # a schedule's event time, a test clock
    later = [new_id(now + timedelta(milliseconds=i)) for i in range(50)]
    assert all(as_int(i) >> 80 < as_int(new_id(now + timedelta(days=31))) >> 80 for i in later)
    assert [as_int(i) >> 80 for i in later] == [
        int((now + timedelta(milliseconds=i)).timestamp() * 1000) for i in range(50)
    ]


def test_ids_of_one_millisecond_keep_their_order_but_are_not_one_apart():
    moment = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    ids = [as_int(new_id(moment)) for _ in range(200)]
    assert ids == sorted(ids) and len(set(ids)) == 200
    steps = [b - a for a, b in zip(ids, ids[1:], strict=False)]
    assert min(steps) > 1 and len(set(steps)) > 190  # a random step each time: not guessable from the last


def test_ids_of_different_milliseconds_draw_fresh_randomness():
    moment = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    random_parts = [as_int(new_id(moment + timedelta(milliseconds=i))) & ((1 << 80) - 1) for i in range(100)]
    assert len(set(random_parts)) == 100 and random_parts != sorted(random_parts)
