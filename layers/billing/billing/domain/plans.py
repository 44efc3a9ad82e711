"""Pricing plans (partner listings). A plan's terms are versioned: a revision writes version n+1
and never touches version n, which stays readable for the subscriptions signed up to it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, field_validator

from .ids import ServiceName
from .values import (
    INT64,
    Flag,
    NonNegativeCents,
    NonNegativeDecimal,
    PositiveDecimal,
    UtcTimestamp,
    WholeNumber,
    free_text,
    plain_text,
)

BillingCadence = Literal["monthly", "quarterly", "annual"]
OveragePolicy = Literal["allow", "block"]
PlanStatus = Literal["active", "archived"]

PlanId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Label = free_text(max_length=200, min_length=1, strip=True)
Text = free_text(max_length=4000)
RateUnit = free_text(max_length=32, min_length=1, strip=True)


class _Terms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class BundleItem(_Terms):
    sku: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    name: Label
    description: Text = ""


class UsageRate(_Terms):
    unit: RateUnit
    credits_per_unit: PositiveDecimal


class SlaTerms(_Terms):
    tier: Label
    uptime_percent: NonNegativeDecimal = Field(le=100)
    response_time_hours: NonNegativeDecimal
    support: Label


def feature_limit(value: Any) -> int | str | None:
    """A feature's limit: a whole number (seats: 100) or a short text ("unlimited"), as sent."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)  # DynamoDB reads numbers back as Decimal; the bounded JSON parser keeps exponents small
    if value is None or isinstance(value, int) and not isinstance(value, bool) and value in INT64:
        return value
    if isinstance(value, str) and 0 < len(value.strip()) <= 200:
        return plain_text(value.strip())
    raise ValueError("must be a whole number, or a text of 1 to 200 characters")


class Feature(_Terms):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
    label: Label
    included: Flag
    limit: Annotated[int | str | None, PlainValidator(feature_limit)] = None


def active_currency(code: str) -> str:
    """An active ISO 4217 currency (the maintained list of the `iso4217` package), not just three
    letters: "XYZ" is refused, and so are the codes of no money (gold, test, "no currency").
    Checked when a plan is written; imported here only then, to keep other functions' cold start."""
    from iso4217 import Currency

    try:
        currency = Currency(code)
    except ValueError:
        raise ValueError("is not an active ISO 4217 currency code") from None
    if currency.exponent is None:  # XAU, XTS, XXX...: units of account, not money
        raise ValueError("is not a currency invoices can be issued in")
    return code


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key, anything else
    replaces the value."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


class PlanTerms(_Terms):
    """What an admin writes when listing or revising a plan."""

    name: Label
    description: Text = ""
    partner: Label
    bundle: list[BundleItem] = Field(default_factory=list, max_length=100)
    billing_cadence: BillingCadence
    currency: CurrencyCode
    base_fee_cents: NonNegativeCents
    credit_allowance: NonNegativeDecimal
    overage_policy: OveragePolicy
    overage_rate_cents: NonNegativeDecimal
    credit_price_cents: NonNegativeDecimal | None = None  # the default price of a purchased credit (top-ups)
    usage_rates: dict[ServiceName, UsageRate] = Field(min_length=1, max_length=50)
    sla: SlaTerms
    features: list[Feature] = Field(default_factory=list, max_length=200)

    @field_validator("features")
    @classmethod
    def _distinct_keys(cls, features: list[Feature]) -> list[Feature]:
        keys = [f.key for f in features]
        if len(set(keys)) != len(keys):
            repeated = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"feature keys must be unique; repeated: {', '.join(repeated)}")
        return features


class PlanRevision(PlanTerms):
    """`PUT /plans/{id}`: the terms, or the plan as `GET` returned it. The read-only fields are
    ignored; a `plan_id` other than the path's is refused by the service."""

    plan_id: str | None = None
    version: WholeNumber | None = None
    status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    def terms(self) -> PlanTerms:
        return PlanTerms.model_validate(self.model_dump(include=set(PlanTerms.model_fields)))


class Plan(PlanTerms):
    plan_id: PlanId
    version: int = Field(ge=1)
    status: PlanStatus
    created_at: UtcTimestamp
    updated_at: UtcTimestamp

    @classmethod
    def first_version(cls, plan_id: str, terms: PlanTerms, now: datetime) -> Plan:
        return cls(plan_id=plan_id, version=1, status="active", created_at=now, updated_at=now, **dict(terms))

    def revised(self, terms: PlanTerms, now: datetime) -> Plan:
        """The next version: new terms, same identity and listing date, still the same status."""
        return Plan(
            plan_id=self.plan_id,
            version=self.version + 1,
            status=self.status,
            created_at=self.created_at,
            updated_at=now,
            **dict(terms),
        )

    def archived(self, now: datetime) -> Plan:
        return self.model_copy(update={"status": "archived", "updated_at": now})

    @property
    def is_active(self) -> bool:
        return self.status == "active"
