"""Credit top-ups and adjustments, and reading the ledger. Positive amounts land in the purchased
bucket; a negative adjustment may not take it below zero."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationInfo, field_validator

from ..domain.access import Caller, Permission, require_residency
from ..domain.errors import Conflict, ValidationFailed
from ..domain.idempotency import fingerprint, scope_key
from ..domain.ids import new_id
from ..domain.ledger import LedgerEntry
from ..domain.paging import Page
from ..domain.values import MAGNITUDE_LIMIT, ExactDecimal
from .ledger import Pause, RecordFor, run_idempotently
from .subscriptions import subscription_for
from .unit_of_work import Billing

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$")]


class CreditChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: Literal["top_up", "adjustment"]  # before `amount`, whose check reads it
    amount: ExactDecimal
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    idempotency_key: IdempotencyKey

    @field_validator("amount")
    @classmethod
    def _signed_as_its_type_allows(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("type") == "top_up" and amount <= 0:
            raise ValueError("a top_up amount must be greater than zero")
        if amount == 0:
            raise ValueError("an adjustment amount must not be zero")
        return amount


def change_credits(
    billing: Billing, caller: Caller, subscription_id: str, request: CreditChangeRequest, *, pause: Pause = time.sleep
) -> tuple[LedgerEntry, bool]:
    """Append a top-up or adjustment to the ledger. Returns (entry, replayed)."""
    subscription = subscription_for(billing, caller, subscription_id, Permission.ADJUST_CREDITS)
    require_residency(caller, subscription.residency)
    allowance = billing.plans.version(subscription.plan_id, subscription.plan_version).credit_allowance
    subscriptions, now = billing.subscriptions, billing.now()

    def attempt(record_for: RecordFor) -> LedgerEntry:
        current = subscriptions.get(subscription_id)
        if request.type == "top_up" and not current.is_active:
            raise Conflict("The subscription is canceled; it takes no more top-ups.", code="no_active_subscription")
        balances = current.balances.changed("purchased", request.amount)
        if request.amount > 0 and balances.purchased + allowance >= MAGNITUDE_LIMIT:
            # Each period grants the allowance on top of what was purchased: the sum must stay a
            # balance this API can hold, at this close and every later one.
            raise ValidationFailed.of(
                "amount",
                "would take the credit balance to 10^12 or more "
                "(purchased credits plus the period allowance stay below 10^12)",
            )
        seq = current.ledger_seq + 1
        entry = LedgerEntry(
            subscription_id=subscription_id,
            seq=seq,
            entry_id=new_id(now),
            type=request.type,
            amount=request.amount,
            bucket="purchased",
            balance_after=balances.total,
            reference=f"request:{request.idempotency_key}",
            actor=caller.principal,
            reason=request.reason,
            created_at=now,
        )
        subscriptions.append(
            current.with_balances(balances, seq),
            entry,
            idempotency=record_for(entry),
            require_active=request.type == "top_up",
        )
        return entry

    return run_idempotently(
        subscriptions,
        scope=scope_key("credits", subscription_id, request.idempotency_key),
        fingerprint=fingerprint(request, subscription_id),
        result_type=LedgerEntry,
        attempt=attempt,
        now=now,
        pause=pause,
    )


def read_ledger(
    billing: Billing, caller: Caller, subscription_id: str, *, limit: int, cursor: str | None
) -> Page[LedgerEntry]:
    subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    return billing.subscriptions.ledger_page(subscription_id, limit=limit, cursor=cursor)
