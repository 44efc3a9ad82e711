"""The invoicing schedule's invocations. Apart from `api/bus.py`, whose usage events need the usage
domain: the invoicing run would load it for nothing on every cold start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.errors import ValidationFailed
from ..domain.values import parse_timestamp


def scheduled_time(event: dict[str, Any]) -> datetime:
    """ "Now" for a scheduled run: EventBridge Scheduler's `scheduled_time` (the schedule's input
    carries <aws.scheduler.scheduled-time>), or a classic scheduled event's `time`. Taking it from
    the event keeps a redelivery or replay of the same event deterministic."""
    raw = (event.get("scheduled_time") or event.get("time")) if isinstance(event, dict) else None
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise ValidationFailed.of(
            "scheduled_time", "the event carries no RFC 3339 `scheduled_time` or `time`", location="event"
        ) from None
