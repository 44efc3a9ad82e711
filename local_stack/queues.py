"""SQS and EventBridge rules, locally, as template.yaml declares them: one in-process queue per
AWS::SQS::Queue (its RedrivePolicy's maxReceiveCount and dead-letter queue), each SQS event of a
function as an event source mapping (its BatchSize; with ReportBatchItemFailures only the failed
records are redelivered, without it a failed invocation redelivers the whole batch), and each
AWS::Events::Rule routing matching events to its queue targets.

Queues are drained on demand (`drain`): delivery happens in batches until every mapped queue is
empty, a failed message being received again at once (no visibility timeout to wait out) until
its maxReceiveCount moves it to the dead-letter queue. Functions send through `send_message_batch`,
the one SQS call the billing code makes (`deployment.use_sqs`)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .patterns import matches
from .template import PSEUDO, Stack

Invoke = Callable[[str, dict[str, Any]], Any]


@dataclass
class Message:
    body: str
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    receives: int = 0
    sent_at: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass
class DrainReport:
    deliveries: int = 0  # messages received by a function, redeliveries included
    failures: int = 0
    dead_lettered: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class LocalQueues:
    def __init__(self, stack: Stack, invoke: Invoke):
        self._invoke = invoke
        self.specs = {spec.logical_id: spec for spec in stack.queues()}
        self.sources = {source.queue: source for source in stack.queue_sources()}
        self.rules = stack.event_rules()
        endless = [q for q in self.sources if self.specs[q].max_receive_count is None]
        if endless:  # a message failing for good would come back forever
            raise ValueError(f"queue {endless[0]} is read by a function but has no RedrivePolicy")
        self._messages: dict[str, deque[Message]] = {name: deque() for name in self.specs}
        self._lock = threading.Lock()  # the messages
        self._draining = threading.Lock()  # one drain at a time: a batch is delivered once

    # --- what a function's SQS client does ---------------------------------------------------
    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's names
        queue = QueueUrl.rstrip("/").rpartition("/")[2]
        sent = [(entry["Id"], self.send(queue, entry["MessageBody"])) for entry in Entries]
        return {
            "Successful": [{"Id": entry_id, "MessageId": message_id} for entry_id, message_id in sent],
            "Failed": [],
        }

    # --- what tests and the local server do ----------------------------------------------------
    def send(self, queue: str, body: str) -> str:
        if queue not in self._messages:
            raise KeyError(f"template.yaml has no queue {queue}")
        message = Message(body)
        with self._lock:
            self._messages[queue].append(message)
        return message.message_id

    def put_events(self, bus: str, events: list[dict[str, Any]]) -> int:
        """PutEvents on a bus: each event, with the envelope EventBridge adds, to the queues of the
        rules it matches (as the whole event, which is what an SQS target receives)."""
        routed = 0
        for event in events:
            delivered = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "account": PSEUDO["AWS::AccountId"],
                "region": PSEUDO["AWS::Region"],
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "resources": [],
                **event,
            }
            for rule in self.rules:
                if rule.bus == bus and matches(rule.pattern, delivered):
                    for queue in rule.target_queues:
                        self.send(queue, json.dumps(delivered))
                        routed += 1
        return routed

    def messages(self, queue: str) -> list[str]:
        """The bodies waiting in a queue (a dead-letter queue, say), oldest first."""
        with self._lock:
            return [m.body for m in self._messages[queue]]

    def purge(self, queue: str) -> None:
        with self._lock:
            self._messages[queue].clear()

    def drain(self, queue: str | None = None) -> dict[str, dict[str, int]]:
        """Deliver until the queue (default: every queue a function reads) is empty. Returns what
        happened per queue."""
        wanted = [queue] if queue else list(self.sources)
        unknown = [q for q in wanted if q not in self.sources]
        if unknown:
            raise KeyError(f"no function reads queue {unknown[0]}")
        reports = {name: DrainReport() for name in wanted}
        with self._draining:
            while True:
                batches = [(name, self._take(name)) for name in wanted]
                batches = [(name, batch) for name, batch in batches if batch]
                if not batches:
                    return {name: report.as_dict() for name, report in reports.items()}
                for name, batch in batches:
                    self._deliver(name, batch, reports[name])

    def _take(self, queue: str) -> list[Message]:
        with self._lock:
            waiting = self._messages[queue]
            return [waiting.popleft() for _ in range(min(self.sources[queue].batch_size, len(waiting)))]

    def _deliver(self, queue: str, batch: list[Message], report: DrainReport) -> None:
        source = self.sources[queue]
        for message in batch:
            message.receives += 1
        report.deliveries += len(batch)
        try:
            result = self._invoke(source.function_id, self._event(queue, batch))
            failed_ids = (
                {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                if source.reports_item_failures
                else set()
            )
        except Exception:  # a failed invocation: the whole batch comes back
            failed_ids = {m.message_id for m in batch}
        spec = self.specs[queue]
        for message in batch:
            if message.message_id not in failed_ids:
                continue
            report.failures += 1
            with self._lock:
                if spec.max_receive_count is not None and message.receives >= spec.max_receive_count:
                    self._messages[spec.dead_letter_queue].append(Message(message.body, message.message_id))
                    report.dead_lettered += 1
                else:
                    self._messages[queue].append(message)

    def _event(self, queue: str, batch: list[Message]) -> dict[str, Any]:
        arn = f"arn:aws:sqs:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:{queue}"
        return {
            "Records": [
                {
                    "messageId": m.message_id,
                    "receiptHandle": f"{m.message_id}#{m.receives}",
                    "body": m.body,
                    "attributes": {
                        "ApproximateReceiveCount": str(m.receives),
                        "SentTimestamp": str(m.sent_at),
                        "ApproximateFirstReceiveTimestamp": str(m.sent_at),
                    },
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": PSEUDO["AWS::Region"],
                }
                for m in batch
            ]
        }
