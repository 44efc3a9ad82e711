"""The usage reporting function's request models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...domain.plans import ServiceName
from ...domain.usage import GuardrailFlag, UsageStatus
from ...domain.values import UtcTimestamp
from .paging import PageQuery
from .windows import DayOrTimestamp, require_from_before_to


class UsageQuery(PageQuery):
    """`?from&to&service&guardrail_flag&status`: occurred_at in [from, to), newest first; `recorded`
    or `voided` events (both when absent)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    start: UtcTimestamp | None = Field(default=None, alias="from")
    end: UtcTimestamp | None = Field(default=None, alias="to")
    service: ServiceName | None = None
    guardrail_flag: GuardrailFlag | None = None
    status: UsageStatus | None = None

    @model_validator(mode="after")
    def _ordered(self) -> UsageQuery:
        require_from_before_to(self.start, self.end)
        return self


class DailyQuery(BaseModel):
    """`?from&to`: timestamps (or dates: midnight UTC), `to` excluded, at most 366 days apart."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    start: DayOrTimestamp | None = Field(default=None, alias="from")
    end: DayOrTimestamp | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> DailyQuery:
        require_from_before_to(self.start, self.end)
        return self


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    period_start: UtcTimestamp | None = None
