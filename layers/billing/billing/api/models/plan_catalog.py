"""The plan catalog function's request models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PlanQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: int | None = Field(default=None, ge=1)
