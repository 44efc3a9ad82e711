"""The credit ledger: every balance change is an entry with the next gapless `seq`, and the
balances it leaves behind. Balances live in two buckets: the allowance (granted each period,
expires at its end) and purchased credits (top-ups, kept until used)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import Conflict
from .values import Credits, TotalCredits, UtcTimestamp, format_decimal

EntryType = Literal["grant", "usage", "top_up", "adjustment", "expiry"]
Bucket = Literal["allowance", "purchased"]


class InsufficientCredits(Conflict):
    """A change would take a balance below zero (409 for credit adjustments)."""

    code = "insufficient_credits"


class CreditBalances(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    allowance: Decimal = Decimal(0)
    purchased: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.allowance + self.purchased

    def changed(self, bucket: Bucket, amount: Decimal) -> CreditBalances:
        """The balances after `amount` (signed) lands in `bucket`; never below zero."""
        after = getattr(self, bucket) + amount
        if after < 0:
            raise InsufficientCredits(
                f"This would take the {bucket} balance below zero.",
                details={
                    "bucket": bucket,
                    "balance": format_decimal(getattr(self, bucket)),
                    "amount": format_decimal(amount),
                },
            )
        return self.model_copy(update={bucket: after})


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    subscription_id: str
    seq: int = Field(ge=1)
    entry_id: str
    type: EntryType
    amount: Credits
    bucket: Bucket
    balance_after: Credits
    reference: str
    actor: str
    reason: str
    created_at: UtcTimestamp
    # For usage entries, which bucket paid what (an entry has one `bucket`, a debit may touch both).
    allocation: dict[Bucket, Credits] | None = None
    # For usage entries, the credits of the charge that no balance paid (billed as overage):
    # an all-overage batch would otherwise read as an entry of amount 0 and nothing else.
    overage_credits: TotalCredits | None = None
