"""Usage: what producer services report, priced in credits and drawn from the balances, and the
per-period aggregate that summaries, health and invoices read instead of scanning events."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from msgspec import Struct
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    model_validator,
)

from .errors import CreditLimitReached, UnknownService, ValidationFailed  # noqa: F401 - part of this module's vocabulary
from .grants import insufficient_credits  # noqa: F401 - part of this module's vocabulary
from .idempotency import IdempotencyKey
from .ids import OrganizationId
from .periods import Period
from .plans import Plan, ServiceName, UsageRate
from .usage_labels import Guardrail, GuardrailFlag, UsageSource  # noqa: F401 - part of this module's vocabulary
from .values import (
    INT64,
    MAGNITUDE_LIMIT,
    Credits,
    PositiveDecimal,
    TotalCredits,
    UtcTimestamp,
    exact_sums,
    format_decimal,
    free_text,
    plain_text,
    round_credits,
    to_exact_decimal,
)

UsageStatus = Literal["recorded", "voided"]
UsageUnit = free_text(max_length=32, min_length=1)


def metadata_value(value: Any) -> Any:
    """A metadata value as sent, never turned into another kind (a tiny number is not `false`, "12"
    not 12): a string, a boolean, an integer or a decimal an exact field could hold, or null."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > 256:
            raise ValueError("must be at most 256 characters")
        return plain_text(value)
    if isinstance(value, int):
        if value not in INT64:
            raise ValueError("must be an integer that fits in 64 bits")
        return value
    if isinstance(value, Decimal):
        return to_exact_decimal(value)
    raise ValueError("must be a string, a boolean, a number or null")


MetadataValue = Annotated[
    Any,
    PlainValidator(metadata_value),
    PlainSerializer(lambda v: format_decimal(v) if isinstance(v, Decimal) else v, when_used="json"),
]

UsageMetadata = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")], MetadataValue], Field(max_length=16)
]

FUTURE_SKEW = timedelta(minutes=5)  # producers' clocks drift; later than this is a bug upstream
LATE_ARRIVAL = timedelta(days=35)  # as long as idempotency keys are remembered elsewhere (RETENTION)


def occurred_at_problem(occurred_at: datetime | None, now: datetime) -> str | None:
    """Why `occurred_at` is outside the window the contract accepts, if it is."""
    if occurred_at is None:
        return None
    if occurred_at > now + FUTURE_SKEW:
        return "must not be more than 5 minutes in the future"
    if occurred_at < now - LATE_ARRIVAL:
        return "must not be more than 35 days in the past"
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class UsageRequest(_Strict):
    """`POST /usage` (and each event of a batch, and a bus event's `detail`)."""

    organization_id: OrganizationId
    service: ServiceName
    quantity: PositiveDecimal
    idempotency_key: IdempotencyKey
    occurred_at: UtcTimestamp | None = None
    unit: UsageUnit | None = None
    source: UsageSource | None = None
    guardrail: Guardrail = Field(default_factory=Guardrail)
    metadata: UsageMetadata = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _absent_guardrail_is_empty(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("guardrail") is None:
            raw = {k: v for k, v in raw.items() if k != "guardrail"}
        return raw


def price(quantity: Decimal, rate: UsageRate) -> Decimal:
    credits = round_credits(quantity * rate.credits_per_unit)
    if credits >= MAGNITUDE_LIMIT:
        raise ValidationFailed.of("quantity", "prices at 10^12 credits or more at this plan's rate")
    if credits == 0:  # split small enough, usage would be free: report it in larger amounts
        raise ValidationFailed.of("quantity", "prices at less than 0.000001 credits at this plan's rate")
    return credits


def unknown_service(plan: Plan, service: str) -> UnknownService:
    return UnknownService(
        f"Plan '{plan.plan_id}' v{plan.version} has no rate for service '{service}'.",
        field="service",
        details={"services": sorted(plan.usage_rates)},
    )


class UsageEvent(BaseModel):
    """A recorded event, as stored and as answered (also to every replay of its key)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    event_id: str
    subscription_id: str
    organization_id: str
    service: str
    quantity: Credits
    unit: str
    credits: Credits
    debited_credits: Credits
    overage_credits: Credits
    balance_after: Credits
    guardrail: Guardrail
    source: UsageSource | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str
    occurred_at: UtcTimestamp
    recorded_at: UtcTimestamp
    period_start: UtcTimestamp
    ledger_seq: int
    hold_id: str | None = None  # the hold this event settled
    fingerprint: str = Field(exclude=True, default="")
    # Corrections (usage_corrections.py): a voided event stays listed, in no aggregate; an amend
    # voids the old event (`replaced_by`) and records a new one (`replaces`).
    status: UsageStatus = "recorded"
    voided_at: UtcTimestamp | None = None
    void_reason: str | None = None
    replaces: str | None = None
    replaced_by: str | None = None

    @property
    def is_voided(self) -> bool:
        return self.status == "voided"

    @property
    def aggregate_day(self) -> date:
        """The UTC day whose aggregate counts it: the day it occurred (what the daily chart shows)."""
        return self.occurred_at.date()


class UsageFilters(Struct, frozen=True):
    """`GET .../usage`: events that occurred in [start, end), of `service`, raising `guardrail_flag`,
    `recorded` or `voided` (`status`; both when None)."""

    start: datetime | None = None
    end: datetime | None = None
    service: str | None = None
    guardrail_flag: str | None = None
    status: UsageStatus | None = None

    def matches(self, event: UsageEvent) -> bool:
        return (
            (self.status is None or event.status == self.status)
            and (self.start is None or event.occurred_at >= self.start)
            and (self.end is None or event.occurred_at < self.end)
            and (self.service is None or event.service == self.service)
            and (self.guardrail_flag is None or self.guardrail_flag in event.guardrail.flags)
        )


class UsageChunk(Struct, frozen=True):
    """Events of one subscription committed together, their usage summed, in the period they fall in."""

    events: list[UsageEvent]
    usage: PeriodUsage
    period: Period


class UsageTotals(BaseModel):
    """A period's usage across services: all credits consumed and the part that was overage."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    credits: Decimal = Decimal(0)
    overage_credits: Decimal = Decimal(0)


class ServiceUsage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    quantity: TotalCredits = Decimal(0)
    credits: TotalCredits = Decimal(0)
    overage_credits: TotalCredits = Decimal(0)
    events: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.events or self.quantity or self.credits or self.overage_credits)


