"""Publishing the outbox: new outbox records (DynamoDB Streams INSERTs, NEW_IMAGE) go onto the
billing events bus, ten a call, each under the `event_id` its change wrote.

At least once: a record is reported failed (and so retried by the stream, from the first failed
one) unless the bus accepted it; a crash after PutEvents and before the stream's checkpoint
delivers the same records again, under the same ids, which consumers dedupe on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ..store.eventbridge import PUT_EVENTS_LIMIT, BusEntry


class EventBus(Protocol):
    def put(self, entries: list[BusEntry]) -> list[bool]: ...


def publish_stream(records: Iterable[dict[str, Any]], bus: EventBus) -> list[str]:
    """Publish the INSERT records of a stream batch, in order. Returns the sequence numbers of
    the records not published (for the batch's `batchItemFailures`)."""
    pending = [(record["dynamodb"]["SequenceNumber"], _entry(record)) for record in records]
    pending = [(sequence, entry) for sequence, entry in pending if entry is not None]  # TTL removals
    failed: list[str] = []
    for first in range(0, len(pending), PUT_EVENTS_LIMIT):
        chunk = pending[first : first + PUT_EVENTS_LIMIT]
        if failed:  # the stream retries from the first failure: the rest goes again anyway
            failed += [sequence for sequence, _ in chunk]
            continue
        try:
            accepted = bus.put([entry for _, entry in chunk])
        except Exception:  # throttled, unreachable: this chunk and the rest are retried
            failed += [sequence for sequence, _ in chunk]
            continue
        failed += [sequence for (sequence, _), ok in zip(chunk, accepted, strict=True) if not ok]
    return failed


def _entry(record: dict[str, Any]) -> BusEntry | None:
    if record.get("eventName") != "INSERT":
        return None
    image = record["dynamodb"]["NewImage"]
    return BusEntry(event_id=image["event_id"]["S"], detail_type=image["detail_type"]["S"], detail=image["detail"]["S"])
