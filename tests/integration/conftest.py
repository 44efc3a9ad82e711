"""Handlers on plain, pinned moto (DynamoDB and SQS), loaded and configured as template.yaml
declares them (tests/integration/template.py), driven by the sample events in events/.

Nothing here comes from the local stack (`make run`): a cancelled TransactWriteItems is rolled
back by moto itself (it restores a copy of each table the transaction touched), so what these
tests say of conditional writes is said of the emulator, not of project code."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from billing import deployment
from billing.domain.clock import SystemClock, TestClock

from .template import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template()


def sample_event(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def with_path(event: dict, path_parameters: dict) -> dict:
    """Point an API sample event at other path parameters (its `path` follows its `resource`)."""
    event["pathParameters"] = {**(event.get("pathParameters") or {}), **path_parameters}
    path = event["resource"]
    for key, value in event["pathParameters"].items():
        path = path.replace("{" + key + "}", value)
    event["path"] = path
    return event


def create_tables(client, tables: list[dict]) -> None:
    for table in tables:
        client.create_table(**table)


class Function:
    """One function of the template, loaded once (a warm container); `invoke` calls its handler
    as Lambda would."""

    def __init__(self, function_id: str):
        self.function_id = function_id
        self.handler = TEMPLATE.handler(function_id)

    def invoke(self, event: dict):
        return self.handler(event, LambdaContext(self.function_id))


class LambdaContext:
    def __init__(self, function_id: str):
        self.function_name = function_id
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_id}"
        self.aws_request_id = f"it-{function_id}"
        self.log_group_name = f"/aws/lambda/{function_id}"
        self.log_stream_name = "it"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def matches(pattern, event) -> bool:
    """EventBridge's exact-value matching: a list is the values allowed, an object goes deeper."""
    if isinstance(pattern, list):
        return event in pattern
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and matches(want, event[key]) for key, want in pattern.items()
        )
    return pattern == event


