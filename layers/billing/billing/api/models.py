"""Request models of the HTTP API (responses are the domain objects themselves)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from ..domain.plans import PlanId, PlanTerms


class PageQuery(BaseModel):
    """`?limit=&cursor=`; unknown query parameters are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, min_length=1, max_length=2048)


class PlanQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1)


class PlanListing(PlanTerms):
    """`POST /plans`: the terms of version 1 plus the slug the plan will be known by."""

    plan_id: PlanId
