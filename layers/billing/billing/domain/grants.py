"""Credit grants: every credit a subscription holds belongs to one. The period allowance, each
top-up and each promotion is a grant with its own remaining credits, priority and expiry.

A subscription's *active* grants live on the subscription item itself (at most
MAX_ACTIVE_GRANTS), so one conditional write changes them together with the balances and the
ledger seq. Each grant also has a record of its own (what `GET .../grants` lists): written when
the grant starts, and updated once when it ends (depleted, expired or voided). The write that
changes them is domain/credits.py's."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from annotated_types import Ge, Le
from msgspec import Struct
from pydantic import BaseModel, ConfigDict

from .errors import Conflict, CreditLimitReached
from .ids import new_id
from .ledger import Bucket
from .values import Credits, UtcTimestamp, WholeNumber, format_decimal, format_timestamp

GrantKind = Literal["allowance", "purchased", "promotional"]
GrantStatus = Literal["active", "depleted", "expired", "voided"]
Priority = Annotated[WholeNumber, Ge(0), Le(1000)]

# The active grants ride on the subscription item, which every charge rewrites: a bound keeps that
# item (and so each charge's write units) small. 32 grants are ~4 KB; what lies beyond is refused
# with 409 `grant_limit_reached` (and an auto top-up skipped) until some grant ends.
MAX_ACTIVE_GRANTS = 32
ALLOWANCE_PRIORITY = 0
PURCHASED_PRIORITY = 100
PROMOTIONAL_PRIORITY = 50
AUTO_TOP_UP_ACTOR = "auto-top-up"
_NEVER = datetime.max.replace(tzinfo=None)


class ActiveGrant(BaseModel):
    """A grant as the subscription item carries it: what draw-down and expiry need."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    grant_id: str
    kind: GrantKind
    amount: Credits
    remaining: Credits
    priority: Priority
    effective_at: UtcTimestamp
    expires_at: UtcTimestamp | None = None

    @property
    def bucket(self) -> Bucket:
        """The ledger bucket: the allowance, or everything else (purchased and promotional credits)."""
        return "allowance" if self.kind == "allowance" else "purchased"

    def is_effective(self, now: datetime) -> bool:
        return self.effective_at <= now and not self.has_expired(now)

    def has_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def draw_order(self) -> tuple:
        """Priority, then earliest expiry (none last), then oldest (ids are ULIDs: creation order)."""
        expiry = self.expires_at.replace(tzinfo=None) if self.expires_at else _NEVER
        return (self.priority, expiry, self.grant_id)


