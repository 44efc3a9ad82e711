"""Subscriptions: an organization on a plan version, with its period, its credit balances and
the SLA it accepted; and the health a storefront shows for it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from annotated_types import Ge, Le
from msgspec import Struct
from pydantic import BaseModel, ConfigDict, Field, computed_field

from .errors import Conflict, ValidationFailed
from .events import OutboxEvent, outbox_event
from .grants import ActiveGrant
from .holds import ActiveHold
from .ids import OrganizationId, Residency
from .periods import BillingCycle, Period, cycle_at, period_at
from .plans import Plan, PlanId
from .values import (
    Credits,
    Flag,
    NonNegativeDecimal,
    PositiveDecimal,
    TotalCredits,
    UtcTimestamp,
    WholeNumber,
    format_timestamp,
    round_credits,
)

SubscriptionStatus = Literal["active", "canceled"]

LOW_BALANCE_SHARE = Decimal("0.1")  # below 10% of the allowance is "low"
# What a credit write changes on the subscription; a period close also moves the period.
CREDIT_FIELDS = (
    "grants",
    "allowance_balance",
    "purchased_balance",
    "credit_balance",
    "ledger_seq",
    "holds",
    "held_credits",
    "revision",
    "auto_top_ups_in_period",
    "low_balance_alerted",
)
PERIOD_FIELDS = ("current_period_start", "current_period_end", "final_period_closed")
PENDING_FIELDS = ("pending_plan_change", "pending_sla_acceptance")
# What a plan change taking effect sets (with the period's move).
PLAN_FIELDS = (
    "plan_id",
    "plan_version",
    "billing_cadence",
    "billing_cycle_anchor",
    "sla_acceptance",
    "earlier_cycles",
    *PENDING_FIELDS,
)
STORED_ONLY = ("low_balance_alerted", "earlier_cycles", "pending_sla_acceptance")  # kept, never answered


class SlaAcceptance(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    accepted_by: str
    accepted_at: UtcTimestamp
    sla_tier: str
    sla_version: str


class PendingPlanChange(BaseModel):
    """A plan change waiting for the period's end (`effective: "period_end"`)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    plan_id: PlanId
    plan_version: int
    effective_at: UtcTimestamp


