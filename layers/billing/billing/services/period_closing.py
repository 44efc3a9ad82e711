"""The invoicing run's workers: each closes one due subscription's ended periods (the run itself,
which only finds what is due and queues it, is `invoicing_run`)."""

from __future__ import annotations

import time
from decimal import Decimal

from msgspec import Struct

from ..domain.closing import DueClose
from .credit_write import PeriodClosed, close_due_periods, write_off_past_due
from .ledger import Pause
from .unit_of_work import Billing


class ClosingReport(Struct):
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
