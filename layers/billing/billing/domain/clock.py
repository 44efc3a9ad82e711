"""Billing time. Every use case asks its clock for "now", so one clock moves the whole deployment:
the system clock when deployed, a test clock in the local stack (as Stripe's test clocks) that
tests and demos move through periods, expiries and holds. Token expiry stays on the real clock.

Either clock tells time to the millisecond, the contract's precision: a moment that is stored,
compared and answered is the same moment everywhere (no microseconds kept inside, cut off outside)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def to_milliseconds(moment: datetime) -> datetime:
    """The moment, its sub-millisecond digits dropped (toward the past, so it stays in its second)."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


class SystemClock:
    def now(self) -> datetime:
        return to_milliseconds(datetime.now(UTC))


class ClockMovedBackwards(ValueError):
    """A test clock only moves forward: periods closed and ids minted stay in the past."""


class TestClock:
    """Real time until frozen at a moment; then it stands still until moved forward or released."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, at: datetime | None = None) -> None:
        """Real time, or frozen from the start at `at` (a test's fixed moment, past or future)."""
        self._frozen: datetime | None = to_milliseconds(at.astimezone(UTC)) if at else None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._frozen or to_milliseconds(datetime.now(UTC))

    @property
    def is_frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self, moment: datetime) -> datetime:
        with self._lock:
            current = self._frozen or datetime.now(UTC)
            if moment < current:
                raise ClockMovedBackwards(f"the clock is at {current.isoformat()}; it only moves forward")
            self._frozen = to_milliseconds(moment.astimezone(UTC))
            return self._frozen

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ClockMovedBackwards("advance_seconds must not be negative")
        return self.freeze(self.now() + timedelta(seconds=seconds))

    def release(self) -> datetime:
        """Back to the real clock (which may be earlier than the frozen moment)."""
        with self._lock:
            self._frozen = None
        return self.now()
