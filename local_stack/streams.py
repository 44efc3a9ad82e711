"""DynamoDB Streams, locally, as a function's event source mapping delivers them: INSERT for a new
item, MODIFY for a changed one (NEW_IMAGE), only the records the mapping's FilterCriteria let
through, in batches of its BatchSize; a failed batch is retried whole, or from its first failed
record when the function reports item failures. One relay serves every stream of the template:
the outbox (records only ever new) and the usage table (event rows inserted, then voided).

The relay reads committed items from the table rather than from moto's stream (the embedded moto
applies a failing transaction's items before undoing them, and its stream would keep their
records): each round scans the keys and the `status` of every item (small: a round must stay
cheap on a table of many thousand events), and reads in full only the items that are new or whose
status moved. It runs when a request may have written (`written`), in the background every half
second, and before `GET /_local/events` answers, so a test sees the lag a stream really has, not
zero, yet every event of the requests it made."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from .patterns import matches

POLL_SECONDS = 0.5


def _state(item: dict[str, Any]) -> str:
    """What a round compares: an item's status (absent: recorded)."""
    return item.get("status", {}).get("S", "")


class StreamRelay:
    def __init__(self, client, source, function) -> None:
        """`source`: the template's StreamSource (table, key, batch size, filters, response types)."""
        self.source, self._client, self._function = source, client, function
        self._table, self._stream_arn, self._batch_size = source.table_name, source.stream_arn, source.batch_size
        self._key_names, self._filters = tuple(source.key_names), tuple(source.filters)
        self._reports_item_failures = source.reports_item_failures
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
                done = self._invoke(batch)
                for _, key, state in batch[:done]:
                    self._delivered[key] = state
                sent += done
                if done < len(batch):
                    self._dirty.set()  # retried on the next round
                    break
            return sent

    def _invoke(self, batch: list[tuple[dict[str, Any], tuple[str, ...], str]]) -> int:
        """Deliver one batch; how many records from its start count as done."""
        records = [record for record, _, _ in batch]
        self._last_batch = records
        try:
            answer = self._function.invoke({"Records": records}) or {}
        except Exception:  # noqa: BLE001 - the function failed: the whole batch is retried
            return 0
        if not self._reports_item_failures:
            return len(records)
        failed = {failure["itemIdentifier"] for failure in answer.get("batchItemFailures", [])}
        numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
        return next((n for n, number in enumerate(numbers) if number in failed), len(records))

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
        # In key order: the outbox's record ids grow with time, so records go out as they were made.
        return sorted(items, key=lambda item: tuple(item[name]["S"] for name in self._key_names))

    def run_in_background(self) -> StreamRelay:
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
