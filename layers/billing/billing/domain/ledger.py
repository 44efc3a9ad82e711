"""The credit ledger: every balance change is an entry with the next gapless `seq`, and the
balance it leaves behind. Credits belong to grants (see grants.py); an entry names the grant it
moved, or the allocation of a debit across several. Its `bucket` is the allowance or `purchased`
(every other grant: purchased and promotional credits)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import Conflict
from .values import Credits, TotalCredits, UtcTimestamp

EntryType = Literal["grant", "usage", "top_up", "adjustment", "expiry", "void"]
Bucket = Literal["allowance", "purchased"]


class InsufficientCredits(Conflict):
    """A change would take a balance below zero (409 for credit adjustments)."""

    code = "insufficient_credits"


class GrantAllocation(BaseModel):
    """What one grant paid of a debit (negative, as the entry's amount)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    grant_id: str
    amount: Credits


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
    grant_id: str | None = None  # the grant this entry moved, when it moved one
    # For debits, what each grant paid (a usage chunk or an adjustment may draw from several).
    allocation: list[GrantAllocation] | None = None
    # For usage entries, the credits of the charge that no balance paid (billed as overage):
    # an all-overage batch would otherwise read as an entry of amount 0 and nothing else.
    overage_credits: TotalCredits | None = None
