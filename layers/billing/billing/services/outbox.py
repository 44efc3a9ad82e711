"""Publishing the outbox: the events of new outbox items (DynamoDB Streams INSERTs, NEW_IMAGE) go
onto the billing events bus, ten a PutEvents call, each under the `event_id` its change wrote.

At least once: a record is reported failed (and so retried by the stream, from the first failed
one) unless the bus accepted every event it holds; a crash after PutEvents and before the
stream's checkpoint delivers the same records again, under the same ids, which consumers dedupe on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from ..store.eventbridge import PUT_EVENTS_LIMIT, BusEntry


class EventBus(Protocol):
    def put(self, entries: list[BusEntry]) -> list[bool]: ...


def publish_stream(records: Iterable[dict[str, Any]], bus: EventBus) -> list[str]:
    """Publish the events of a stream batch's INSERT records, in order. Returns the sequence
    numbers of the records not wholly published (for the batch's `batchItemFailures`)."""
    pending = [
        (record["dynamodb"]["SequenceNumber"], entry)
        for record in records
        if record.get("eventName") == "INSERT"  # TTL's removals are no events
        for entry in _entries(record)
    ]
    failed: list[str] = []
    for first in range(0, len(pending), PUT_EVENTS_LIMIT):
        chunk = pending[first : first + PUT_EVENTS_LIMIT]
        if failed:  # the stream retries from the first failure: the rest goes again anyway
            accepted = [False] * len(chunk)
        else:
            try:
                accepted = bus.put([entry for _, entry in chunk])
            except Exception:  # throttled, unreachable: this chunk and the rest are retried
                accepted = [False] * len(chunk)
        failed += [sequence for (sequence, _), ok in zip(chunk, accepted, strict=True) if not ok]
    return list(dict.fromkeys(failed))


def _entries(record: dict[str, Any]) -> list[BusEntry]:
    events = json.loads(record["dynamodb"]["NewImage"]["events"]["S"])
    return [
        BusEntry(
            event_id=event["event_id"],
            detail_type=event["detail_type"],
            detail=json.dumps(event["detail"], separators=(",", ":")),
        )
        for event in events
    ]
