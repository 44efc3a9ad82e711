"""Credit holds: a long run reserves what it will cost before it starts (TigerBeetle's pending
transfers). A hold lowers `available_credits`, never `credit_balance`: no ledger entry until it
settles, when it becomes one usage charge and the rest is released in the same transaction.
A hold not settled by `expires_at` expires: never charged, its credits available again.

Like grants, a subscription's *held* holds ride on its item (at most MAX_ACTIVE_HOLDS), so one
conditional write changes them with its balances; each hold also has a record of its own
(`GET /holds/{id}`: services/holds.py), written when it is placed and updated once when it ends."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from msgspec import Struct
from pydantic import BaseModel, ConfigDict

from .errors import Conflict, NotFound
from .ids import new_id
from .values import Credits, UtcTimestamp

HoldStatus = Literal["held", "settled", "released", "expired"]
# Held holds ride on the subscription item every charge rewrites: bounded like grants. The worst
# transaction a bound allows: a period close writing off 33 grants (the 32 allowed and the
# exempt allowance: an entry and a record each), ending 24 holds, granting the next allowance (2),
# the subscription and the draft: 66 + 24 + 2 + 2 = 94 of DynamoDB's 100 items.
MAX_ACTIVE_HOLDS = 24
DEFAULT_HOLD_SECONDS = 3600


class ActiveHold(BaseModel):
    """A held hold as the subscription item carries it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    hold_id: str
    credits: Credits
    expires_at: UtcTimestamp

    def has_expired(self, now: datetime) -> bool:
        return self.expires_at <= now


class HoldEnd(Struct, frozen=True):
    hold_id: str
    status: HoldStatus
    at: datetime
    settled_event_id: str | None = None


class HoldNotActive(Conflict):
    code = "hold_not_active"


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"


def new_hold_id(subscription_id: str, now: datetime) -> str:
    """The subscription's id is part of the hold's, so `GET /holds/{id}` finds it with one read."""
    return f"hold_{subscription_id}_{new_id(now)}"


def subscription_of(hold_id: str) -> str:
    """The subscription a hold id names; a malformed id is simply not found."""
    prefix, _, rest = hold_id.partition("_")
    subscription_id, _, suffix = rest.rpartition("_")
    if prefix != "hold" or not subscription_id or not suffix:
        raise NotFound(f"No hold '{hold_id[:128]}'.")
    return subscription_id
