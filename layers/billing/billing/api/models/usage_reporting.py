"""The usage reporting function's request models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ...domain.errors import ValidationFailed
from ...domain.plans import ServiceName
from ...domain.usage import GuardrailFlag
from ...domain.values import UtcTimestamp, parse_timestamp
from .paging import PageQuery


def _day_or_timestamp(value: Any) -> Any:
    """`2026-11-24` is that day's midnight UTC; anything else must be an RFC 3339 timestamp."""
    if isinstance(value, str) and len(value) == 10:
        return parse_timestamp(value + "T00:00:00Z")
    return value


DayOrTimestamp = Annotated[UtcTimestamp, BeforeValidator(_day_or_timestamp)]


def _require_from_before_to(start: datetime | None, end: datetime | None) -> None:
    if start and end and start >= end:  # names both: either may be the wrong one
        raise ValidationFailed.naming(("from", "to"), "'from' must be before 'to'", location="query")


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
