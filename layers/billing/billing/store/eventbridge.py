"""The billing events bus (EventBridge): PutEvents, ten entries a call, with each entry's outcome."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from msgspec import Struct

from ..domain.events import EVENT_SOURCE

PUT_EVENTS_LIMIT = 10  # entries per PutEvents call

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


def make_events_client(endpoint_url: str | None = None, region: str | None = None):
    return boto3.client("events", endpoint_url=endpoint_url, region_name=region, config=_CLIENT_CONFIG)


class BusEntry(Struct, frozen=True):
    """One outbox record as published: its detail is the JSON text the outbox holds."""

    event_id: str
    detail_type: str
    detail: str


class EventBridgePublisher:
    def __init__(self, client, bus_name: str | None):
        self._client = client
        self._bus = bus_name

    def put(self, entries: list[BusEntry]) -> list[bool]:
        """Publish up to ten entries in one call; whether each was accepted (a call that fails
        as a whole raises)."""
        if len(entries) > PUT_EVENTS_LIMIT:
            raise ValueError(f"PutEvents takes at most {PUT_EVENTS_LIMIT} entries")
        answer = self._client.put_events(Entries=[self._entry(e) for e in entries])
        results: list[dict[str, Any]] = answer.get("Entries", [])
        return [i < len(results) and "ErrorCode" not in results[i] for i in range(len(entries))]

    def _entry(self, entry: BusEntry) -> dict[str, Any]:
        return {
            "Source": EVENT_SOURCE,
            "DetailType": entry.detail_type,
            "Detail": entry.detail,
            "EventBusName": self._bus or "default",
        }
