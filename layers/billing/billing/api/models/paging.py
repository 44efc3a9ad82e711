"""`?limit=&cursor=`, which every listing takes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ...domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


class PageQuery(BaseModel):
    """`?limit=&cursor=`; unknown query parameters are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, min_length=1, max_length=2048)
