"""The scheduled invoicing run: it finds what is due and queues it; its workers close each due
subscription's ended periods (`period_closing`). Apart from `invoices`, so the invoice API's
functions do not load the closing code, nor the run's functions the invoice API's; apart from
`period_closing`, so the run, which only reads the due index and sends ids, does not load the
credit domain on its cold start."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from msgspec import Struct

from ..domain.errors import ValidationFailed
from ..domain.values import format_timestamp
from .unit_of_work import Billing

SCHEDULE_SKEW = timedelta(minutes=5)  # the scheduler fires on time; further ahead is a wrong or forged event


class InvoicingReport(Struct):
    """The run itself: what it found due and queued for the period-closing workers."""

    now: datetime
    subscriptions_due: int = 0

    def as_result(self) -> dict[str, Any]:
        return {"now": format_timestamp(self.now), "subscriptions_due": self.subscriptions_due}


def run_invoicing(billing: Billing, *, scheduled_at: datetime) -> InvoicingReport:
    """Find the subscriptions of the served residencies that are due by `now` (the due index: what
    is not due is never read) and queue each for a worker, which closes it (`close_due`). Its cost
    grows with what is due, not with what exists. `now` is the event's time (a redelivery is then
    deterministic), but never later than the billing clock: a scheduler firing a little early must
    not close a period that has not ended, or usage still to come in it would land in the next one.
    One more than 5 minutes ahead of the clock is refused as a wrong or forged event. Running it
    twice, or twice at once, queues twice: each close is idempotent."""
    clock = billing.now()
    if scheduled_at > clock + SCHEDULE_SKEW:
        raise ValidationFailed.of(
            "scheduled_time",
            f"is more than 5 minutes ahead of the billing clock ({format_timestamp(clock)})",
            location="event",
        )
    now = min(scheduled_at, clock)
    report = InvoicingReport(now=now)
    for residency in billing.residencies:
        report.subscriptions_due += billing.period_closings.send(billing.due_subscriptions(residency, now), now)
    return report
