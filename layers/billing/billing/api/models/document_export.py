"""The document export function's request models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    format: Literal["csv", "json", "pdf"] = "csv"
