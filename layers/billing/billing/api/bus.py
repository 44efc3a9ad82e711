"""EventBridge deliveries to billing functions: the usage bus's `UsageRecorded` events (through the
usage queue). The invoicing schedule's are `api/schedule.py`'s."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain.access import Caller, Role
from ..domain.errors import ValidationFailed
from ..domain.usage import UsageRequest

USAGE_RECORDED = "UsageRecorded"


def _exact(value: Any) -> Any:
    """Lambda parses the event with binary floats; a float's shortest repr is the decimal the
    producer wrote (for up to 15 significant digits), so that is what we read."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def usage_from_bus(event: dict[str, Any]) -> tuple[UsageRequest, Caller]:
    """The usage a `UsageRecorded` event reports (its `detail` is a POST /usage body), and the
    producer as a `service` caller."""
    if (
        not isinstance(event, dict)
        or event.get("detail-type") != USAGE_RECORDED
        or not isinstance(event.get("detail"), dict)
    ):
        raise ValidationFailed.of(
            "detail-type", f"expected a {USAGE_RECORDED} event with an object detail", location="event"
        )
    try:
        request = UsageRequest.model_validate(_exact(event["detail"]))
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise ValidationFailed.from_pydantic(error, location="detail") from None
    producer = Caller(f"usage-bus:{event.get('source', 'unknown')}", frozenset({Role.SERVICE.value}), None, None)
    return request, producer


def usage_from_queue(record: dict[str, Any]) -> tuple[UsageRequest, Caller]:
    """A `UsageRecorded` event as the usage queue delivers it: the whole EventBridge event as the
    message body, read as POST /usage reads a body (exact numbers, bounded before conversion)."""
    from ..exact_json import loads_exact

    try:
        event = loads_exact(record["body"])
    except ValueError:
        raise ValidationFailed.of("body", "the message is not a JSON event", location="message") from None
    return usage_from_bus(event)