class Queues:
    """The template's queues on moto's SQS, and the rules that feed them: what a function sends
    or a rule routes waits until a test drains it, delivered as Lambda's event
    source mapping would (batches up to the function's BatchSize; a failed invocation returns
    the whole batch, a reported item failure only that item), and moto's redrive policy moves a
    message received maxReceiveCount times to the dead-letter queue."""

    def __init__(self, functions: Functions):
        self._functions = functions
        self._sqs = boto3.client("sqs", region_name="us-east-1")
        self.reading = {queue.name: queue for queue in TEMPLATE.queues()}
        self.arns: dict[str, str] = {}
        for queue in self.reading.values():
            self._create(queue.dead_letter_queue)
            redrive = {
                "deadLetterTargetArn": self.arns[queue.dead_letter_queue],
                "maxReceiveCount": queue.max_receive_count,
            }
            self._create(queue.name, RedrivePolicy=json.dumps(redrive))

    def _create(self, name: str, **attributes: str) -> None:
        url = self._sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        TEMPLATE.queue_urls[name] = url
        self.arns[name] = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    # --- what producers do -------------------------------------------------------------------
    def send(self, queue: str, body: str) -> None:
        self._sqs.send_message(QueueUrl=TEMPLATE.queue_urls[queue], MessageBody=body)

    def put_events(self, bus: str, events: list[dict]) -> int:
        """PutEvents on a bus of the template (its logical id), for events as EventBridge delivers
        them: each goes, whole, to the queues of the rules it matches (the routing is done here:
        moto's EventBridge needs moto's [events] extra, which requirements-dev.txt does not pin).
        Returns how many messages were routed."""
        name = TEMPLATE.resolve({"Ref": bus})
        routed = 0
        for event in events:
            for rule in TEMPLATE.rules():
                if rule.bus == name and matches(rule.pattern, event):
                    for queue in rule.queues:
                        self.send(queue, json.dumps(event))
                        routed += 1
        return routed

    # --- what tests look at ------------------------------------------------------------------
    def messages(self, queue: str) -> list[str]:
        """The bodies waiting in a queue, oldest first, without receiving them (a receive would
        count towards maxReceiveCount): read from moto's backend."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        return [m.body for m in sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_queue(queue).messages]

    def drain(self, name: str) -> dict[str, dict[str, int]]:
        """Deliver until the queue is empty (a failed message is visible again at once: no
        visibility timeout to wait out). Returns what happened, as {queue: counts}."""
        queue = self.reading[name]
        report = {"deliveries": 0, "failures": 0, "dead_lettered": 0}
        dead_before = len(self.messages(queue.dead_letter_queue))
        while batch := self._batch(queue):
            report["deliveries"] += len(batch)
            failed = self._deliver(queue, batch)
            report["failures"] += len(failed)
            for message in batch:
                receipt = {"QueueUrl": TEMPLATE.queue_urls[name], "ReceiptHandle": message["ReceiptHandle"]}
                if message["MessageId"] in failed:
                    self._sqs.change_message_visibility(**receipt, VisibilityTimeout=0)
                else:
                    self._sqs.delete_message(**receipt)
        report["dead_lettered"] = len(self.messages(queue.dead_letter_queue)) - dead_before
        return {name: report}

    def _batch(self, queue) -> list[dict]:
        """Up to BatchSize messages, received ten at a time (SQS's most), as Lambda's poller does."""
        batch: list[dict] = []
        while len(batch) < queue.batch_size:
            received = self._sqs.receive_message(
                QueueUrl=TEMPLATE.queue_urls[queue.name],
                MaxNumberOfMessages=min(10, queue.batch_size - len(batch)),
                VisibilityTimeout=60,  # in flight until delivered: not received twice in one batch
                AttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            batch += received
        return batch

    def _deliver(self, queue, batch: list[dict]) -> set[str]:
        """The ids of the messages that failed."""
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": self.arns[queue.name],
                "awsRegion": "us-east-1",
            }
            for m in batch
        ]
        try:
            result = self._functions(queue.function_id).invoke({"Records": records})
        except Exception:  # a failed invocation: the whole batch comes back
            return {m["MessageId"] for m in batch}
        if not queue.reports_item_failures:
            return set()
        return {failure["itemIdentifier"] for failure in (result or {}).get("batchItemFailures", [])}


class Functions:
    """The template's functions, called in process on plain moto (DynamoDB and SQS), on a test
    clock (`clock`) that runs in real time until a test moves it. Calls are sequential: moto's
    TransactWriteItems is not safe under concurrent calls (its rollback restores a copy of each
    table it touched), and no test here makes concurrent ones."""

    def __init__(self) -> None:
        self._loaded: dict[str, Function] = {}
        self.clock = TestClock()
        deployment.use_clock(self.clock)
        self.queues = Queues(self)

    def __call__(self, function_id: str) -> Function:
        if function_id not in self._loaded:
            self._loaded[function_id] = Function(function_id)
        return self._loaded[function_id]

    def http(
        self, function_id: str, event_name: str, *, body=None, authorizer=..., path_parameters=None, query=...
    ) -> tuple[int, dict, dict]:
        """Deliver a sample API event (optionally changed) and decode the proxy result."""
        event = copy.deepcopy(sample_event(event_name))
        if body is not None:
            event["body"] = body if isinstance(body, str) else json.dumps(body)
        if authorizer is not ...:
            event["requestContext"]["authorizer"] = authorizer
        if path_parameters:
            with_path(event, path_parameters)
        if query is not ...:
            event["queryStringParameters"] = query
        result = self(function_id).invoke(event)
        headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[key] = ", ".join(str(v) for v in values)
        body = base64.b64decode(result["body"]).decode() if result.get("isBase64Encoded") else result.get("body")
        return result["statusCode"], headers, json.loads(body) if body else {}


@pytest.fixture
def functions(monkeypatch):
    monkeypatch.delenv("BILLING_DYNAMODB_ENDPOINT", raising=False)
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        deployment.reset()
        functions = Functions()  # the queues first: the environment holds their URLs
        for key, value in TEMPLATE.environment().items():
            monkeypatch.setenv(key, value)
        deployment.reset()
        create_tables(deployment.dynamodb(), TEMPLATE.tables())
        yield functions
    deployment.use_clock(SystemClock())
    deployment.reset()


def claims(role: str, *, org: str = "", residency: str = "us", sub: str = "user|it") -> dict:
    """What the authorizer puts in requestContext.authorizer (roles as a JSON list)."""
    return {"principalId": sub, "sub": sub, "roles": json.dumps([role]), "org": org, "residency": residency}