class CreditGrant(ActiveGrant):
    """A grant's own record, as the grants endpoints answer it."""

    subscription_id: str
    status: GrantStatus = "active"
    price_cents: Annotated[int, Ge(0)] = 0
    currency: str
    reason: str
    period_start: UtcTimestamp  # the period it was granted in: a priced grant is a line on that period's invoice
    actor: str
    created_at: UtcTimestamp
    ended_at: UtcTimestamp | None = None
    # What left the balance when it expired or was voided (its `remaining` is 0 once ended, so the
    # grants' `remaining` always sum to the balance); None while active and for a depleted grant.
    ended_amount: Credits | None = None

    @classmethod
    def issue(
        cls,
        *,
        subscription_id: str,
        period_start: datetime,
        currency: str,
        kind: GrantKind,
        amount: Decimal,
        priority: int,
        reason: str,
        actor: str,
        now: datetime,
        price_cents: int = 0,
        effective_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> CreditGrant:
        """A new grant, whole (remaining = amount), made now in the period starting `period_start`."""
        return cls(
            grant_id=new_id(now),
            subscription_id=subscription_id,
            kind=kind,
            amount=amount,
            remaining=amount,
            priority=priority,
            effective_at=effective_at or now,
            expires_at=expires_at,
            price_cents=price_cents,
            currency=currency,
            reason=reason,
            period_start=period_start,
            actor=actor,
            created_at=now,
        )

    def active_part(self) -> ActiveGrant:
        return ActiveGrant.model_validate({name: getattr(self, name) for name in ActiveGrant.model_fields})

    def as_of(self, live: ActiveGrant | None) -> CreditGrant:
        """The record with the live remaining credits from the subscription, while the grant is active."""
        return self.model_copy(update={"remaining": live.remaining}) if live and self.status == "active" else self


class GrantEnd(Struct, frozen=True):
    """A grant leaving the active set, with the credits it still had (`remaining`): they leave the
    balance with it. Its record then reads `remaining` 0 and keeps them as `ended_amount`."""

    grant_id: str
    status: GrantStatus
    remaining: Decimal
    at: datetime

    def record_changes(self) -> dict[str, object]:
        """The fields of the grant's record this end sets (both stores apply exactly these)."""
        left = self.remaining if self.status in ("expired", "voided") else None
        return {"status": self.status, "remaining": Decimal(0), "ended_amount": left, "ended_at": self.at}


class GrantNotActive(Conflict):
    code = "grant_not_active"


class GrantLimitReached(Conflict):
    code = "grant_limit_reached"


class Availability(Struct, frozen=True):
    """What a charge may draw, in the contract's words, with what does not count and why. The
    subscription's `available_credits` is `credit_balance` − `held_credits`; a charge now also
    cannot draw grants that are not effective yet, and a hold cannot count on grants that expire
    before it does (its settlement would find them gone). `available` is what is left: the one
    figure the entitlement check, holds and usage refusals answer as `available_credits`."""

    credit_balance: Decimal
    held_credits: Decimal
    not_yet_effective: Decimal  # grants not in effect now (their `effective_at` is still to come)
    expiring_first: Decimal  # grants expiring before `until` (a hold's end); 0 for a charge now
    until: datetime | None = None

    @property
    def available(self) -> Decimal:
        counted = self.credit_balance - self.not_yet_effective - self.expiring_first - self.held_credits
        return max(counted, Decimal(0))

    def details(self) -> dict[str, str]:
        """The figures a 402 shows, so a client sees which credits did not count."""
        shown = {
            "available_credits": format_decimal(self.available),
            "credit_balance": format_decimal(self.credit_balance),
            "held_credits": format_decimal(self.held_credits),
            "not_yet_effective_credits": format_decimal(self.not_yet_effective),
        }
        if self.until is not None:
            shown["expiring_first_credits"] = format_decimal(self.expiring_first)
            shown["needed_until"] = format_timestamp(self.until)
        return shown

    def explained(self) -> str:
        """Why `available` is below the balance, in a sentence (empty when it is not)."""
        reasons = [
            f"{format_decimal(amount)} {why}"
            for amount, why in (
                (self.held_credits, "held for runs in progress"),
                (self.not_yet_effective, "in grants not effective yet"),
                (self.expiring_first, "in grants that expire before the hold would end"),
            )
            if amount > 0
        ]
        return f" Of the {format_decimal(self.credit_balance)} credits, " + "; ".join(reasons) + "." if reasons else ""


def sorted_for_draw(grants: tuple[ActiveGrant, ...]) -> tuple[ActiveGrant, ...]:
    return tuple(sorted(grants, key=ActiveGrant.draw_order))


def priced_cents(amount: Decimal, credit_price_cents: Decimal | None) -> int:
    """A top-up's default price: amount × the plan's credit price, half-even to whole cents."""
    if not credit_price_cents:
        return 0
    return int((amount * credit_price_cents).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def insufficient_credits(credits: Decimal, availability: Availability) -> CreditLimitReached:
    """402 on a `block` plan: the charge is refused whole, nothing written. Its details say what
    was available and which credits did not count, and why."""
    return CreditLimitReached(
        f"The plan blocks overage and the {format_decimal(availability.available)} available credits "
        f"do not cover these {format_decimal(credits)}.{availability.explained()}",
        details={"credits": format_decimal(credits), **availability.details()},
    )
