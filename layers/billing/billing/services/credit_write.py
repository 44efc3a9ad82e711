"""The one credit write: every change to a subscription's credits runs through `credit_write`.

An attempt reads the subscription (with every period that has ended by now closed first, so a
change lands in the period it happens in: usage against that period's allowance, a top-up on its
invoice), opens its book with whatever is past its expiry written off, and hands both to the use
case's change, which supplies only what it changes. The write then commits the book as one
CreditPosting (its events in its transaction) under the subscription's revision, with the
request's idempotency record; a lost race is retried, a key committed first is replayed.

The period close is such a write too (it only does not close periods first), and so is the
scheduled run's write-off of what expired on a subscription nothing else touched. A grant staff
make in a write (a top-up, a grant, a credit note's promotional credits) is `staff_grant`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from msgspec import Struct
from pydantic import BaseModel

from ..domain.credits import (
    CLOSING_ACTOR,
    CreditBook,
    CreditPosting,
    PeriodClose,
    PlanSwitch,
    close_period,
    pending_switch,
)
from ..domain.errors import Conflict, ValidationFailed
from ..domain.grants import CreditGrant, priced_cents
from ..domain.idempotency import IdempotencyRecord
from ..domain.periods import Period
from ..domain.plans import Plan
from ..domain.subscriptions import Subscription
from ..domain.values import MAX_CENTS
from .ledger import Pause, RecordFor, run_idempotently, with_retries
from .unit_of_work import Billing

if TYPE_CHECKING:  # annotations only; a draft's models load with the first draft (see `drafted`)
    from ..domain.access import Caller
    from ..domain.invoices import Invoice
    from ..domain.usage import PeriodUsage

Result = TypeVar("Result")


class NoActiveSubscription(Conflict):
    code = "no_active_subscription"


class Idempotency(Struct, frozen=True):
    """A keyed request: its scope, its body's fingerprint, and the type its first answer replays as."""

    scope: str
    fingerprint: str
    result_type: type[BaseModel]


class CreditWrite(Struct):
    """One attempt at a credit write, as its use case sees it: the subscription as read, the plan
    version it is on, and the book the change goes into. The change returns its result; the write
    commits it, unless the change committed it `through` another store or discarded it."""

    billing: Billing
    subscription: Subscription
    plan: Plan
    book: CreditBook
    record_for: RecordFor
    require_active: bool
    posting: CreditPosting | None = None  # what the attempt committed
    discarded: bool = False

    @property
    def now(self) -> datetime:
        return self.book.now

    def commit(self, result: Any = None, *, through: Callable[[CreditPosting], Any] | None = None) -> Any:
        """Commit the book as one posting, conditioned on the subscription's revision, with the
        idempotency record of `result`. `through`: a store that writes the posting together with
        more in the same transaction (a usage chunk's events, a period's draft); its answer is returned."""
        self.posting = CreditPosting.of(self.subscription, self.book)
        if through is not None:
            return through(self.posting)
        self.billing.subscriptions.append(
            self.posting, idempotency=self.record_for(result), require_active=self.require_active
        )
        return None

    def discard(self) -> None:
        """Write nothing: a refusal writes nothing, and a write-off that found nothing due neither."""
        self.discarded = True


def credit_write(
    billing: Billing,
    change: Callable[[CreditWrite], Result],
    *,
    read: Callable[[], Subscription],
    actor: str,
    idempotency: Idempotency | None = None,
    active_only: str | None = None,
    close_ended_periods: bool = True,
    now: datetime | None = None,
    pause: Pause = time.sleep,
) -> tuple[Result, bool]:
    """Run `change` as one credit write. Returns (result, replayed).

    `read`: how an attempt finds the subscription (it may raise: no such subscription).
    `active_only`: the refusal (409 `no_active_subscription`) when the subscription is canceled;
    the commit is then also conditioned on it still being active. `now`: the write's moment
    (the request's, or the scheduled run's)."""
    now = now or billing.now()

    def attempt(record_for: RecordFor) -> Result:
        current = read()
        if close_ended_periods:
            current = closed_up_to(billing, current, now, pause=pause)
        if active_only is not None and not current.is_active:
            raise NoActiveSubscription(active_only)
        book = CreditBook.open(current, now, actor)
        book.expire_due()
        plan = billing.plans.version(current.plan_id, current.plan_version)
        write = CreditWrite(billing, current, plan, book, record_for, require_active=active_only is not None)
        result = change(write)
        if write.posting is None and not write.discarded:
            write.commit(result)
        return result

    if idempotency is None:
        return with_retries(lambda: attempt(_no_record), pause=pause), False
    return run_idempotently(
        billing.subscriptions,
        scope=idempotency.scope,
        fingerprint=idempotency.fingerprint,
        result_type=idempotency.result_type,
        attempt=attempt,
        now=now,
        pause=pause,
    )


