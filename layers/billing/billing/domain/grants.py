"""Credit grants: every credit a subscription holds belongs to one. The period allowance, each
top-up and each promotion is a grant with its own remaining credits, priority and expiry.

A subscription's *active* grants live on the subscription item itself (at most
MAX_ACTIVE_GRANTS), so one conditional write changes them together with the balances and the
ledger seq. Each grant also has a record of its own (what `GET .../grants` lists): written when
the grant starts, and updated once when it ends (depleted, expired or voided).

`CreditBook` is the working copy of one write: it expires what is due, draws in draw-down order,
adds and voids grants, and collects the ledger entries and grant records that the write commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict

from .errors import Conflict
from .holds import MAX_ACTIVE_HOLDS, ActiveHold, HoldEnd, HoldLimitReached, HoldNotActive
from .ids import new_id
from .ledger import Bucket, EntryType, GrantAllocation, InsufficientCredits, LedgerEntry
from .periods import Period
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


@dataclass(frozen=True)
class GrantEnd:
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


@dataclass(frozen=True)
class Availability:
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


@dataclass
class CreditBook:
    """One write's working copy of a subscription's grants and the ledger entries it appends."""

    subscription_id: str
    grants: tuple[ActiveGrant, ...]
    seq: int  # the last ledger seq written, as the write read it
    now: datetime
    actor: str
    holds: tuple[ActiveHold, ...] = ()
    entries: list[LedgerEntry] = field(default_factory=list)
    started: list[CreditGrant] = field(default_factory=list)
    ended: list[GrantEnd] = field(default_factory=list)
    holds_placed: list = field(default_factory=list)  # hold records (services/holds.py)
    holds_ended: list[HoldEnd] = field(default_factory=list)
    # What each grant paid since the last `post_draws`, and the bucket it paid from.
    _drawn: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    _drawn_from: dict[str, Bucket] = field(default_factory=dict)

    @property
    def balance(self) -> Decimal:
        return sum((g.remaining for g in self.grants), Decimal(0))

    def balance_of(self, bucket: Bucket) -> Decimal:
        return sum((g.remaining for g in self.grants if g.bucket == bucket), Decimal(0))

    def available(self) -> Decimal:
        """What effective grants hold now (not yet effective ones wait), held credits included."""
        return sum((g.remaining for g in self.grants if g.is_effective(self.now)), Decimal(0))

    @property
    def held(self) -> Decimal:
        return sum((h.credits for h in self.holds), Decimal(0))

    def availability(self, *, until: datetime | None = None, allowance_renews: bool = False) -> Availability:
        """What a charge now (or, with `until`, a hold lasting until then) may draw: effective
        credits not held for someone else and, with `until`, lasting until then: the allowance
        counts when it renews (an active subscription's next period grants it again)."""

        def expires_first(grant: ActiveGrant) -> bool:
            renewed = allowance_renews and grant.kind == "allowance"
            return until is not None and grant.has_expired(until) and not renewed

        pending = [g for g in self.grants if not g.is_effective(self.now)]
        return Availability(
            credit_balance=self.balance,
            held_credits=self.held,
            not_yet_effective=sum((g.remaining for g in pending), Decimal(0)),
            expiring_first=sum(
                (g.remaining for g in self.grants if g.is_effective(self.now) and expires_first(g)), Decimal(0)
            ),
            until=until,
        )

    def spendable(self, *, until: datetime | None = None, allowance_renews: bool = False) -> Decimal:
        """What a charge may draw (see `availability`)."""
        return self.availability(until=until, allowance_renews=allowance_renews).available

    # --- holds -----------------------------------------------------------------------------
    def place(self, hold) -> None:
        if len(self.holds) >= MAX_ACTIVE_HOLDS:
            raise HoldLimitReached(
                f"The subscription has {MAX_ACTIVE_HOLDS} holds held, the most it can hold; "
                "settle or release one first.",
                details={"max_active_holds": MAX_ACTIVE_HOLDS},
            )
        self.holds = (*self.holds, hold.active_part())
        self.holds_placed.append(hold)

    def end_hold(self, hold_id: str, status: str, *, settled_event_id: str | None = None) -> ActiveHold:
        """Take the hold out of the held set: its credits are spendable again."""
        hold = next((h for h in self.holds if h.hold_id == hold_id), None)
        if hold is None:
            raise HoldNotActive(f"Hold '{hold_id}' is not held any more; it was settled, released or expired.")
        self.holds = tuple(h for h in self.holds if h.hold_id != hold_id)
        self.holds_ended.append(HoldEnd(hold_id, status, self.now, settled_event_id))
        return hold

    # --- expiry and void -------------------------------------------------------------------
    def expire_due(self, *, also: Callable[[ActiveGrant], bool] = lambda grant: False) -> None:
        """An `expiry` entry for each grant past its expiry (and each grant `also` names), soonest
        first; holds past their expiry end (no entry: a hold never moved the balance)."""
        for hold in [h for h in self.holds if h.has_expired(self.now)]:
            self.end_hold(hold.hold_id, "expired")
        due = [g for g in self.grants if g.has_expired(self.now) or also(g)]
        for grant in sorted(due, key=ActiveGrant.draw_order):
            self._end(grant, "expired")
            if grant.remaining > 0:
                self._append(
                    "expiry",
                    -grant.remaining,
                    bucket=grant.bucket,
                    grant_id=grant.grant_id,
                    reference=f"grant:{grant.grant_id}",
                    reason=f"Unused {grant.kind} credits expired"
                    + (f" at {format_timestamp(grant.expires_at)}" if grant.has_expired(self.now) else ""),
                    actor="billing-expiry",
                )

    def void(self, grant_id: str, *, reason: str, reference: str) -> GrantEnd:
        grant = next((g for g in self.grants if g.grant_id == grant_id), None)
        if grant is None:
            raise GrantNotActive(f"Grant '{grant_id}' is not active; only active grants can be voided.")
        end = self._end(grant, "voided")
        self._append(
            "void", -grant.remaining, bucket=grant.bucket, grant_id=grant_id, reference=reference, reason=reason
        )
        return end

    def _end(self, grant: ActiveGrant, status: GrantStatus) -> GrantEnd:
        self.grants = tuple(g for g in self.grants if g.grant_id != grant.grant_id)
        end = GrantEnd(grant.grant_id, status, grant.remaining, self.now)
        self.ended.append(end)
        return end

    # --- adding ----------------------------------------------------------------------------
    def add(
        self, grant: CreditGrant, *, entry_type: EntryType, reference: str, within_limit: bool = True
    ) -> LedgerEntry:
        if within_limit and len(self.grants) >= MAX_ACTIVE_GRANTS:
            raise GrantLimitReached(
                f"The subscription has {MAX_ACTIVE_GRANTS} active grants, the most it can hold; "
                "wait for one to be used up or expire, or void one.",
                details={"max_active_grants": MAX_ACTIVE_GRANTS},
            )
        self.grants = (*self.grants, grant.active_part())
        self.started.append(grant)
        return self._append(
            entry_type,
            grant.amount,
            bucket=grant.bucket,
            grant_id=grant.grant_id,
            reference=reference,
            reason=grant.reason,
            actor=grant.actor,
        )

    # --- drawing ---------------------------------------------------------------------------
    def draw(self, credits: Decimal) -> Decimal:
        """Take up to `credits` of the spendable credits, from effective grants in draw-down order;
        returns what they did not pay (the shortfall). What each grant paid accumulates until
        `post_draws`. Held credits are reserved against the balance, not against one grant."""
        taking = min(credits, self.spendable())
        shortfall, left = credits - taking, taking
        kept: list[ActiveGrant] = []
        for grant in sorted_for_draw(self.grants):
            if left > 0 and grant.is_effective(self.now) and grant.remaining > 0:
                taken = min(left, grant.remaining)
                left -= taken
                self._drawn[grant.grant_id] += taken
                self._drawn_from[grant.grant_id] = grant.bucket
                grant = grant.model_copy(update={"remaining": grant.remaining - taken})
                if grant.remaining == 0:
                    self.ended.append(GrantEnd(grant.grant_id, "depleted", Decimal(0), self.now))
                    continue
            kept.append(grant)
        self.grants = tuple(kept)
        return shortfall

    def take_exactly(self, credits: Decimal) -> None:
        """Draw `credits`, all of it or nothing: a negative adjustment may not take the balance below
        zero, nor take credits held for a run."""
        if credits > self.spendable():
            raise InsufficientCredits(
                "This would take the credit balance below zero (or below what holds reserve).",
                details={"spendable": format_decimal(self.spendable()), "amount": format_decimal(-credits)},
            )
        self.draw(credits)

    def post_draws(
        self, entry_type: EntryType, *, reference: str, reason: str, actor: str | None = None, overage=None
    ) -> LedgerEntry | None:
        """One entry for everything drawn since the last post (a batch chunk: many events, one entry)."""
        drawn = {grant_id: amount for grant_id, amount in self._drawn.items() if amount > 0}
        buckets = {self._drawn_from[g] for g in drawn}
        self._drawn.clear()
        self._drawn_from.clear()
        if not drawn and overage is None:
            return None
        allocation = [GrantAllocation(grant_id=g, amount=-a) for g, a in drawn.items()]
        return self._append(
            entry_type,
            -sum(drawn.values(), Decimal(0)),
            bucket="allowance" if "allowance" in buckets or not buckets else "purchased",
            grant_id=next(iter(drawn)) if len(drawn) == 1 else None,
            allocation=allocation,
            reference=reference,
            reason=reason,
            actor=actor,
            overage=overage,
        )

    def _append(
        self,
        entry_type: EntryType,
        amount: Decimal,
        *,
        bucket: Bucket,
        reference: str,
        reason: str,
        grant_id: str | None = None,
        allocation: list[GrantAllocation] | None = None,
        actor: str | None = None,
        overage: Decimal | None = None,
    ) -> LedgerEntry:
        self.seq += 1
        entry = LedgerEntry(
            subscription_id=self.subscription_id,
            seq=self.seq,
            entry_id=new_id(self.now),
            type=entry_type,
            amount=amount,
            bucket=bucket,
            grant_id=grant_id,
            allocation=allocation,
            overage_credits=overage,
            balance_after=self.balance,
            reference=reference,
            actor=actor or self.actor,
            reason=reason,
            created_at=self.now,
        )
        self.entries.append(entry)
        return entry


def priced_cents(amount: Decimal, credit_price_cents: Decimal | None) -> int:
    """A top-up's default price: amount × the plan's credit price, half-even to whole cents."""
    if not credit_price_cents:
        return 0
    return int((amount * credit_price_cents).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def allowance_grant(subscription, plan, period: Period, *, now: datetime, actor: str) -> CreditGrant:
    """The period's allowance: drawn first (priority 0), expiring with the period."""
    return CreditGrant.issue(
        subscription_id=subscription.subscription_id,
        period_start=period.start,
        currency=plan.currency,
        kind="allowance",
        amount=plan.credit_allowance,
        priority=ALLOWANCE_PRIORITY,
        reason=f"Credit allowance of {plan.name} v{plan.version} for the period",
        actor=actor,
        now=now,
        effective_at=period.start,
        expires_at=period.end,
    )
