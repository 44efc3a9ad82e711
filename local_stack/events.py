"""Events out, locally: the outbox table's new records reach OutboxPublisherFunction through its
stream (streams.py), and the publisher's PutEvents calls come back to this server, which keeps
what was published (`GET /_local/events?type=`)."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any


class LocalEventBus:
    """What an EventBridge bus received, oldest first, as EventBridge delivers events to targets."""

    def __init__(self, clock) -> None:
        self._clock = clock
        self._published: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put_events(self, request: dict[str, Any]) -> dict[str, Any]:
        """The PutEvents API (JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`)."""
        from billing.domain.values import format_timestamp  # the layer is on the path once functions load

        answers = []
        with self._lock:
            for entry in request.get("Entries", []):
                event_id = str(uuid.uuid4())
                self._published.append(
                    {
                        "version": "0",
                        "id": event_id,
                        "detail-type": entry.get("DetailType"),
                        "source": entry.get("Source"),
                        "time": format_timestamp(self._clock.now().replace(microsecond=0)),
                        "event-bus-name": entry.get("EventBusName"),
                        "detail": json.loads(entry.get("Detail") or "{}"),
                    }
                )
                answers.append({"EventId": event_id})
        return {"FailedEntryCount": 0, "Entries": answers}

    def published(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._published if detail_type is None or e["detail-type"] == detail_type]
