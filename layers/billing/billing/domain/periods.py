"""Billing periods. Period k of a subscription is [anchor + k cadences, anchor + (k+1) cadences),
always counted from the anchor so month ends survive short months: an anchor of Jan 31 gives
Feb 28 (29), then Mar 31 again."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from msgspec import Struct

CADENCE_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}


class Period(Struct, frozen=True):
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def add_months(moment: datetime, months: int) -> datetime:
    """The same day-of-month and time `months` later, clamped to the month's last day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_at(anchor: datetime, cadence: str, index: int) -> Period:
    months = CADENCE_MONTHS[cadence]
    return Period(add_months(anchor, index * months), add_months(anchor, (index + 1) * months))


def period_index(anchor: datetime, cadence: str, moment: datetime) -> int:
    """The k whose period contains `moment` (negative before the anchor)."""
    months = CADENCE_MONTHS[cadence]
    index = ((moment.year - anchor.year) * 12 + moment.month - anchor.month) // months
    while period_at(anchor, cadence, index).start > moment:
        index -= 1
    while period_at(anchor, cadence, index).end <= moment:
        index += 1
    return index


def period_containing(anchor: datetime, cadence: str, moment: datetime) -> Period:
    return period_at(anchor, cadence, period_index(anchor, cadence, moment))


class BillingCycle(Struct, frozen=True):
    """A run of periods on one anchor and cadence. A plan change ends the cycle at `ends_at` and
    starts the next one there (the new plan's anchor and cadence); the cycle a subscription is on
    has no end. The last period of an ended cycle is billed until `ends_at`: cut short by a change
    "now", whole when the change waited for the period's end."""

    anchor: datetime
    cadence: str
    ends_at: datetime | None = None

    def covers(self, moment: datetime) -> bool:
        return self.anchor <= moment and (self.ends_at is None or moment < self.ends_at)

    def period(self, index: int) -> Period:
        return period_at(self.anchor, self.cadence, index)

    def index_of(self, moment: datetime) -> int:
        return period_index(self.anchor, self.cadence, moment)

    def containing(self, moment: datetime) -> Period:
        return self.period(self.index_of(moment))

    def periods_until(self, moment: datetime) -> int:
        """How many of its periods start at or before `moment` (its end, for an ended cycle)."""
        last = moment if self.ends_at is None else min(moment, self.ends_at - timedelta(microseconds=1))
        return self.index_of(last) + 1


def cycle_at(cycles: tuple[BillingCycle, ...], moment: datetime) -> BillingCycle:
    """The cycle a moment falls in (the first one for a moment before every cycle)."""
    return next((cycle for cycle in reversed(cycles) if cycle.anchor <= moment), cycles[0])
