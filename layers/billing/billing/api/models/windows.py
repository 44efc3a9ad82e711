"""Time windows of listing queries (`?from&to`), shared by the functions that list by time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

from ...domain.errors import ValidationFailed
from ...domain.values import UtcTimestamp, parse_timestamp


def _day_or_timestamp(value: Any) -> Any:
    """`2026-11-24` is that day's midnight UTC; anything else must be an RFC 3339 timestamp."""
    if isinstance(value, str) and len(value) == 10:
        return parse_timestamp(value + "T00:00:00Z")
    return value


DayOrTimestamp = Annotated[UtcTimestamp, BeforeValidator(_day_or_timestamp)]


def require_from_before_to(start: datetime | None, end: datetime | None) -> None:
    if start and end and start >= end:  # names both: either may be the wrong one
        raise ValidationFailed.naming(("from", "to"), "'from' must be before 'to'", location="query")
