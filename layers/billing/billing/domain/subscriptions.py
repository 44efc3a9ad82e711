"""Subscriptions: an organization on a plan version, with its period, its credit balances and
the SLA it accepted; and the health a storefront shows for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .errors import Conflict, ValidationFailed
from .ledger import CreditBalances
from .periods import Period, period_at, period_index
from .plans import PlanId
from .values import Credits, TotalCredits, UtcTimestamp, format_timestamp, round_credits

SubscriptionStatus = Literal["active", "canceled"]
OrganizationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Residency = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,16}$")]

LOW_BALANCE_SHARE = Decimal("0.1")  # below 10% of the allowance is "low"


class SlaAcceptance(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    accepted_by: str
    accepted_at: UtcTimestamp
    sla_tier: str
    sla_version: str


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

    @property
    def balances(self) -> CreditBalances:
        return CreditBalances(allowance=self.allowance_balance, purchased=self.purchased_balance)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def current_period(self) -> Period:
        return Period(self.current_period_start, self.current_period_end)

    def with_balances(self, balances: CreditBalances, seq: int) -> Subscription:
        return self.model_copy(
            update={
                "allowance_balance": balances.allowance,
                "purchased_balance": balances.purchased,
                "credit_balance": balances.total,
                "ledger_seq": seq,
            }
        )

    def period_starting(self, start: datetime, *, location: str = "query") -> Period:
        """The billing period that starts at `start`, if this subscription has reached it. The range
        is checked first, so a year-9999 request is a 422, not date arithmetic overflowing.
        `location` says where the client sent it (a query parameter, or a body field)."""
        if not self.billing_cycle_anchor <= start <= self.current_period_start:
            raise ValidationFailed.of(
                "period_start", "is not a period this subscription has reached", location=location
            )
        period = period_at(
            self.billing_cycle_anchor,
            self.billing_cadence,
            period_index(self.billing_cycle_anchor, self.billing_cadence, start),
        )
        if period.start != start:
            raise ValidationFailed.of(
                "period_start",
                f"is not the start of a billing period (the one containing it starts {format_timestamp(period.start)})",
                location=location,
            )
        return period

    def rolled_over(self, balances: CreditBalances, seq: int, next_period: Period | None) -> Subscription:
        """After a period closes: the balances it left, and the next period (None: closed for good)."""
        update = {
            "allowance_balance": balances.allowance,
            "purchased_balance": balances.purchased,
            "credit_balance": balances.total,
            "ledger_seq": seq,
        }
        if next_period is None:
            update["final_period_closed"] = True
        else:
            update |= {"current_period_start": next_period.start, "current_period_end": next_period.end}
        return self.model_copy(update=update)

    def canceled(self, now: datetime) -> Subscription:
        return self.model_copy(update={"status": "canceled", "canceled_at": now})


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
        allowance > 0 and balance < allowance * LOW_BALANCE_SHARE
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


@dataclass(frozen=True)
class SubscriptionFilters:
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