class PeriodUsage(BaseModel):
    """The period aggregate: per service totals and counts per guardrail flag and escalation code."""

    model_config = ConfigDict(defer_build=True)

    services: dict[str, ServiceUsage] = Field(default_factory=dict)
    guardrail_flags: dict[str, int] = Field(default_factory=dict)
    escalation_codes: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def of(cls, events: list[UsageEvent]) -> PeriodUsage:
        with exact_sums():
            return cls._of(events)

    @classmethod
    def _of(cls, events: list[UsageEvent]) -> PeriodUsage:
        services: dict[str, ServiceUsage] = {}
        flags: Counter[str] = Counter()
        codes: Counter[str] = Counter()
        for event in events:
            total = services.setdefault(event.service, ServiceUsage())
            total.quantity += event.quantity
            total.credits += event.credits
            total.overage_credits += event.overage_credits
            total.events += 1
            flags.update(event.guardrail.flags)
            codes.update(event.guardrail.escalation_codes)
        return cls(services=services, guardrail_flags=dict(flags), escalation_codes=dict(codes))

    def negated(self) -> PeriodUsage:
        """What takes this usage back out of an aggregate (a void): every counter negated."""
        return PeriodUsage.model_construct(
            services={
                name: ServiceUsage.model_construct(
                    quantity=-u.quantity, credits=-u.credits, overage_credits=-u.overage_credits, events=-u.events
                )
                for name, u in self.services.items()
            },
            guardrail_flags={flag: -count for flag, count in self.guardrail_flags.items()},
            escalation_codes={code: -count for code, count in self.escalation_codes.items()},
        )

    @classmethod
    def merged(cls, parts: list[PeriodUsage], *, changes: bool = False) -> PeriodUsage:
        """Several aggregates (the days of a period) as one. `changes`: the parts are changes to an
        aggregate (a correction's), whose sum is kept whole: an amend's new event and the one it
        voids count no events together, yet their quantities and credits differ."""
        with exact_sums():
            return cls._merged(parts, changes)

    @classmethod
    def _merged(cls, parts: list[PeriodUsage], changes: bool) -> PeriodUsage:
        total = cls()
        for part in parts:
            for service, counted in part.services.items():
                into = total.services.setdefault(service, ServiceUsage())
                into.quantity += counted.quantity
                into.credits += counted.credits
                into.overage_credits += counted.overage_credits
                into.events += counted.events
            for flag, count in part.guardrail_flags.items():
                total.guardrail_flags[flag] = total.guardrail_flags.get(flag, 0) + count
            for code, count in part.escalation_codes.items():
                total.escalation_codes[code] = total.escalation_codes.get(code, 0) + count
        if changes:
            return total
        # A void takes its counters back out: a service (or flag) left with nothing counted is no usage.
        total.services = {name: counted for name, counted in total.services.items() if not counted.is_empty}
        total.guardrail_flags = {flag: count for flag, count in total.guardrail_flags.items() if count}
        total.escalation_codes = {code: count for code, count in total.escalation_codes.items() if count}
        return total

    @property
    def totals(self) -> UsageTotals:
        with exact_sums():
            return UsageTotals(
                credits=sum((s.credits for s in self.services.values()), Decimal(0)),
                overage_credits=sum((s.overage_credits for s in self.services.values()), Decimal(0)),
            )


BatchStatus = Literal["accepted", "duplicate", "rejected"]
CORRECTION_FIELDS = ("status", "voided_at", "void_reason", "replaces", "replaced_by")
