"""DynamoDB Streams for tables whose items change (the usage table: new event rows, rows voided),
as a function's event source mapping delivers them: INSERT for a new item, MODIFY for a changed
one (NEW_IMAGE), only the records the mapping's FilterCriteria let through, in batches of its
BatchSize, a failed batch retried whole.

Like the outbox relay (events.py), it reads committed items from the table rather than from moto's
stream (which keeps the records of failed transactions): each round scans the keys and the
`status` of every item (small: a round must stay cheap on a table of many thousand events), and
reads in full only the items that are new or whose status moved (a usage row voided is the one
change a stream consumer acts on). It runs when a request may have written (`written`) and every
half second in the background, so an analytics test sees the lag the stream really has, not zero."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from .events import POLL_SECONDS


def matches(pattern: Any, value: Any) -> bool:
    """The part of EventBridge's pattern syntax Lambda filters use: nested objects, lists of
    allowed values, and `{"prefix": ...}`."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    if isinstance(pattern, list):
        return any(
            isinstance(v, str) and v.startswith(option["prefix"]) if isinstance(option, dict) else v == option
            for option in pattern
            for v in (value if isinstance(value, list) else [value])
        )
    return pattern == value


def _state(item: dict[str, Any]) -> str:
    """What a round compares: an item's status (absent: recorded)."""
    return item.get("status", {}).get("S", "")


class TableStreamRelay:
    def __init__(self, client, table: str, function, *, batch_size: int, stream_arn: str, key_names, filters) -> None:
        self._client, self._table, self._function = client, table, function
        self._batch_size, self._stream_arn = batch_size, stream_arn
        self._key_names, self._filters = tuple(key_names), tuple(filters)
        self._delivered: dict[tuple[str, ...], str] = {}  # key -> the status delivered
        self._last_batch: list[dict[str, Any]] = []
        self._sequence = 0
        self._dirty = threading.Event()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def written(self) -> None:
        self._dirty.set()

    def deliver(self) -> int:
        with self._lock:
            if not self._dirty.is_set():
                return 0
            self._dirty.clear()  # before reading: a write after this read marks it again
            changes = self._changes()
            sent = 0
            for first in range(0, len(changes), self._batch_size):
                batch = changes[first : first + self._batch_size]
                records = [record for record, _, _ in batch]
                self._last_batch = records
                try:
                    self._function.invoke({"Records": records})
                except Exception:  # noqa: BLE001 - the function failed: the batch is retried next round
                    self._dirty.set()
                    break
                for _, key, state in batch:
                    self._delivered[key] = state
                sent += len(batch)
            return sent

    def redeliver_last_batch(self) -> int:
        """The function crashed before the stream's checkpoint: the same batch comes again."""
        with self._lock:
            if self._last_batch:
                self._function.invoke({"Records": list(self._last_batch)})
            return len(self._last_batch)

    def _changes(self) -> list[tuple[dict[str, Any], tuple[str, ...], str]]:
        moved = [(key, state) for key, state in self._scan_states() if self._delivered.get(key) != state]
        changes = []
        for item in self._items([key for key, _ in moved]):
            key = tuple(item[name]["S"] for name in self._key_names)
            state = _state(item)
            record = self._record("MODIFY" if key in self._delivered else "INSERT", item)
            if self._filters and not any(matches(pattern, record) for pattern in self._filters):
                self._delivered[key] = state  # filtered out: the function never sees it
                continue
            changes.append((record, key, state))
        return changes

    def _record(self, event_name: str, item: dict[str, Any]) -> dict[str, Any]:
        self._sequence += 1
        return {
            "eventID": uuid.uuid4().hex,
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": int(time.time()),
                "Keys": {name: item[name] for name in self._key_names},
                "NewImage": item,
                "SequenceNumber": f"{self._sequence:021d}",
                "SizeBytes": len(json.dumps(item)),
                "StreamViewType": "NEW_IMAGE",
            },
            "eventSourceARN": self._stream_arn,
        }

    def _scan_states(self) -> list[tuple[tuple[str, ...], str]]:
        names = {f"#k{n}": name for n, name in enumerate(self._key_names)} | {"#status": "status"}
        scan: dict[str, Any] = {
            "TableName": self._table,
            "ConsistentRead": True,
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
        }
        states = []
        while True:
            found = self._client.scan(**scan)
            states += [
                (tuple(item[name]["S"] for name in self._key_names), _state(item)) for item in found.get("Items", [])
            ]
            if "LastEvaluatedKey" not in found:
                return states
            scan["ExclusiveStartKey"] = found["LastEvaluatedKey"]

    def _items(self, keys: list[tuple[str, ...]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for first in range(0, len(keys), 100):
            wanted = [
                {name: {"S": part} for name, part in zip(self._key_names, key, strict=True)}
                for key in keys[first : first + 100]
            ]
            pending = {self._table: {"Keys": wanted, "ConsistentRead": True}}
            while pending:
                answer = self._client.batch_get_item(RequestItems=pending)
                items += answer.get("Responses", {}).get(self._table, [])
                pending = answer.get("UnprocessedKeys") or {}
        order = {key: n for n, key in enumerate(keys)}  # the order they were found in
        return sorted(items, key=lambda item: order[tuple(item[name]["S"] for name in self._key_names)])

    def run_in_background(self) -> TableStreamRelay:
        def poll() -> None:
            while not self._stopped.wait(POLL_SECONDS):
                try:
                    self.deliver()
                except Exception:  # noqa: BLE001 - a poller must outlive one bad round; the next retries
                    self._dirty.set()

        threading.Thread(target=poll, name=f"stream-relay-{self._table}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
