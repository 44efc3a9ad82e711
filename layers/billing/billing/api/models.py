"""Request models of the HTTP API (responses are the domain objects themselves)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from ..domain.errors import ValidationFailed
from ..domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from ..domain.plans import PlanId, PlanTerms, ServiceName
from ..domain.subscriptions import OrganizationId, Residency, SubscriptionFilters
from ..domain.usage import GuardrailFlag
from ..domain.values import UtcTimestamp, parse_timestamp

if TYPE_CHECKING:
    from ..domain.credit_notes import CreditNoteFilters
    from ..domain.invoices import InvoiceFilters


def _day_or_timestamp(value: Any) -> Any:
    """`2026-11-24` is that day's midnight UTC; anything else must be an RFC 3339 timestamp."""
    if isinstance(value, str) and len(value) == 10:
        return parse_timestamp(value + "T00:00:00Z")
    return value


DayOrTimestamp = Annotated[UtcTimestamp, BeforeValidator(_day_or_timestamp)]


def _require_from_before_to(start: datetime | None, end: datetime | None) -> None:
    if start and end and start >= end:  # names both: either may be the wrong one
        raise ValidationFailed.naming(("from", "to"), "'from' must be before 'to'", location="query")


class PageQuery(BaseModel):
    """`?limit=&cursor=`; unknown query parameters are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, min_length=1, max_length=2048)


class GrantsQuery(PageQuery):
    status: Literal["active", "depleted", "expired", "voided"] | None = None


class HoldsQuery(PageQuery):
    status: Literal["held", "settled", "released", "expired"] | None = None


class PlanQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: int | None = Field(default=None, ge=1)


class PlanListing(PlanTerms):
    """`POST /plans`: the terms of version 1 plus the slug the plan will be known by."""

    plan_id: PlanId


class UsageQuery(PageQuery):
    """`?from&to&service&guardrail_flag`: occurred_at in [from, to), newest first."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    start: UtcTimestamp | None = Field(default=None, alias="from")
    end: UtcTimestamp | None = Field(default=None, alias="to")
    service: ServiceName | None = None
    guardrail_flag: GuardrailFlag | None = None

    @model_validator(mode="after")
    def _ordered(self) -> UsageQuery:
        _require_from_before_to(self.start, self.end)
        return self


class DailyQuery(BaseModel):
    """`?from&to`: timestamps (or dates: midnight UTC), `to` excluded, at most 366 days apart."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    start: DayOrTimestamp | None = Field(default=None, alias="from")
    end: DayOrTimestamp | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> DailyQuery:
        _require_from_before_to(self.start, self.end)
        return self


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    period_start: UtcTimestamp | None = None


class UsageBatch(BaseModel):
    """`POST /usage/batch`: each event is validated on its own, so one bad event cannot sink the rest."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    events: list[Any] = Field(min_length=1)


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    format: Literal["csv", "json", "pdf"] = "csv"


class CreditNotesQuery(PageQuery):
    """`GET /credit-notes?organization_id&from&to&residency`: created in [from, to), newest first."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    organization_id: OrganizationId | None = None
    start: DayOrTimestamp | None = Field(default=None, alias="from")
    end: DayOrTimestamp | None = Field(default=None, alias="to")
    residency: Residency | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CreditNotesQuery:
        _require_from_before_to(self.start, self.end)
        return self

    def filters(self) -> CreditNoteFilters:
        from ..domain.credit_notes import CreditNoteFilters  # on use: every function imports these models

        return CreditNoteFilters(organization_id=self.organization_id, start=self.start, end=self.end)


def _query_flag(value: Any) -> Any:
    """A switch in a query string: `true` or `false`, as written (a query has no JSON booleans)."""
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


QueryFlag = Annotated[bool, BeforeValidator(_query_flag)]


class UpcomingQuery(BaseModel):
    """`GET .../invoices/upcoming?cancel_now=true`: the final invoice if it were canceled now."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    cancel_now: QueryFlag = False


class SubscriptionsQuery(PageQuery):
    """`GET /subscriptions?status&plan_id&organization_id&residency`."""

    status: Literal["active", "canceled"] | None = None
    plan_id: PlanId | None = None
    organization_id: OrganizationId | None = None
    residency: Residency | None = None

    def filters(self) -> SubscriptionFilters:
        return SubscriptionFilters(status=self.status, plan_id=self.plan_id, organization_id=self.organization_id)


class InvoicesQuery(PageQuery):
    """`GET /invoices?status&organization_id&period_start_from&period_start_to&residency`."""

    status: Literal["draft", "issued", "void"] | None = None
    organization_id: OrganizationId | None = None
    period_start_from: UtcTimestamp | None = None
    period_start_to: UtcTimestamp | None = None
    residency: Residency | None = None

    @model_validator(mode="after")
    def _ordered(self) -> InvoicesQuery:
        if self.period_start_from and self.period_start_to and self.period_start_from > self.period_start_to:
            raise ValidationFailed.naming(
                ("period_start_from", "period_start_to"),
                "'period_start_from' must not be after 'period_start_to'",
                location="query",
            )
        return self

    def filters(self) -> InvoiceFilters:
        from ..domain.invoices import InvoiceFilters  # on use: every function imports these models (cold start)

        return InvoiceFilters(
            status=self.status,
            organization_id=self.organization_id,
            period_from=self.period_start_from,
            period_to=self.period_start_to,
        )


def _utc_day(value: Any) -> Any:
    """A UTC day, `2026-11-24` exactly (no timestamps, no week dates)."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("must be a UTC day such as 2026-11-24")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a UTC day such as 2026-11-24") from None


UtcDay = Annotated[date, BeforeValidator(_utc_day)]
GroupBy = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class GuardrailFilters(BaseModel):
    """What a guardrail report covers: `from`/`to` (UTC days, both included), the groupings and filters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    first_day: UtcDay | None = Field(default=None, alias="from")
    last_day: UtcDay | None = Field(default=None, alias="to")
    group_by: GroupBy = "day"
    organization_id: OrganizationId | None = None
    service: ServiceName | None = None
    flag: GuardrailFlag | None = None
    residency: Residency | None = None


class GuardrailQuery(GuardrailFilters):
    """`GET /analytics/guardrails`: a page of the report's groups."""

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, min_length=1, max_length=2048)


class GuardrailExportQuery(GuardrailFilters):
    """`GET /analytics/guardrails/export?format=csv`: every group of the report, as a file."""

    format: Literal["csv"] = "csv"
