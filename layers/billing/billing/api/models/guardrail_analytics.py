"""The guardrail analytics function's request models."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from ...domain.ids import OrganizationId, Residency, ServiceName
from ...domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from ...domain.usage_labels import GuardrailFlag
from ...domain.values import EARLIEST_YEAR, LATEST_YEAR


def _utc_day(value: Any) -> Any:
    """A UTC day, `2026-11-24` exactly (no timestamps, no week dates)."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("must be a UTC day such as 2026-11-24")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a UTC day such as 2026-11-24") from None
    # As every time the API takes: far from date's own limits, which the window's days step past.
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return day


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
