"""Billing periods. Period k of a subscription is [anchor + k cadences, anchor + (k+1) cadences),
always counted from the anchor so month ends survive short months: an anchor of Jan 31 gives
Feb 28 (29), then Mar 31 again."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

CADENCE_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}


@dataclass(frozen=True)
class Period:
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
