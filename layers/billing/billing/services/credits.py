"""Changes to a subscription's credits by marketplace staff: top-ups and adjustments
(`POST .../credits`), grants (`POST .../grants`, `.../void`), and reading the ledger and grants.

Every change is one credit write (credit_write.py): this module supplies only the change."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from ..domain.access import Caller, Permission, require_residency
from ..domain.credits import add_sold, void
from ..domain.errors import ValidationFailed
from ..domain.grants import (
    PROMOTIONAL_PRIORITY,
    PURCHASED_PRIORITY,
    CreditGrant,
    GrantStatus,
    Priority,
)
from ..domain.idempotency import IdempotencyKey, fingerprint, scope_key
from ..domain.ledger import LedgerEntry
from ..domain.paging import Page
from ..domain.values import (
    ExactDecimal,
    NonNegativeCents,
    PositiveDecimal,
    UtcTimestamp,
    free_text,
)
from .credit_write import CreditWrite, Idempotency, credit_write, staff_grant
from .ledger import Pause
from .reading import subscription_for
from .unit_of_work import Billing

Reason = free_text(max_length=500, min_length=1, strip=True)
Result = TypeVar("Result")


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

    def change(write: CreditWrite) -> LedgerEntry:
        reference = f"request:{request.idempotency_key}"
        if request.amount < 0:
            write.book.take_exactly(-request.amount)
            return write.book.post_draws("adjustment", reference=reference, reason=request.reason)
        price_cents = request.price_cents if request.type == "top_up" else 0
        grant = staff_grant(write, caller, "purchased", request.amount, price_cents, PURCHASED_PRIORITY, request.reason)
        return add_sold(write.book, write.plan, grant, entry_type=request.type, reference=reference)

    keyed = ("credits", request, LedgerEntry)
    return _staff_write(billing, caller, subscription_id, change, keyed, active_only=request.amount > 0, pause=pause)


def create_grant(
    billing: Billing, caller: Caller, subscription_id: str, request: GrantRequest, *, pause: Pause = time.sleep
) -> tuple[CreditGrant, bool]:
    """A purchased or promotional grant with its own priority, start and expiry. Returns (grant, replayed)."""

    def change(write: CreditWrite) -> CreditGrant:
        if request.expires_at is not None and request.expires_at <= write.now:
            raise ValidationFailed.of("expires_at", "must be in the future")
        default_priority = PURCHASED_PRIORITY if request.kind == "purchased" else PROMOTIONAL_PRIORITY
        priority = default_priority if request.priority is None else request.priority
        grant = staff_grant(
            write,
            caller,
            request.kind,
            request.amount,
            request.price_cents,
            priority,
            request.reason,
            effective_at=request.effective_at,
            expires_at=request.expires_at,
        )
        entry_type = "top_up" if request.kind == "purchased" else "grant"
        reference = f"request:grants:{request.idempotency_key}"
        add_sold(write.book, write.plan, grant, entry_type=entry_type, reference=reference)
        return grant

    keyed = ("grants", request, CreditGrant)
    return _staff_write(billing, caller, subscription_id, change, keyed, active_only=True, pause=pause)


def void_grant(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    grant_id: str,
    request: VoidRequest,
    *,
    pause: Pause = time.sleep,
) -> CreditGrant:
    """Its remaining credits leave the balance (a `void` entry); a grant that is not active is 409.
    Voiding is idempotent by nature (a second void finds the grant not active): no key."""
    grant = billing.subscriptions.grant(
        subscription_for(billing, caller, subscription_id, Permission.ADJUST_CREDITS), grant_id
    )

    def change(write: CreditWrite) -> CreditGrant:
        voided = void(write.book, write.plan, grant_id, reason=request.reason)
        return grant.model_copy(update=voided.record_changes())

    voided, _ = _staff_write(billing, caller, subscription_id, change, None, active_only=False, pause=pause)
    return voided


def _staff_write(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    change: Callable[[CreditWrite], Result],
    keyed: tuple[str, CreditChangeRequest | GrantRequest, type[BaseModel]] | None,
    *,
    active_only: bool,
    pause: Pause,
) -> tuple[Result, bool]:
    """A change to credits by marketplace staff, as one credit write. `keyed`: the kind of change,
    the request whose key it carries (scoped to the subscription), and the type its answer replays as."""
    subscription = subscription_for(billing, caller, subscription_id, Permission.ADJUST_CREDITS)
    require_residency(caller, subscription.residency)
    idempotency = None
    if keyed is not None:
        kind, request, result_type = keyed
        scope = scope_key(kind, subscription_id, request.idempotency_key)
        idempotency = Idempotency(scope, fingerprint(request, subscription_id), result_type)
    return credit_write(
        billing,
        change,
        read=lambda: billing.subscriptions.get(subscription_id),
        actor=caller.principal,
        idempotency=idempotency,
        active_only="The subscription is canceled; it takes no more credits." if active_only else None,
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
