"""The scheduled invoicing run: it finds what is due and queues it; its workers close each due
subscription's ended periods. Apart from `invoices`, so the invoice API's functions do not load
the closing code, nor the run's functions the invoice API's."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..domain.closing import DueClose
from ..domain.errors import ValidationFailed
from ..domain.values import format_timestamp
from .credit_write import PeriodClosed, close_due_periods, write_off_past_due
from .ledger import Pause
from .unit_of_work import Billing

SCHEDULE_SKEW = timedelta(minutes=5)  # the scheduler fires on time; further ahead is a wrong or forged event


@dataclass
class InvoicingReport:
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
        report.subscriptions_due += billing.period_closings.send(billing.subscriptions.due(residency, now), now)
    return report


@dataclass
class ClosingReport:
    """What workers' closes did, added up over a delivery."""

    periods_closed: int = 0
    invoices_drafted: int = 0
    issued_invoices_left_alone: int = 0
    allowances_expired: int = 0
    credits_expired: Decimal = Decimal(0)
    allowances_granted: int = 0
    final_periods_closed: int = 0

    def add(self, step: PeriodClosed) -> None:
        self.periods_closed += 1
        self.invoices_drafted += step.drafted
        self.issued_invoices_left_alone += not step.drafted
        self.allowances_expired += step.expired > 0
        self.credits_expired += step.expired
        self.allowances_granted += step.granted
        self.final_periods_closed += not step.granted


def close_due(billing: Billing, due: DueClose, report: ClosingReport, *, pause: Pause = time.sleep) -> None:
    """A worker's part of the run: draft the subscription's ended period, expire the unused
    allowance, grant the next one and move the period on (a canceled subscription's last period is
    drafted, expired and closed), for every period ended by the run's `now`; then write off the
    grants and holds past their expiry that nothing has touched since. Each write is conditioned
    on the subscription being as read, so a redelivery, or a twin delivered at once, finds nothing
    left to do. A subscription of another residency, or one gone, is not this deployment's."""
    subscription = billing.subscriptions.get(due.subscription_id)
    if subscription is None or subscription.residency not in billing.residencies:
        return
    now = min(due.now, billing.now())  # a message from a run ahead of this worker's clock closes nothing early
    for step in close_due_periods(billing, subscription, now=now, pause=pause):
        report.add(step)
    report.credits_expired += write_off_past_due(billing, due.subscription_id, now=now, pause=pause)
