"""The usage recording function's request models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class UsageBatch(BaseModel):
    """`POST /usage/batch`: each event is validated on its own, so one bad event cannot sink the rest."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    events: list[Any] = Field(min_length=1)
