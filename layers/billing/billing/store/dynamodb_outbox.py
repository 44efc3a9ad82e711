"""The outbox (the outbox table): one item per transaction that reports events, holding all of
them, written in the transaction of the change they report. One item, however many events: a
period close that ends 24 holds still fits DynamoDB's 100 items. DynamoDB Streams hands each new
item (NEW_IMAGE) to the outbox publisher, which puts its events on the events bus; TTL removes
the item two weeks later (a stream keeps records 24 hours).

record_id                the first event's id (each event keeps its own, stable `event_id`)
events                   JSON text: [{event_id, detail_type, detail}] in the order they happened
                         (text, not a map: a map would read 1 back as Decimal("1") and drop nulls)"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ..domain.events import OutboxEvent
from .dynamodb import to_attributes

KEPT_FOR = timedelta(days=14)


def outbox_item(events: Sequence[OutboxEvent]) -> dict[str, Any]:
    first = events[0]
    return {
        "record_id": first.event_id,
        "subscription_id": first.subscription_id,
        "organization_id": first.organization_id,
        "occurred_at": first.occurred_at,
        "events": json.dumps(
            [{"event_id": e.event_id, "detail_type": e.detail_type, "detail": e.document()} for e in events],
            separators=(",", ":"),
        ),
        "expires_at": int((first.occurred_at + KEPT_FOR).timestamp()),
    }


def outbox_puts(table: str, events: Sequence[OutboxEvent]) -> list[dict[str, Any]]:
    """The transaction items of a change's events: one new item holding them all, or none."""
    if not events:
        return []
    item = to_attributes(outbox_item(events))
    return [{"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(record_id)"}}]