class EarlierCycle(BaseModel):
    """A billing cycle a plan change ended: its periods stay findable (listed, summarised, drafted
    on the plan version they ran on)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    anchor: UtcTimestamp
    cadence: Literal["monthly", "quarterly", "annual"]
    plan_id: PlanId
    plan_version: int
    ended_at: UtcTimestamp


class AutoTopUp(BaseModel):
    """When a charge leaves the balance under `threshold_credits`, buy `amount` more (priced at the
    plan's credit price), at most `max_per_period` times a period."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    enabled: Flag
    threshold_credits: NonNegativeDecimal
    amount: PositiveDecimal
    max_per_period: Annotated[WholeNumber, Ge(1), Le(100)]


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    subscription_id: str
    organization_id: OrganizationId
    plan_id: PlanId
    plan_version: int
    status: SubscriptionStatus
    residency: Residency
    billing_cadence: Literal["monthly", "quarterly", "annual"]
    billing_cycle_anchor: UtcTimestamp
    sla_acceptance: SlaAcceptance
    current_period_start: UtcTimestamp
    current_period_end: UtcTimestamp
    credit_balance: Credits
    allowance_balance: Credits
    purchased_balance: Credits
    ledger_seq: int = Field(ge=0, description="seq of the last ledger entry")
    created_at: UtcTimestamp
    canceled_at: UtcTimestamp | None = None
    final_period_closed: bool = False  # a canceled subscription's last period has been invoiced and closed
    grants: tuple[ActiveGrant, ...] = ()  # the active grants: their remaining credits sum to credit_balance
    holds: tuple[ActiveHold, ...] = ()  # the held holds: their credits sum to held_credits
    held_credits: Credits = Decimal(0)
    revision: int = 0  # every credit write advances it; each is conditioned on the one it read
    auto_top_up: AutoTopUp | None = None
    low_balance_threshold_credits: Credits | None = None  # None: 10% of the plan's allowance
    auto_top_ups_in_period: int = 0
    # Set when the balance falls below the low-balance threshold (CreditBalanceLow was written),
    # cleared once it is back at or above: one alert per crossing. Stored, not answered (`stored`).
    low_balance_alerted: bool = Field(default=False, exclude=True)
    pending_plan_change: PendingPlanChange | None = None
    # The SLA the pending change's version was accepted with: it takes effect with it. Stored only.
    pending_sla_acceptance: SlaAcceptance | None = Field(default=None, exclude=True)
    # The cycles plan changes ended, oldest first (the current one is the anchor and cadence above).
    earlier_cycles: tuple[EarlierCycle, ...] = Field(default=(), exclude=True)

    @computed_field
    @property
    def available_credits(self) -> Credits:
        return self.credit_balance - self.held_credits

    def stored(self, include: set[str] | None = None) -> dict:
        """The fields as the store keeps them: what the API answers, and the internal ones."""
        internal = {
            name: _stored_value(getattr(self, name)) for name in STORED_ONLY if include is None or name in include
        }
        return self.model_dump(include=include) | internal

    def taking(self, other: Subscription, fields: tuple[str, ...]) -> Subscription:
        """This subscription with `fields` as `other` has them (what a conditional update sets)."""
        return self.model_copy(update={name: getattr(other, name) for name in fields})

    def low_balance_threshold(self, allowance: Decimal) -> Decimal:
        if self.low_balance_threshold_credits is not None:
            return self.low_balance_threshold_credits
        return round_credits(allowance * LOW_BALANCE_SHARE)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def current_period(self) -> Period:
        return Period(self.current_period_start, self.current_period_end)

    @property
    def period_closes_at(self) -> datetime | None:
        """When the current period is to be closed: its end, or the cancellation that cut it short
        (the final close); None once the final period is closed."""
        return None if self.final_period_closed else billed_until(self, self.current_period)

    def period_due(self, now: datetime) -> bool:
        """Whether the current period has ended by `now` and is still to be closed."""
        return self.period_closes_at is not None and self.period_closes_at <= now

    @property
    def due_at(self) -> datetime | None:
        """When the scheduled run next has work here: the period's close, or the first grant or hold
        to expire, whichever comes first; None when nothing will fall due. The one definition the
        run and the store's due index use (the store derives the index attributes from it on every
        write of the subscription item)."""
        moments = [
            self.period_closes_at,
            *(grant.expires_at for grant in self.grants),
            *(hold.expires_at for hold in self.holds),
        ]
        return min((m for m in moments if m is not None), default=None)

    @property
    def cycles(self) -> tuple[BillingCycle, ...]:
        """Every billing cycle, oldest first: those plan changes ended, then the current one."""
        earlier = tuple(BillingCycle(c.anchor, c.cadence, c.ended_at) for c in self.earlier_cycles)
        return (*earlier, BillingCycle(self.billing_cycle_anchor, self.billing_cadence))

    @property
    def first_period_start(self) -> datetime:
        return self.cycles[0].anchor

    def period_starting(self, start: datetime, *, location: str = "query") -> Period:
        """The billing period that starts at `start`, if this subscription has reached it. The range
        is checked first, so a year-9999 request is a 422, not date arithmetic overflowing.
        `location` says where the client sent it (a query parameter, or a body field)."""
        if not self.first_period_start <= start <= self.current_period_start:
            raise ValidationFailed.of(
                "period_start", "is not a period this subscription has reached", location=location
            )
        period = cycle_at(self.cycles, start).containing(start)
        if period.start != start:
            raise ValidationFailed.of(
                "period_start",
                f"is not the start of a billing period (the one containing it starts {format_timestamp(period.start)})",
                location=location,
            )
        return period

    def _cycle_counts(self) -> list[tuple[BillingCycle, int]]:
        """Each cycle with how many of its periods the subscription has reached."""
        return [(cycle, cycle.periods_until(self.current_period_start)) for cycle in self.cycles]

    @property
    def newest_period_number(self) -> int:
        """The current period's number, counting every period reached from 0, across cycles."""
        return sum(count for _, count in self._cycle_counts()) - 1

    def numbered_period(self, number: int) -> Period:
        """The period with that number (0 ≤ number ≤ newest_period_number)."""
        for cycle, count in self._cycle_counts():
            if number < count:
                return cycle.period(number)
            number -= count
        raise IndexError(number)

    def period_containing(self, moment: datetime) -> Period:
        """The period of the cycle the moment falls in that contains it."""
        return cycle_at(self.cycles, moment).containing(moment)

    def plan_of(self, period: Period) -> tuple[str, int]:
        """The plan version (id, version) a period of this subscription ran on."""
        earlier = next((c for c in self.earlier_cycles if c.anchor <= period.start < c.ended_at), None)
        return (earlier.plan_id, earlier.plan_version) if earlier else (self.plan_id, self.plan_version)

    def ending_cycle_at(self, at: datetime) -> Subscription:
        """The subscription with its current cycle ended at `at` (a plan change taking effect): the
        current period is billed until then."""
        ended = EarlierCycle(
            anchor=self.billing_cycle_anchor,
            cadence=self.billing_cadence,
            plan_id=self.plan_id,
            plan_version=self.plan_version,
            ended_at=at,
        )
        return self.model_copy(update={"earlier_cycles": (*self.earlier_cycles, ended)})

    def switched(self, plan: Plan, at: datetime, sla_acceptance: SlaAcceptance) -> Subscription:
        """On `plan` from `at`: a new cycle anchored there on its cadence; no change pending."""
        return self.model_copy(
            update={
                "plan_id": plan.plan_id,
                "plan_version": plan.version,
                "billing_cadence": plan.billing_cadence,
                "billing_cycle_anchor": at,
                "sla_acceptance": sla_acceptance,
                "pending_plan_change": None,
                "pending_sla_acceptance": None,
            }
        )

    def canceled(self, now: datetime) -> Subscription:
        """Canceled at `now`, on its whole second: the cancellation ends the final period, and
        period boundaries are whole seconds (as a subscription's start is)."""
        canceled = {"status": "canceled", "canceled_at": now.replace(microsecond=0)}
        if now < self.current_period_end:  # else the change took effect at that end, before this
            canceled |= {"pending_plan_change": None, "pending_sla_acceptance": None}
        return self.model_copy(update=canceled)


def billed_until(subscription: Subscription, period: Period) -> datetime:
    """Where the period's billing stops: its end, or the cancellation or plan change that cut it short."""
    # A change ends a cycle after its period's first second (the next cycle starts at that moment).
    cuts = [cycle.ended_at for cycle in subscription.earlier_cycles if period.start < cycle.ended_at]
    if subscription.canceled_at is not None and period.start <= subscription.canceled_at:
        cuts.append(subscription.canceled_at)
    return min((cut for cut in cuts if cut < period.end), default=period.end)


def _stored_value(value: object) -> object:
    """A stored-only field as the store keeps it: models as their fields."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, tuple):
        return [_stored_value(item) for item in value]
    return value


def first_period(anchor: datetime, cadence: str) -> Period:
    return period_at(anchor, cadence, 0)


class Health(BaseModel):
    model_config = ConfigDict(defer_build=True)

    period_usage_credits: TotalCredits
    period_overage_credits: TotalCredits
    burn_rate_credits_per_day: TotalCredits
    projected_depletion_at: UtcTimestamp | None
    status: Literal["healthy", "low", "depleted"]


def assess_health(
    subscription: Subscription, *, usage: Decimal, overage: Decimal, allowance: Decimal, now: datetime
) -> Health:
    """Burn rate over the elapsed part of the period (at least one day, so the first hour does not
    read as a stampede); depletion projected at that rate; `low` when depletion comes before the
    period ends or the balance is under 10% of the allowance."""
    elapsed_days = max(Decimal((now - subscription.current_period_start).total_seconds()) / Decimal(86400), Decimal(1))
    burn_rate = round_credits(usage / elapsed_days)
    balance = subscription.credit_balance
    depletion = None
    if burn_rate > 0 and balance > 0:
        days_left = float((balance / burn_rate).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))
        depletion = now + timedelta(days=min(days_left, 36500))
    if balance <= 0:
        status = "depleted"
    elif (depletion is not None and depletion < subscription.current_period_end) or (
        balance < subscription.low_balance_threshold(allowance)
    ):
        status = "low"
    else:
        status = "healthy"
    return Health(
        period_usage_credits=usage,
        period_overage_credits=overage,
        burn_rate_credits_per_day=burn_rate,
        projected_depletion_at=depletion.replace(microsecond=0) if depletion else None,
        status=status,
    )


def subscription_exists(organization_id: str, existing_id: str | None) -> Conflict:
    """409 for a second active subscription, naming the one the organization already has."""
    return Conflict(
        f"Organization '{organization_id}' already has an active subscription "
        f"({existing_id or 'unknown'}); cancel it first.",
        code="subscription_exists",
        details={"subscription_id": existing_id},
    )


def subscription_order(subscription: Subscription) -> str:
    """Where a subscription sorts in finance's lists (newest first): its ULID, creation order."""
    return subscription.subscription_id


class SubscriptionFilters(Struct, frozen=True):
    """`GET /subscriptions`: each given filter must match."""

    status: SubscriptionStatus | None = None
    plan_id: str | None = None
    organization_id: str | None = None

    def matches(self, subscription: Subscription) -> bool:
        return all(
            wanted is None or getattr(subscription, name) == wanted
            for name, wanted in (
                ("status", self.status),
                ("plan_id", self.plan_id),
                ("organization_id", self.organization_id),
            )
        )


def subscription_canceled(subscription: Subscription, *, at: datetime) -> OutboxEvent:
    """Reported at the moment it happened (`canceled_at` is that moment's whole second)."""
    return outbox_event("SubscriptionCanceled", subscription, occurred_at=at, subscription=subscription)


def subscription_plan_changed(before: Subscription, after: Subscription, *, at: datetime) -> OutboxEvent:
    """Reported when the change takes effect (now, or at the period's end): the subscription on its
    new plan version, and the version it left."""
    return outbox_event(
        "SubscriptionPlanChanged",
        after,
        occurred_at=at,
        subscription=after,
        previous_plan={"plan_id": before.plan_id, "plan_version": before.plan_version},
    )
