"""A page of a list endpoint: `{"items": [...], "next_cursor": "..." | null}`."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

Item = TypeVar("Item")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class Page(BaseModel, Generic[Item]):
    model_config = ConfigDict(defer_build=True)

    items: list[Item]
    next_cursor: str | None = None
