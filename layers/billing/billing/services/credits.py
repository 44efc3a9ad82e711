"""Changes to a subscription's credits by marketplace staff: top-ups and adjustments
(`POST .../credits`), grants (`POST .../grants`, `.../void`), and reading the ledger and grants.

Every change is one CreditPosting: the due period closed first, expired grants written off, then
the change itself, all under the subscription's ledger seq and the request's idempotency key."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationInfo, field_validator, model_validator

from ..domain.access import Caller, Permission, require_residency
from ..domain.errors import Conflict, ValidationFailed
from ..domain.grants import (
    PROMOTIONAL_PRIORITY,
    PURCHASED_PRIORITY,
    CreditBook,
    CreditGrant,
    GrantStatus,
    Priority,
    priced_cents,
)
from ..domain.idempotency import fingerprint, scope_key
from ..domain.ledger import InsufficientCredits, LedgerEntry
from ..domain.paging import Page
from ..domain.plans import Plan
from ..domain.subscriptions import CreditPosting, Subscription
from ..domain.values import (
    MAGNITUDE_LIMIT,
    MAX_CENTS,
    ExactDecimal,
    NonNegativeCents,
    PositiveDecimal,
    UtcTimestamp,
    format_decimal,
    free_text,
)
from .ledger import Pause, RecordFor, run_idempotently
from .periods import closed_up_to
from .subscriptions import subscription_for
from .unit_of_work import Billing

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$")]
Reason = free_text(max_length=500, min_length=1, strip=True)
Result = TypeVar("Result", bound=BaseModel)


class CreditChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: Literal["top_up", "adjustment"]  # before `amount`, whose check reads it
    amount: ExactDecimal
    reason: Reason
    idempotency_key: IdempotencyKey
    price_cents: NonNegativeCents | None = None

    @field_validator("amount")
    @classmethod
    def _signed_as_its_type_allows(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("type") == "top_up" and amount <= 0:
            raise ValueError("a top_up amount must be greater than zero")
        if amount == 0:
            raise ValueError("an adjustment amount must not be zero")
        return amount

    @model_validator(mode="after")
    def _only_top_ups_are_priced(self) -> CreditChangeRequest:
        if self.price_cents is not None and self.type != "top_up":
            raise ValidationFailed.of("price_cents", "only a top_up is sold; an adjustment has no price")
        return self


class GrantRequest(BaseModel):
    """`POST .../grants`: purchased credits (sold: priced, billed on the period's invoice) or
    promotional ones (free)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    amount: PositiveDecimal
    kind: Literal["purchased", "promotional"]
    priority: Priority | None = None
    effective_at: UtcTimestamp | None = None
    expires_at: UtcTimestamp | None = None
    price_cents: NonNegativeCents | None = None
    reason: Reason
    idempotency_key: IdempotencyKey

    @model_validator(mode="after")
    def _consistent(self) -> GrantRequest:
        if self.kind == "promotional" and self.price_cents:
            raise ValidationFailed.of("price_cents", "a promotional grant is free; only purchased credits are priced")
        if self.expires_at and self.effective_at and self.expires_at <= self.effective_at:
            raise ValidationFailed.of("expires_at", "must be after effective_at")
        return self


class VoidRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: Reason = "Voided by marketplace staff"


def change_credits(
    billing: Billing, caller: Caller, subscription_id: str, request: CreditChangeRequest, *, pause: Pause = time.sleep
) -> tuple[LedgerEntry, bool]:
    """A positive amount is a purchased grant (priority 100, no expiry; a top-up priced, by default
    at the plan's credit price); a negative adjustment draws from grants in draw-down order and may
    not take the balance below zero. Returns (entry, replayed)."""

    def change(current: Subscription, plan: Plan, book: CreditBook) -> LedgerEntry:
        reference = f"request:{request.idempotency_key}"
        if request.amount < 0:
            book.take_exactly(-request.amount)
            return book.post_draws("adjustment", reference=reference, reason=request.reason)
        grant = _sold(
            billing,
            caller,
            current,
            plan,
            kind="purchased",
            amount=request.amount,
            price_cents=request.price_cents if request.type == "top_up" else 0,
            priority=PURCHASED_PRIORITY,
            reason=request.reason,
            now=book.now,
        )
        return _added(book, plan, grant, entry_type=request.type, reference=reference)

    return _post_change(
        billing,
        caller,
        subscription_id,
        scope=("credits", request.idempotency_key),
        fingerprint=fingerprint(request, subscription_id),
        result_type=LedgerEntry,
        change=change,
        require_active=request.amount > 0,
        pause=pause,
    )


def create_grant(
    billing: Billing, caller: Caller, subscription_id: str, request: GrantRequest, *, pause: Pause = time.sleep
) -> tuple[CreditGrant, bool]:
    """A purchased or promotional grant with its own priority, start and expiry. Returns (grant, replayed)."""

    def change(current: Subscription, plan: Plan, book: CreditBook) -> CreditGrant:
        if request.expires_at is not None and request.expires_at <= book.now:
            raise ValidationFailed.of("expires_at", "must be in the future")
        default_priority = PURCHASED_PRIORITY if request.kind == "purchased" else PROMOTIONAL_PRIORITY
        grant = _sold(
            billing,
            caller,
            current,
            plan,
            kind=request.kind,
            amount=request.amount,
            price_cents=request.price_cents,
            priority=default_priority if request.priority is None else request.priority,
            reason=request.reason,
            now=book.now,
            effective_at=request.effective_at,
            expires_at=request.expires_at,
        )
        entry_type = "top_up" if request.kind == "purchased" else "grant"
        _added(book, plan, grant, entry_type=entry_type, reference=f"request:grants:{request.idempotency_key}")
        return grant

    return _post_change(
        billing,
        caller,
        subscription_id,
        scope=("grants", request.idempotency_key),
        fingerprint=fingerprint(request, subscription_id),
        result_type=CreditGrant,
        change=change,
        require_active=True,
        pause=pause,
    )


def void_grant(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    grant_id: str,
    request: VoidRequest,
    *,
    pause: Pause = time.sleep,
) -> CreditGrant:
    """Its remaining credits leave the balance (a `void` entry); a grant that is not active is 409."""
    grant = billing.subscriptions.grant(
        subscription_for(billing, caller, subscription_id, Permission.ADJUST_CREDITS), grant_id
    )

    def change(current: Subscription, plan: Plan, book: CreditBook) -> CreditGrant:
        voided = book.void(grant_id, reason=request.reason, reference=f"grant:{grant_id}")
        if plan.overage_policy != "allow" and book.available() < book.held:
            # On a `block` plan held credits are guaranteed: voiding them is refused, not overdrawn.
            raise InsufficientCredits(
                "Runs in progress hold some of this grant's credits; settle or release their holds first.",
                details={"held_credits": format_decimal(book.held)},
            )
        return grant.model_copy(update=voided.record_changes())

    voided, _ = _post_change(
        billing,
        caller,
        subscription_id,
        scope=None,  # voiding is idempotent by nature: a second void finds the grant not active
        fingerprint="",
        result_type=CreditGrant,
        change=change,
        require_active=False,
        pause=pause,
    )
    return voided


def _sold(
    billing: Billing,
    caller: Caller,
    subscription: Subscription,
    plan: Plan,
    *,
    kind: Literal["purchased", "promotional"],
    amount: Decimal,
    price_cents: int | None,
    priority: int,
    reason: str,
    now: datetime,
    effective_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> CreditGrant:
    """A grant made by staff at `now` (the moment its period was decided by: its id's time falls in
    that period), priced as asked or (purchased credits) at the plan's credit price."""
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
        now=now,
        price_cents=price_cents,
        effective_at=effective_at,
        expires_at=expires_at,
    )


def _added(book: CreditBook, plan: Plan, grant: CreditGrant, *, entry_type: str, reference: str) -> LedgerEntry:
    # Each period grants the allowance on top of what else is held: the sum must stay a balance
    # this API can hold, at this close and every later one.
    if book.balance - book.balance_of("allowance") + grant.amount + plan.credit_allowance >= MAGNITUDE_LIMIT:
        raise ValidationFailed.of(
            "amount",
            "would take the credit balance to 10^12 or more "
            "(credits held beyond the allowance, plus the period allowance, stay below 10^12)",
        )
    return book.add(grant, entry_type=entry_type, reference=reference)


def _post_change(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    *,
    scope: tuple[str, str] | None,
    fingerprint: str,
    result_type: type[Result],
    change: Callable[[Subscription, Plan, CreditBook], Result],
    require_active: bool,
    pause: Pause,
) -> tuple[Result, bool]:
    """Run one staff change to credits as a CreditPosting, idempotently under its key."""
    subscription = subscription_for(billing, caller, subscription_id, Permission.ADJUST_CREDITS)
    require_residency(caller, subscription.residency)
    plan = billing.plans.version(subscription.plan_id, subscription.plan_version)
    subscriptions, now = billing.subscriptions, billing.now()

    def attempt(record_for: RecordFor) -> Result:
        current = closed_up_to(billing, billing.subscriptions.get(subscription_id), now, pause=pause)
        if require_active and not current.is_active:
            raise Conflict("The subscription is canceled; it takes no more credits.", code="no_active_subscription")
        book = current.book(now, caller.principal)
        book.expire_due()
        result = change(current, plan, book)
        subscriptions.append(
            CreditPosting.of(current, current.after(book), book),
            idempotency=record_for(result),
            require_active=require_active,
        )
        return result

    return run_idempotently(
        subscriptions,
        scope=scope_key(scope[0], subscription_id, scope[1]) if scope else None,
        fingerprint=fingerprint,
        result_type=result_type,
        attempt=attempt,
        now=now,
        pause=pause,
    )


def read_ledger(
    billing: Billing, caller: Caller, subscription_id: str, *, limit: int, cursor: str | None
) -> Page[LedgerEntry]:
    subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    return billing.subscriptions.ledger_page(subscription_id, limit=limit, cursor=cursor)


def list_grants(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    *,
    status: GrantStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[CreditGrant]:
    """Newest first; an active grant shows its remaining credits as of the last change."""
    subscription = subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    return billing.subscriptions.grants_page(subscription, status=status, limit=limit, cursor=cursor)
