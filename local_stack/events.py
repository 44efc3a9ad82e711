"""Events out, locally: the outbox table's new records go to OutboxPublisherFunction as DynamoDB
Streams INSERT records, and the publisher's PutEvents calls come back to this server, which keeps
what was published (`GET /_local/events?type=`).

The relay reads new records from the table itself rather than from a stream: what the table holds
is what committed (the embedded moto applies a failing transaction's items before undoing them, and
its stream would keep their records). It reads when a request may have written something (each
request marks the outbox dirty), in the background every half second, and before answering
`GET /_local/events`, so a test sees every event of the requests it made."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

POLL_SECONDS = 0.5


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


class OutboxRelay:
    """DynamoDB Streams for the outbox table, as the publisher's event source mapping uses it:
    new records in order, in batches of the mapping's BatchSize, retried from the first record the
    function reports failed."""

    def __init__(self, client, table: str, publisher, *, batch_size: int, stream_arn: str) -> None:
        self._client, self._table, self._publisher = client, table, publisher
        self._batch_size, self._stream_arn = batch_size, stream_arn
        self._delivered: set[str] = set()
        self._last_batch: list[dict[str, Any]] = []
        self._sequence = 0
        self._dirty = threading.Event()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def written(self) -> None:
        """A request may have written outbox records."""
        self._dirty.set()

    def deliver(self) -> int:
        """Hand every committed record not delivered yet to the publisher. Returns how many went."""
        with self._lock:
            if not self._dirty.is_set():
                return 0
            self._dirty.clear()  # before reading: a write after this read marks it again
            fresh = sorted(self._scan(), key=lambda item: item["record_id"]["S"])
            sent = 0
            for first in range(0, len(fresh), self._batch_size):
                batch = [self._record(item) for item in fresh[first : first + self._batch_size]]
                done = self._invoke(batch)
                sent += done
                if done < len(batch):
                    self._dirty.set()  # retried on the next round, from the first failure
                    break
            return sent

    def redeliver_last_batch(self) -> int:
        """The publisher crashed after PutEvents and before the checkpoint: the stream hands it
        the same batch again."""
        with self._lock:
            batch = list(self._last_batch)
            if batch:
                self._publisher.invoke({"Records": batch})
            return len(batch)

    def _invoke(self, batch: list[dict[str, Any]]) -> int:
        """Deliver one batch; how many records from its start count as done."""
        self._last_batch = batch
        try:
            answer = self._publisher.invoke({"Records": batch}) or {}
        except Exception:  # the function failed: the whole batch is retried
            return 0
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        done = 0
        for record in batch:
            if record["dynamodb"]["SequenceNumber"] in failed:
                break
            self._delivered.add(record["dynamodb"]["Keys"]["record_id"]["S"])
            done += 1
        return done

    def _record(self, item: dict[str, Any]) -> dict[str, Any]:
        self._sequence += 1
        return {
            "eventID": uuid.uuid4().hex,
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": int(time.time()),
                "Keys": {"record_id": item["record_id"]},
                "NewImage": item,
                "SequenceNumber": f"{self._sequence:021d}",
                "SizeBytes": len(json.dumps(item)),
                "StreamViewType": "NEW_IMAGE",
            },
            "eventSourceARN": self._stream_arn,
        }

    def _scan(self) -> list[dict[str, Any]]:
        """The records not delivered yet: their ids from a keys-only scan, then the items."""
        ids: list[str] = []
        scan: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True, "ProjectionExpression": "record_id"}
        while True:
            found = self._client.scan(**scan)
            ids += [item["record_id"]["S"] for item in found.get("Items", [])]
            if "LastEvaluatedKey" not in found:
                break
            scan["ExclusiveStartKey"] = found["LastEvaluatedKey"]
        fresh = [record_id for record_id in ids if record_id not in self._delivered]
        items: list[dict[str, Any]] = []
        for first in range(0, len(fresh), 100):
            keys = [{"record_id": {"S": record_id}} for record_id in fresh[first : first + 100]]
            pending = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while pending:
                answer = self._client.batch_get_item(RequestItems=pending)
                items += answer.get("Responses", {}).get(self._table, [])
                pending = answer.get("UnprocessedKeys") or {}
        return items

    def run_in_background(self) -> OutboxRelay:
        def poll() -> None:
            while not self._stopped.wait(POLL_SECONDS):
                try:
                    self.deliver()
                except Exception:  # noqa: BLE001 - a poller must outlive one bad round; the next retries
                    self._dirty.set()

        threading.Thread(target=poll, name="outbox-relay", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
