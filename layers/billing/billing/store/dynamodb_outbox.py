"""The outbox (the outbox table): one item per event, written in the transaction of the change it
reports. DynamoDB Streams hands each new item (NEW_IMAGE) to the outbox publisher, which puts it
on the events bus; TTL removes it two weeks later (a stream keeps records 24 hours).

event_id                 the stable id consumers dedupe on
detail_type, detail      the EventBridge detail-type and detail (JSON text: exact, as published)"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from ..domain.events import OutboxEvent
from .dynamodb import to_attributes

KEPT_FOR = timedelta(days=14)


def outbox_item(event: OutboxEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "detail_type": event.detail_type,
        "subscription_id": event.subscription_id,
        "organization_id": event.organization_id,
        "occurred_at": event.occurred_at,
        # JSON text, not a map: a map would read 1 back as Decimal("1") and drop nulls.
        "detail": json.dumps(event.document(), separators=(",", ":")),
        "expires_at": int((event.occurred_at + KEPT_FOR).timestamp()),
    }


def outbox_put(table: str, event: OutboxEvent) -> dict[str, Any]:
    """A transaction item: the event's record, new (an id is never written twice)."""
    return {
        "Put": {
            "TableName": table,
            "Item": to_attributes(outbox_item(event)),
            "ConditionExpression": "attribute_not_exists(event_id)",
        }
    }