def _no_record(_: Any) -> IdempotencyRecord | None:
    return None


def staff_grant(
    write: CreditWrite,
    caller: Caller,
    kind: Literal["purchased", "promotional"],
    amount: Decimal,
    price_cents: int | None,
    priority: int,
    reason: str,
    *,
    effective_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> CreditGrant:
    """A grant made by staff now (the moment its period was decided by: its id's time falls in
    that period), priced as asked or (purchased credits) at the plan's credit price."""
    plan, subscription = write.plan, write.subscription
    if price_cents is None:
        price_cents = priced_cents(amount, plan.credit_price_cents) if kind == "purchased" else 0
    if price_cents > MAX_CENTS:
        raise ValidationFailed.of("amount", "prices at 10^12 cents or more; sell it in smaller grants")
    return CreditGrant.issue(
        subscription_id=subscription.subscription_id,
        period_start=subscription.current_period_start,
        currency=plan.currency,
        kind=kind,
        amount=amount,
        priority=priority,
        reason=reason,
        actor=caller.principal,
        now=write.now,
        price_cents=price_cents,
        effective_at=effective_at,
        expires_at=expires_at,
    )


# --- closing billing periods -------------------------------------------------------------------
# A period that has ended is closed in one write: its invoice draft, the expiry of its unused
# allowance (and of any grant past its expiry), the next period's allowance grant and the
# subscription's move to the next period, all conditioned on the subscription being as read.
# The scheduled invoicing run closes every due period; any other credit write closes it first.


class PeriodClosed(Struct, frozen=True):
    subscription: Subscription  # as the close left it
    drafted: bool
    expired: Decimal
    granted: bool


def closed_up_to(billing: Billing, subscription: Subscription, now: datetime, *, pause: Pause) -> Subscription:
    """The subscription (as read) with any period that has ended by `now` closed first."""
    if not subscription.period_due(now):
        return subscription
    closed = close_due_periods(billing, subscription, now=now, pause=pause)
    return closed[-1].subscription if closed else billing.subscriptions.get(subscription.subscription_id)


def close_due_periods(
    billing: Billing, subscription: Subscription, *, now: datetime, pause: Pause = time.sleep
) -> list[PeriodClosed]:
    """Close every period of the subscription that has ended by `now` (a late run catches up).
    `now` is the caller's moment: the request's, or the scheduled run's event time."""
    subscription_id = subscription.subscription_id
    closed: list[PeriodClosed] = []
    while subscription.period_due(now):
        step = _closing_write(billing, _close_period, subscription_id, now=now, pause=pause)
        if step is None:
            # Someone else (a concurrent run, or usage) closed it: carry on from what they left.
            subscription = billing.subscriptions.get(subscription_id)
            continue
        closed.append(step)
        subscription = step.subscription
    return closed


def _close_period(write: CreditWrite) -> PeriodClosed | None:
    current = write.subscription
    if not current.period_due(write.now):
        write.discard()
        return None
    made = closing(write, pending_switch(current, write.billing.plans.version))
    commit_closing(write, made)
    return PeriodClosed(
        subscription=write.posting.subscription,
        drafted=made.draft is not None,
        expired=write.book.expired,
        granted=made.close.next_period is not None,
    )


class Closing(Struct, frozen=True):
    """A period's close as a write's book holds it before it commits: the draft it makes (None when
    the period's invoice is issued: it never changes), the draft that one replaces, and the close."""

    draft: Invoice | None
    previous: Invoice | None
    close: PeriodClose


def closing(write: CreditWrite, switch: PlanSwitch | None = None) -> Closing:
    """Close the write's current period in its book: draft it, expire what ends with it, grant the
    next period's allowance. With `switch`, a plan change takes effect: the cycle ends at the
    switch (now: the period is billed until then, as a cancellation's final period is), and the
    next period starts there on the new version. The scheduled close, a plan change now and its
    preview all close through here; only the preview does not commit."""
    billing = write.billing
    if switch is not None:
        write.subscription = write.subscription.ending_cycle_at(switch.at)
    current = write.subscription
    period = current.current_period
    existing = billing.invoices.latest_for_period(current.subscription_id, period.start)
    draft = None
    if existing is None or existing.status != "issued":  # a draft is replaced, a void one followed by a new revision
        draft = drafted(billing, current, write.plan, period, now=write.now, previous=existing)
    close = close_period(write.book, current, write.plan, switch)
    return Closing(draft, existing if draft is not None else None, close)


def commit_closing(write: CreditWrite, made: Closing) -> None:
    """Commit a close with its draft in one transaction (with the request's idempotency record, whose
    answer is the subscription as the close leaves it)."""
    write.commit(
        through=lambda posting: write.billing.invoices.close_period(
            posting,
            made.draft,
            made.previous,
            idempotency=write.record_for(posting.subscription),
            require_active=write.require_active,
        )
    )


def drafted(
    billing: Billing,
    subscription: Subscription,
    plan: Plan,
    period: Period,
    *,
    now: datetime,
    previous: Invoice | None = None,
    correcting: tuple[PeriodUsage, ...] = (),
    book: CreditBook | None = None,
) -> Invoice:
    """The period's draft from what it is drafted from: its usage aggregate and the grants made in it.
    The close, `POST .../draft`, the upcoming invoice and usage corrections all draft through here,
    so they agree. `correcting`: usage a correction adds to the aggregate (or takes out, negated)
    in the same write as the draft; `book`: that write's book, so the draft reads the grants as
    the write leaves them (what the allowance paid, given back, decides a final period's base fee)."""
    # Imported here: most credit writes (a top-up, a hold, a usage event in an open period) draft
    # nothing, and the invoice models with the usage aggregate cost their functions ~10 ms of cold start.
    from ..domain.invoice_drafting import compose_invoice
    from ..domain.usage import PeriodUsage

    subscription_id = subscription.subscription_id
    usage = billing.usage.period_usage(subscription_id, period.start)
    grants = billing.subscriptions.grants_made_in(subscription_id, period)
    if book is not None:
        subscription = subscription.model_copy(update={"grants": book.grants})
        grants = [book.as_left(grant) for grant in grants]
    return compose_invoice(
        subscription,
        plan,
        period,
        PeriodUsage.merged([usage, *correcting]) if correcting else usage,
        now=now,
        grants=grants,
        previous=previous,
    )


def write_off_past_due(billing: Billing, subscription_id: str, *, now: datetime, pause: Pause = time.sleep) -> Decimal:
    """Write off the grants and holds past their expiry of a subscription nothing else has touched
    since (the scheduled run's part: any other change to the subscription does it first). Returns
    the credits that expired."""

    def change(write: CreditWrite) -> Decimal:
        if not write.book.ended and not write.book.holds_ended:
            write.discard()
        return write.book.expired

    return _closing_write(billing, change, subscription_id, now=now, pause=pause)


def _closing_write(
    billing: Billing, change: Callable[[CreditWrite], Result], subscription_id: str, *, now: datetime, pause: Pause
) -> Result:
    """A write of the close's own, at the close's moment (it closes no period first: it is the close)."""
    result, _ = credit_write(
        billing,
        change,
        read=lambda: billing.subscriptions.get(subscription_id),
        actor=CLOSING_ACTOR,
        close_ended_periods=False,
        now=now,
        pause=pause,
    )
    return result
