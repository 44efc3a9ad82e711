"""Closing billing periods. A period that has ended is closed in one transaction: its invoice
draft, the expiry of its unused allowance (and of any grant past its expiry), the next period's
allowance grant and the subscription's move to the next period, all conditioned on the
subscription being as read. The scheduled invoicing run closes every due period; usage arriving
after a period ended closes it first (lazily), so it is charged against the period it falls in,
never the stale one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..domain.grants import allowance_grant
from ..domain.invoices import compose_invoice
from ..domain.periods import period_at, period_index
from ..domain.subscriptions import CreditPosting, Subscription
from ..domain.values import format_timestamp
from .ledger import Pause, with_retries
from .unit_of_work import Billing

CLOSING_ACTOR = "billing-period-close"


@dataclass(frozen=True)
class PeriodClosed:
    subscription: Subscription  # as the close left it
    drafted: bool
    expired: Decimal
    granted: bool


def period_due(subscription: Subscription, now: datetime) -> bool:
    return subscription.period_closes_at is not None and subscription.period_closes_at <= now


def closed_up_to(billing: Billing, subscription: Subscription, now: datetime, *, pause: Pause) -> Subscription:
    """The subscription (as read) with any period that has ended by `now` closed first, so a change
    lands in the period it happens in: usage against that period's allowance, a top-up on its invoice."""
    if not period_due(subscription, now):
        return subscription
    closed = close_due_periods(billing, subscription, now=now, pause=pause)
    return closed[-1].subscription if closed else billing.subscriptions.get(subscription.subscription_id)


def close_due_periods(
    billing: Billing, subscription: Subscription, *, now: datetime, pause: Pause = time.sleep
) -> list[PeriodClosed]:
    """Close every period of the subscription that has ended by `now` (a late run catches up).
    `now` is the caller's moment: the request's, or the scheduled run's event time."""
    closed: list[PeriodClosed] = []
    while period_due(subscription, now):
        subscription_id = subscription.subscription_id
        step = with_retries(lambda: _close_period(billing, subscription_id, now), pause=pause)  # noqa: B023 - called at once
        if step is None:
            # Someone else (a concurrent run, or usage) closed it: carry on from what they left.
            subscription = billing.subscriptions.get(subscription.subscription_id)
            continue
        closed.append(step)
        subscription = step.subscription
    return closed


def _close_period(billing: Billing, subscription_id: str, now: datetime) -> PeriodClosed | None:
    plans, usage, invoices = billing.plans, billing.usage, billing.invoices
    current = billing.subscriptions.get(subscription_id)
    if current is None or not period_due(current, now):
        return None
    period = current.current_period
    final = current.canceled_at is not None and current.canceled_at < period.end
    plan = plans.version(current.plan_id, current.plan_version)
    existing = invoices.latest_for_period(subscription_id, period.start)
    draft = None
    if existing is None or existing.status != "issued":  # a draft is replaced, a void one followed by a new revision
        draft = compose_invoice(
            current,
            plan,
            period,
            usage.period_usage(subscription_id, period.start),
            now=now,
            grants=billing.subscriptions.grants_made_in(subscription_id, period),
            previous=existing,
        )
    book = current.book(now, CLOSING_ACTOR)
    # The period's allowance expires with it (a final period's at the cancellation), and so does
    # every other grant whose time has come.
    book.expire_due(also=lambda grant: final and grant.kind == "allowance")
    expired = sum((-e.amount for e in book.entries), Decimal(0))
    next_period = None
    if not final:
        anchor, cadence = current.billing_cycle_anchor, current.billing_cadence
        next_period = period_at(anchor, cadence, period_index(anchor, cadence, period.start) + 1)
        if plan.credit_allowance > 0:
            book.add(
                allowance_grant(current, plan, next_period, now=now, actor=CLOSING_ACTOR),
                entry_type="grant",
                reference=f"period:{format_timestamp(next_period.start)}",
                within_limit=False,  # the period's own allowance always fits: the last one just expired
            )
    posting = CreditPosting.of(current, current.rolled_over(book, next_period), book)
    invoices.close_period(
        posting,
        draft,
        previous_period_start=period.start,
        previous_draft=existing if draft is not None else None,
    )
    return PeriodClosed(
        subscription=posting.subscription, drafted=draft is not None, expired=expired, granted=next_period is not None
    )


def write_off_past_due(billing: Billing, subscription_id: str, *, now: datetime, pause: Pause = time.sleep) -> Decimal:
    """Write off the grants and holds past their expiry of a subscription nothing else has touched
    since (the scheduled run's part: any other change to the subscription does it first). Returns
    the credits that expired."""

    def attempt() -> Decimal:
        current = billing.subscriptions.get(subscription_id)
        book = current.book(now, CLOSING_ACTOR)
        book.expire_due()
        if not book.ended and not book.holds_ended:
            return Decimal(0)
        billing.subscriptions.append(CreditPosting.of(current, current.after(book), book), idempotency=None)
        return sum((-e.amount for e in book.entries), Decimal(0))

    return with_retries(attempt, pause=pause)
