"""For producers that report usage asynchronously: `UsageRecorded` events on the billing usage bus
(EventBridge), charged by the service exactly as `POST /usage` charges them. Needs boto3: install
`marketplace-billing[bus]`.

    bus = UsageBus("marketplace-billing-usage-prod", source="marketplace.planner")
    refused = bus.put(planner_finalization("org-helix", "fin-7781", escalation_codes=["ESC-REAGENT-LOW"]))

Every event needs an idempotency key (the producer helpers derive one from what is reported), so
putting a refused entry again, or a whole run again after a crash, charges it once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._http import to_json
from .producers import UsageRecord

USAGE_RECORDED = "UsageRecorded"
PUT_EVENTS_LIMIT = 10  # entries EventBridge takes in one PutEvents call


@dataclass(frozen=True)
class RefusedEntry:
    """An event EventBridge did not take (throttled, too large, ...): put it again later."""

    record: UsageRecord
    error_code: str
    error_message: str | None


class UsageBus:
    def __init__(self, bus_name: str, client: Any = None, *, source: str = "marketplace.producer"):
        """`client`: an EventBridge client (default `boto3.client("events")`); `source` names the
        producer (the ledger's actor is `usage-bus:<source>`)."""
        if client is None:
            import boto3  # the [bus] extra: only bus producers need it

            client = boto3.client("events")
        self._events, self.bus_name, self.source = client, bus_name, source

    def entry(self, record: UsageRecord) -> dict[str, Any]:
        """The PutEvents entry of one event: its `Detail` is the body `POST /usage` would take."""
        if not record.idempotency_key:
            raise ValueError("an event on the bus needs an idempotency key: a re-sent event would be charged again")
        return {
            "EventBusName": self.bus_name,
            "Source": self.source,
            "DetailType": USAGE_RECORDED,
            "Detail": json.dumps(to_json(record), separators=(",", ":")),
        }

    def put(self, *records: UsageRecord) -> list[RefusedEntry]:
        """Put the events, 10 a call; answers those EventBridge refused (empty when all went)."""
        entries = [self.entry(r) for r in records]  # every key checked before anything is sent
        refused: list[RefusedEntry] = []
        for start in range(0, len(records), PUT_EVENTS_LIMIT):
            answer = self._events.put_events(Entries=entries[start : start + PUT_EVENTS_LIMIT])
            results = answer.get("Entries", [])
            for position, record in enumerate(records[start : start + PUT_EVENTS_LIMIT]):
                result = results[position] if position < len(results) else {"ErrorCode": "NoResult"}
                if result.get("ErrorCode"):
                    refused.append(RefusedEntry(record, result["ErrorCode"], result.get("ErrorMessage")))
        return refused
