"""A subscription's credits as one aggregate: the book a write works on (its grants and holds,
drawn, expired, added, voided), what a charge may draw, the posting the write commits with the
events it reports, and the credits side of a period's close.

Every credit write is built here and committed by services/credit_write.py: the one write path.
The subscription carries its active grants and held holds; each grant and hold also has a record
of its own (grants.py, hold_records.py), written when it starts and updated once when it ends."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from msgspec import Struct, field
from msgspec.structs import replace

from .errors import CreditLimitReached, ValidationFailed
from .events import OutboxEvent, outbox_event
from .grants import (
    ALLOWANCE_PRIORITY,
    AUTO_TOP_UP_ACTOR,
    MAX_ACTIVE_GRANTS,
    PURCHASED_PRIORITY,
    ActiveGrant,
    Availability,
    CreditGrant,
    GrantEnd,
    GrantLimitReached,
    GrantNotActive,
    GrantStatus,
    insufficient_credits,
    priced_cents,
    sorted_for_draw,
)
from .hold_records import Hold
from .holds import MAX_ACTIVE_HOLDS, ActiveHold, HoldEnd, HoldLimitReached, HoldNotActive, HoldStatus
from .ids import new_id
from .ledger import Bucket, EntryType, GrantAllocation, InsufficientCredits, LedgerEntry
from .periods import Period, period_at, period_index
from .plans import Plan
from .subscriptions import (
    CREDIT_FIELDS,
    PENDING_FIELDS,
    PERIOD_FIELDS,
    PLAN_FIELDS,
    PendingPlanChange,
    SlaAcceptance,
    Subscription,
    billed_until,
    subscription_canceled,
    subscription_plan_changed,
)
from .values import CREDIT_QUANTUM, MAGNITUDE_LIMIT, MAX_CENTS, format_decimal, format_timestamp

CLOSING_ACTOR = "billing-period-close"
CANCEL_FIELDS = ("status", "canceled_at", *PENDING_FIELDS)  # a cancellation drops a pending plan change

PlanVersions = Callable[[str, int], Plan]  # a plan version by (plan id, version): the plan store's `version`


class PlanSwitch(Struct, frozen=True):
    """A plan change taking effect: the current cycle ends `at` (now, or the period's end) and the
    next period starts there, on `plan`'s cadence and allowance, under `sla_acceptance`."""

    plan: Plan
    at: datetime
    sla_acceptance: SlaAcceptance


class PendingChange(Struct, frozen=True):
    """What a write sets as the subscription's pending plan change (None: drops it)."""

    change: PendingPlanChange | None
    sla_acceptance: SlaAcceptance | None = None


class PeriodClose(Struct, frozen=True):
    """The close a write makes: the period it closes, and the next one (None: closed for good),
    on another plan version when a plan change takes effect (`switch`)."""

    period: Period
    next_period: Period | None
    switch: PlanSwitch | None = None


class GrantRecordChange(Struct, frozen=True):
    """A change to a grant's record other than its end: set `changes` if it holds `expected`."""

    changes: dict[str, object]
    expected: dict[str, object]


class CreditBook(Struct):
    """One write's working copy of a subscription's grants and holds, and what the write appends:
    ledger entries, grant and hold records started and ended."""

    subscription_id: str
    grants: tuple[ActiveGrant, ...]
    seq: int  # the last ledger seq written, as the write read it
    now: datetime
    actor: str
    holds: tuple[ActiveHold, ...] = ()
    # The start of the open period, the one whose allowance may still be spent (None: the final
    # period is closed). An allowance of any other period ended with it, whatever its expires_at.
    open_period: datetime | None = None
    entries: list[LedgerEntry] = field(default_factory=list)
    started: list[CreditGrant] = field(default_factory=list)
    ended: list[GrantEnd] = field(default_factory=list)
    holds_placed: list[Hold] = field(default_factory=list)
    holds_ended: list[HoldEnd] = field(default_factory=list)
    # Grant records a reversal changes besides ending active grants: a depleted grant given credits
    # back is active again; an ended one given back its share and ended again says so.
    regranted: dict[str, GrantRecordChange] = field(default_factory=dict)
    closing: PeriodClose | None = None  # set when this write closes the subscription's period
    cancels: bool = False  # set when this write cancels the subscription
    pending: PendingChange | None = None  # set when this write schedules or drops a plan change
    # What each grant paid since the last `post_draws`, and the bucket it paid from.
    _drawn: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    _drawn_from: dict[str, Bucket] = field(default_factory=dict)

    @classmethod
    def open(cls, subscription: Subscription, now: datetime, actor: str) -> CreditBook:
        """A working copy of the subscription's credits for one write at `now`."""
        return cls(
            subscription.subscription_id,
            subscription.grants,
            subscription.ledger_seq,
            now,
            actor,
            subscription.holds,
            open_period=None if subscription.final_period_closed else subscription.current_period_start,
        )

    @property
    def balance(self) -> Decimal:
        return sum((g.remaining for g in self.grants), Decimal(0))

    def balance_of(self, bucket: Bucket) -> Decimal:
        return sum((g.remaining for g in self.grants if g.bucket == bucket), Decimal(0))

    def available(self) -> Decimal:
        """What effective grants hold now (not yet effective ones wait), held credits included."""
        return sum((g.remaining for g in self.grants if g.is_effective(self.now)), Decimal(0))

    @property
    def auto_top_ups(self) -> int:
        """The auto top-ups this write bought: each counts against the period's quota."""
        return sum(1 for grant in self.started if grant.actor == AUTO_TOP_UP_ACTOR)

    @property
    def expired(self) -> Decimal:
        """The credits this write's expiries wrote off."""
        return sum((-entry.amount for entry in self.entries if entry.type == "expiry"), Decimal(0))

    @property
    def held(self) -> Decimal:
        return sum((h.credits for h in self.holds), Decimal(0))

    def availability(self, *, until: datetime | None = None, renewal: Decimal = Decimal(0)) -> Availability:
        """What a charge now (or, with `until`, a hold lasting until then) may draw: effective
        credits not held for someone else and, with `until`, lasting until then. The allowance
        counts up to its `renewal`: what the next period grants in its place (see `hold_terms`)."""

        def expiring_first(grant: ActiveGrant) -> Decimal:
            if until is None or not grant.is_effective(self.now) or not grant.has_expired(until):
                return Decimal(0)
            if grant.kind == "allowance":
                return max(grant.remaining - renewal, Decimal(0))
            return grant.remaining

        pending = [g for g in self.grants if not g.is_effective(self.now)]
        return Availability(
            credit_balance=self.balance,
            held_credits=self.held,
            not_yet_effective=sum((g.remaining for g in pending), Decimal(0)),
            expiring_first=sum((expiring_first(g) for g in self.grants), Decimal(0)),
            until=until,
        )

    def spendable(self, *, until: datetime | None = None, renewal: Decimal = Decimal(0)) -> Decimal:
        """What a charge may draw (see `availability`)."""
        return self.availability(until=until, renewal=renewal).available

    # --- holds -----------------------------------------------------------------------------
    def place(self, hold: Hold) -> None:
        if len(self.holds) >= MAX_ACTIVE_HOLDS:
            raise HoldLimitReached(
                f"The subscription has {MAX_ACTIVE_HOLDS} holds held, the most it can hold; "
                "settle or release one first.",
                details={"max_active_holds": MAX_ACTIVE_HOLDS},
            )
        self.holds = (*self.holds, hold.active_part())
        self.holds_placed.append(hold)

    def end_hold(self, hold_id: str, status: HoldStatus, *, settled_event_id: str | None = None) -> ActiveHold:
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

    # --- giving back -----------------------------------------------------------------------
    def give_back(
        self, shares: list[GrantAllocation], records: dict[str, CreditGrant], *, reference: str, reason: str
    ) -> LedgerEntry:
        """A `reversal`: each grant gets back what it paid (`shares`, positive). An active grant
        takes it back; a depleted one still in effect is active again with it; a share of a grant
        that has ended since (expired, voided, depleted past its expiry, an allowance whose period
        has closed) is given back and ended again at once (an `expiry` or `void` entry after the
        reversal), so no ended credit becomes spendable. `records`: the grant records of the shares
        not in the active set."""
        refilled: list[ActiveGrant] = []
        ending_again: list[tuple[ActiveGrant, GrantStatus, Decimal]] = []
        for share in shares:
            live = next((g for g in self.grants if g.grant_id == share.grant_id), None)
            if live is not None:
                refilled.append(live.model_copy(update={"remaining": live.remaining + share.amount}))
                continue
            ended_here = next((e for e in self.ended if e.grant_id == share.grant_id), None)
            record = records[share.grant_id]
            status: GrantStatus = record.status if ended_here is None else ended_here.status
            back = record.active_part().model_copy(update={"remaining": share.amount})
            if status == "depleted" and self._in_effect(record):
                self.regranted[share.grant_id] = GrantRecordChange(
                    {"status": "active", "ended_at": None}, {"status": "depleted"}
                )
                refilled.append(back)
            else:
                refilled.append(back)
                ending_again.append((back, "voided" if status == "voided" else "expired", share.amount))
        changed = {g.grant_id for g in refilled}
        self.grants = (*(g for g in self.grants if g.grant_id not in changed), *refilled)
        allocation = [GrantAllocation(grant_id=s.grant_id, amount=s.amount) for s in shares]
        total = sum((s.amount for s in shares), Decimal(0))
        buckets = {g.bucket for g in refilled}
        entry = self._append(
            "reversal",
            total,
            bucket="allowance" if "allowance" in buckets or not buckets else "purchased",
            grant_id=shares[0].grant_id if len(shares) == 1 else None,
            allocation=allocation,
            reference=reference,
            reason=reason,
        )
        for grant, status, amount in ending_again:
            self._end_again(grant, status, amount, records.get(grant.grant_id))
        return entry

    def _in_effect(self, grant: CreditGrant) -> bool:
        """Whether a grant is still in effect: not past its expiry and, an allowance, of the open
        period (a close cut short by a plan change or a cancellation ends the period's allowance
        before its expires_at, and ends only the grants still active then: a depleted one stays
        `depleted` with its expires_at ahead)."""
        if grant.has_expired(self.now):
            return False
        return grant.kind != "allowance" or grant.period_start == self.open_period

    def _end_again(self, grant: ActiveGrant, status: GrantStatus, amount: Decimal, record: CreditGrant | None) -> None:
        """A share given back to a grant that has ended leaves the balance again, and its record
        says so: what it ended with grows by the share."""
        self.grants = tuple(g for g in self.grants if g.grant_id != grant.grant_id)
        position = next((i for i, e in enumerate(self.ended) if e.grant_id == grant.grant_id), None)
        if position is not None:  # ended by this very write (past its expiry): it ends with the share
            end = self.ended[position]
            self.ended[position] = replace(end, remaining=end.remaining + amount)
        else:
            was = record.status
            ended_amount = (record.ended_amount or Decimal(0)) + amount
            changes = {"status": status, "ended_amount": ended_amount}
            if was == "depleted":
                changes["ended_at"] = self.now
            self.regranted[grant.grant_id] = GrantRecordChange(changes, {"status": was})
        entry_type: EntryType = "void" if status == "voided" else "expiry"
        self._append(
            entry_type,
            -amount,
            bucket=grant.bucket,
            grant_id=grant.grant_id,
            reference=f"grant:{grant.grant_id}",
            reason=f"Credits a voided usage event gave back to this {status} {grant.kind} grant end with it",
            actor="billing-expiry" if entry_type == "expiry" else None,
        )

    def as_left(self, record: CreditGrant) -> CreditGrant:
        """A grant's record as this write leaves it (its end, a regrant or an end again applied, as
        the posting writes them), for what the same write composes from it (a correction's draft)."""
        for end in self.ended:
            if end.grant_id == record.grant_id:
                changes = {name: setting for name, setting in end.record_changes().items() if setting is not None}
                record = record.model_copy(update=changes)
        change = self.regranted.get(record.grant_id)
        return record.model_copy(update=change.changes) if change is not None else record

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
                    if self.regranted.pop(grant.grant_id, None) is None:  # revived and drawn again: still depleted
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
        self,
        entry_type: EntryType,
        *,
        reference: str,
        reason: str,
        actor: str | None = None,
        overage: Decimal | None = None,
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

    def fits(self, amount: Decimal, plan: Plan) -> bool:
        """Whether `amount` more credits keep the balance one this API can hold: each period grants
        the allowance on top of what else is held, at this close and every later one."""
        return self.balance - self.balance_of("allowance") + amount + plan.credit_allowance < MAGNITUDE_LIMIT


# --- what a write leaves and posts ---------------------------------------------------------------


def _left_by(before: Subscription, book: CreditBook) -> Subscription:
    """The subscription as `book`'s write leaves it: its grants and holds, their sums, the last seq,
    the next revision; a close also moves the period (or ends it for good)."""
    after = before.model_copy(
        update={
            "grants": book.grants,
            "allowance_balance": book.balance_of("allowance"),
            "purchased_balance": book.balance_of("purchased"),
            "credit_balance": book.balance,
            "ledger_seq": book.seq,
            "holds": book.holds,
            "held_credits": book.held,
            "revision": before.revision + 1,
            "auto_top_ups_in_period": before.auto_top_ups_in_period + book.auto_top_ups,
        }
    )
    if book.cancels:
        after = after.canceled(book.now)
    if book.pending is not None:
        pending = book.pending
        after = after.model_copy(
            update={"pending_plan_change": pending.change, "pending_sla_acceptance": pending.sla_acceptance}
        )
    if book.closing is None:
        return after
    if book.closing.next_period is None:
        return after.model_copy(update={"final_period_closed": True})
    if book.closing.switch is not None:
        switch = book.closing.switch
        after = after.switched(switch.plan, switch.at, switch.sla_acceptance)
    return after.model_copy(
        update={
            "current_period_start": book.closing.next_period.start,
            "current_period_end": book.closing.next_period.end,
            "auto_top_ups_in_period": 0,
        }
    )


class CreditPosting(Struct, frozen=True):
    """One write to a subscription's credits: the subscription as it leaves it, and what it appends
    (ledger entries; grant and hold records started and ended; the events it reports). The write
    is conditioned on the subscription's revision still being `previous_revision` (a hold's
    release moves no ledger seq); a close also on the period it closes being still the current one."""

    subscription: Subscription
    previous_revision: int
    entries: tuple[LedgerEntry, ...] = ()
    started: tuple[CreditGrant, ...] = ()
    ended: tuple[GrantEnd, ...] = ()
    holds_placed: tuple[Hold, ...] = ()
    holds_ended: tuple[HoldEnd, ...] = ()
    events: tuple[OutboxEvent, ...] = ()
    regranted: tuple[tuple[str, GrantRecordChange], ...] = ()
    closes_period: datetime | None = None  # the start of the period the write closes
    cancels: bool = False  # the write cancels the subscription (it must still be active)
    switches_plan: bool = False  # a plan change takes effect at the close
    sets_pending: bool = False  # the write schedules or drops a plan change

    @classmethod
    def of(cls, before: Subscription, book: CreditBook) -> CreditPosting:
        """Every credit write is built here, so every one of them reports its events (and carries
        the low-balance alert they leave)."""
        after = _left_by(before, book)
        events, alerted = credit_events(before, after, book)
        if book.cancels:
            events = (*events, subscription_canceled(after, at=book.now))
        switch = book.closing.switch if book.closing else None
        if switch is not None:
            events = (*events, subscription_plan_changed(before, after, at=switch.at))
        return cls(
            after.model_copy(update={"low_balance_alerted": alerted}),
            before.revision,
            tuple(book.entries),
            tuple(book.started),
            tuple(book.ended),
            tuple(book.holds_placed),
            tuple(book.holds_ended),
            events,
            tuple(book.regranted.items()),
            book.closing.period.start if book.closing else None,
            book.cancels,
            switch is not None,
            book.pending is not None,
        )

    @property
    def fields(self) -> tuple[str, ...]:
        """The subscription's fields the write sets."""
        return (
            CREDIT_FIELDS
            + (PERIOD_FIELDS if self.closes_period else ())
            + (CANCEL_FIELDS if self.cancels else ())
            + (PLAN_FIELDS if self.switches_plan else ())
            + (PENDING_FIELDS if self.sets_pending and not self.cancels and not self.switches_plan else ())
        )

    def reporting(self, *events: OutboxEvent) -> CreditPosting:
        """This posting with more events in its transaction (e.g. HoldExpired, from `outbox_event`)."""
        return replace(self, events=(*self.events, *events))


def credit_events(before: Subscription, after: Subscription, book: CreditBook) -> tuple[tuple[OutboxEvent, ...], bool]:
    """What a credit write reports, and whether the low-balance alert stands after it.

    One `HoldExpired` per hold the write found past its expiry, one `CreditsToppedUp` per `top_up`
    entry. The balance events compare the balance before and after the whole write, so a period
    close that expires the allowance and grants the next one says nothing, and an alert is raised
    once per crossing: `low_balance_alerted` is set when the balance falls below the threshold and
    cleared once it is back at or above it (a write with no ledger entry, such as placing a hold,
    moves no balance and decides nothing). A canceled subscription takes no more usage: its
    write-offs raise no alerts."""
    at, entries = book.now, book.entries
    held = {hold.hold_id: hold for hold in before.holds}
    expired = [
        outbox_event(
            "HoldExpired",
            after,
            occurred_at=at,
            hold=held[end.hold_id].model_dump(mode="json")
            | {"status": "expired", "ended_at": format_timestamp(end.at)},
        )
        for end in book.holds_ended
        if end.status == "expired" and end.hold_id in held
    ]
    top_ups = [
        outbox_event("CreditsToppedUp", after, occurred_at=at, ledger_entry=entry)
        for entry in entries
        if entry.type == "top_up"
    ]
    threshold = after.low_balance_threshold(_allowance(after) or _allowance(before))
    balance, previous = after.credit_balance, before.credit_balance
    alerted = before.low_balance_alerted and balance < threshold
    crossings: list[OutboxEvent] = []
    if after.is_active and entries:
        last = entries[-1]
        if balance < threshold and not before.low_balance_alerted:
            alerted = True
            crossings.append(
                outbox_event(
                    "CreditBalanceLow",
                    after,
                    occurred_at=at,
                    credit_balance=format_decimal(balance),
                    threshold_credits=format_decimal(threshold),
                    ledger_entry=last,
                )
            )
        if balance <= 0 < previous:
            crossings.append(
                outbox_event("CreditsDepleted", after, occurred_at=at, credit_balance="0", ledger_entry=last)
            )
    return (*expired, *crossings, *top_ups), alerted


def _allowance(subscription: Subscription) -> Decimal:
    """The period allowance, for the default threshold (10% of it)."""
    return next((g.amount for g in subscription.grants if g.kind == "allowance"), Decimal(0))


# --- charges -----------------------------------------------------------------------------------


class ChargeTerms(Struct, frozen=True):
    """What a charge of `credits` may draw from a book (`availability`: what is available, and what
    does not count), and whether the plan refuses it (a `block` plan refuses what would be overage;
    an `allow` plan bills it)."""

    credits: Decimal
    availability: Availability
    refused: bool

    @property
    def spendable(self) -> Decimal:
        return self.availability.available


def charge_terms(
    book: CreditBook,
    plan: Plan,
    credits: Decimal,
    *,
    guaranteed: Decimal = Decimal(0),
    lasting_until: datetime | None = None,
    renewal: Decimal = Decimal(0),
) -> ChargeTerms:
    """The one decision on a charge, for every charge and every question about one (usage, a
    settlement, a hold, the entitlement check). `guaranteed`: what a settled hold reserved for it
    (owed even when the grants behind it expired meanwhile). `lasting_until`: count only credits
    that last until then (a hold's expiry), the allowance up to its `renewal`."""
    availability = book.availability(until=lasting_until, renewal=renewal)
    excess = credits - guaranteed
    refused = plan.overage_policy != "allow" and excess > max(availability.available - guaranteed, Decimal(0))
    return ChargeTerms(credits, availability, refused)


def charge(book: CreditBook, plan: Plan, credits: Decimal, *, guaranteed: Decimal = Decimal(0)) -> Decimal:
    """Draw a charge from the book in draw-down order; returns its overage (what the spendable
    credits did not pay). A charge the plan refuses is 402 and draws nothing."""
    terms = charge_terms(book, plan, credits, guaranteed=guaranteed)
    if terms.refused:
        raise insufficient_credits(credits, terms.availability)
    return book.draw(credits)


def void(book: CreditBook, plan: Plan, grant_id: str, *, reason: str) -> GrantEnd:
    """Void an active grant. On a `block` plan held credits are guaranteed: voiding them is refused,
    not overdrawn."""
    voided = book.void(grant_id, reason=reason, reference=f"grant:{grant_id}")
    if plan.overage_policy != "allow" and book.available() < book.held:
        raise InsufficientCredits(
            "Runs in progress hold some of this grant's credits; settle or release their holds first.",
            details={"held_credits": format_decimal(book.held)},
        )
    return voided


def add_sold(book: CreditBook, plan: Plan, grant: CreditGrant, *, entry_type: EntryType, reference: str) -> LedgerEntry:
    """Add a grant staff made (422 when the balance it leaves is beyond what the API holds)."""
    if not book.fits(grant.amount, plan):
        raise ValidationFailed.of(
            "amount",
            "would take the credit balance to 10^12 or more "
            "(credits held beyond the allowance, plus the period allowance, stay below 10^12)",
        )
    return book.add(grant, entry_type=entry_type, reference=reference)


def auto_top_up(subscription: Subscription, plan: Plan, book: CreditBook) -> CreditGrant | None:
    """The purchased grant an auto top-up adds when a charge has left the balance under its
    threshold, if the period's quota allows another (and the grant fits: else none, until later).
    Never an unpriced one (credits the organization adds on its own initiative are always sold) nor
    one priced beyond what an invoice holds: the settings and a plan change refuse both; this holds
    for settings stored before that."""
    settings = subscription.auto_top_up
    price = priced_cents(settings.amount, plan.credit_price_cents) if settings else 0
    if (
        settings is None
        or not settings.enabled
        or not 1 <= price <= MAX_CENTS
        or book.balance >= settings.threshold_credits
        or subscription.auto_top_ups_in_period >= settings.max_per_period
        or len(book.grants) >= MAX_ACTIVE_GRANTS
        or not book.fits(settings.amount, plan)
    ):
        return None
    return CreditGrant.issue(
        subscription_id=subscription.subscription_id,
        period_start=subscription.current_period_start,
        currency=plan.currency,
        kind="purchased",
        amount=settings.amount,
        priority=PURCHASED_PRIORITY,
        reason=f"Auto top-up: the balance fell below {format_decimal(settings.threshold_credits)} credits",
        actor=AUTO_TOP_UP_ACTOR,
        now=book.now,
        price_cents=price,  # at least 1, at most MAX_CENTS
    )


# --- the period's close ------------------------------------------------------------------------


def allowance_grant(
    subscription: Subscription,
    plan: Plan,
    period: Period,
    *,
    now: datetime,
    actor: str,
    amount: Decimal | None = None,
) -> CreditGrant:
    """The period's allowance (`amount`: the plan's unless less fits): drawn first (priority 0),
    expiring with the period."""
    return CreditGrant.issue(
        subscription_id=subscription.subscription_id,
        period_start=period.start,
        currency=plan.currency,
        kind="allowance",
        amount=plan.credit_allowance if amount is None else amount,
        priority=ALLOWANCE_PRIORITY,
        reason=f"Credit allowance of {plan.name} v{plan.version} for the period",
        actor=actor,
        now=now,
        effective_at=period.start,
        expires_at=period.end,
    )


def cancel_on(book: CreditBook) -> None:
    """A cancellation's credits: its held holds are released (no usage is accepted after it, so none
    could be settled, and their credits must not stay reserved)."""
    for hold in book.holds:
        book.end_hold(hold.hold_id, "released")
    book.cancels = True


def close_period(
    book: CreditBook, subscription: Subscription, plan: Plan, switch: PlanSwitch | None = None
) -> PeriodClose:
    """The credits side of closing the subscription's current period: its allowance expires with
    it (a final period's at the cancellation, a period a plan change cuts short at the change), and
    so does every other grant whose time has come; the next period, if there is one, is granted
    its allowance: on the new plan version when `switch` takes effect (the subscription given has
    its cycle ended at the switch: `Subscription.ending_cycle_at`)."""
    period = subscription.current_period
    # Canceled at or before the period's end: this is its last period (canceled exactly at the end,
    # the period bills whole and no empty period follows).
    final = subscription.canceled_at is not None and subscription.canceled_at <= period.end
    cut_short = billed_until(subscription, period) < period.end
    book.expire_due(also=lambda grant: (final or cut_short) and grant.kind == "allowance")
    next_period = None
    if final:
        switch = None  # a cancellation drops a pending change: nothing follows the final period
    else:
        next_plan = switch.plan if switch else plan
        if switch is not None:
            next_period = period_at(switch.at, next_plan.billing_cadence, 0)
        else:
            anchor, cadence = subscription.billing_cycle_anchor, subscription.billing_cadence
            next_period = period_at(anchor, cadence, period_index(anchor, cadence, period.start) + 1)
        # The allowance always fits on the plan it renews on (every credit added is checked against
        # it); a pending change's bigger one fits as far as the balance can hold it (a top-up made
        # after the change was scheduled may leave less room than it had then): the rest is not granted.
        allowance = min(next_plan.credit_allowance, MAGNITUDE_LIMIT - CREDIT_QUANTUM - book.balance)
        if allowance > 0:
            book.add(
                allowance_grant(
                    subscription, next_plan, next_period, now=book.now, actor=CLOSING_ACTOR, amount=allowance
                ),
                entry_type="grant",
                reference=f"period:{format_timestamp(next_period.start)}",
                within_limit=False,  # the period's own allowance always fits: the last one just expired
            )
    book.closing = PeriodClose(period, next_period, switch)
    return book.closing


def check_switch(book: CreditBook, plan: Plan, at: datetime) -> None:
    """Whether the book may switch to `plan` at `at` (now, or the period's end): the balance it would
    start the next period with stays one this API holds (422 `plan_id`), and on a `block` plan it
    covers the holds held beyond `at` (invariant 10: else 402, settle or release holds first).
    What the next period starts with: the credits lasting beyond `at` other than the allowance
    (which expires with the period), plus the new plan's allowance."""
    if not book.fits(Decimal(0), plan):
        raise ValidationFailed.of(
            "plan_id",
            f"plan '{plan.plan_id}' grants {format_decimal(plan.credit_allowance)} credits a period: with the "
            "credits the subscription holds beyond its allowance, that would take the balance to 10^12 or more",
        )
    if plan.overage_policy == "allow":
        return
    held = sum((h.credits for h in book.holds if not h.has_expired(at)), Decimal(0))
    lasting = sum((g.remaining for g in book.grants if g.kind != "allowance" and not g.has_expired(at)), Decimal(0))
    starts_with = lasting + plan.credit_allowance
    if held > starts_with:
        raise CreditLimitReached(
            f"Plan '{plan.plan_id}' blocks overage, and the {format_decimal(starts_with)} credits the "
            f"subscription would hold on it do not cover the {format_decimal(held)} credits held for runs "
            "in progress; settle or release holds first.",
            details={
                "credit_balance": format_decimal(starts_with),
                "held_credits": format_decimal(held),
                "effective_at": format_timestamp(at),
            },
        )


def hold_terms(
    book: CreditBook, subscription: Subscription, plan: Plan, plans: PlanVersions, credits: Decimal, *, until: datetime
) -> ChargeTerms:
    """The decision on a hold of `credits` lasting `until`. It counts only credits that outlive it
    (else an expiring grant would leave it unbacked), the allowance up to what the next period
    grants in its place: nothing after a cancellation, a pending change's allowance when that
    change is to a `block` plan and takes effect before the hold ends (its close must leave the
    hold covered: invariant 10), else the plan's own (never less than what is left of it). It is
    refused when a `block` plan it lives under, this one or that pending one, would not cover it."""
    switch = pending_switch(subscription, plans) if subscription.is_active else None
    later = switch.plan if switch is not None and switch.at < until and switch.plan.overage_policy != "allow" else None
    if not subscription.is_active:
        renewal = Decimal(0)
    else:
        renewal = later.credit_allowance if later is not None else plan.credit_allowance
    terms = charge_terms(book, plan, credits, lasting_until=until, renewal=renewal)
    if later is not None and not terms.refused:
        terms = charge_terms(book, later, credits, lasting_until=until, renewal=renewal)
    return terms


def pending_switch(subscription: Subscription, plans: PlanVersions) -> PlanSwitch | None:
    """The pending plan change, as it takes effect at the end of the current period."""
    pending = subscription.pending_plan_change
    if pending is None:
        return None
    if subscription.canceled_at is not None and subscription.canceled_at <= subscription.current_period_end:
        return None  # canceled within the period: nothing follows it
    return PlanSwitch(
        plans(pending.plan_id, pending.plan_version),
        subscription.current_period_end,
        subscription.pending_sla_acceptance or subscription.sla_acceptance,
    )


def rolled_forward(
    subscription: Subscription, plans: PlanVersions, now: datetime, actor: str, *, closing_the_final: bool = True
) -> Subscription:
    """The subscription as a write at `now` would find it, without writing: every period ended by
    then closed, as the close does it (a pending plan change taking effect at its end). Without
    `closing_the_final`, a canceled subscription's final period stays open: the one still to draft."""
    while subscription.period_due(now):
        canceled_at = subscription.canceled_at
        if not closing_the_final and canceled_at is not None and canceled_at <= subscription.current_period_end:
            break  # the final period, as close_period decides it
        switch = pending_switch(subscription, plans)
        if switch is not None:
            subscription = subscription.ending_cycle_at(switch.at)
        book = CreditBook.open(subscription, now, actor)
        close_period(book, subscription, plans(subscription.plan_id, subscription.plan_version), switch)
        subscription = _left_by(subscription, book)
    return subscription


def as_of(subscription: Subscription, plans: PlanVersions, now: datetime, actor: str) -> CreditBook:
    """The book a write at `now` would open, without writing: every period ended by then closed
    (as the close does it), and whatever is past its expiry written off."""
    book = CreditBook.open(rolled_forward(subscription, plans, now, actor), now, actor)
    book.expire_due()
    return book
