"""The credit ledger: every balance change is an entry with the next gapless `seq`, and the
balance it leaves behind. Credits belong to grants (see grants.py); an entry names the grant it
moved, or the allocation of a debit across several. Its `bucket` is the allowance or `purchased`
(every other grant: purchased and promotional credits)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import Conflict
from .values import Credits, TotalCredits, UtcTimestamp

EntryType = Literal["grant", "usage", "top_up", "adjustment", "expiry", "void", "reversal"]
Bucket = Literal["allowance", "purchased"]


class InsufficientCredits(Conflict):
    """A change would take a balance below zero (409 for credit adjustments)."""

    code = "insufficient_credits"


class GrantAllocation(BaseModel):
    """What one grant paid of a debit (negative, as the entry's amount), or got back (a reversal)."""

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


def shares_of(entry: LedgerEntry, balance_after: Decimal, debited: Decimal) -> list[GrantAllocation]:
    """What each grant paid of one event of a usage chunk, positive: a slice of the chunk entry's
    allocation. A chunk's events draw one after another in draw-down order, each from where the
    one before stopped, and nothing else moves the balance between their draws (expiries come
    before, a top-up after), so the allocation, in the order it was drawn, is the events' shares
    laid end to end: the event's slice starts at what the chunk drew before it, the balance before
    the chunk (`entry.balance_after − entry.amount`) less the event's own `balance_after` and
    `debited` credits."""
    allocation = entry.allocation or (
        [GrantAllocation(grant_id=entry.grant_id, amount=entry.amount)] if entry.grant_id else []
    )
    start = entry.balance_after - entry.amount - balance_after - debited
    end = start + debited
    shares, drawn = [], Decimal(0)
    for paid in allocation:
        amount = -paid.amount
        overlap = min(end, drawn + amount) - max(start, drawn)
        if overlap > 0:
            shares.append(GrantAllocation(grant_id=paid.grant_id, amount=overlap))
        drawn += amount
    if sum((s.amount for s in shares), Decimal(0)) != debited:
        raise ValueError(f"ledger entry {entry.seq} does not account for {debited} credits at {start}")
    return shares
