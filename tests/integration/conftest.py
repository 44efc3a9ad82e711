"""Handlers against moto, loaded and configured exactly as template.yaml declares them, driven by
the sample events in events/."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from moto import mock_aws

from billing import deployment
from billing.domain.clock import SystemClock, TestClock
from local_stack.database import create_tables, journal_transactions, partition_queries
from local_stack.functions import LocalFunction, merged_environment
from local_stack.gateway import http_response_from_proxy
from local_stack.queues import LocalQueues
from local_stack.server import local_parameters
from local_stack.template import Stack

ROOT = Path(__file__).resolve().parents[2]
STACK = Stack(ROOT / "template.yaml", local_parameters({}))
SPECS = STACK.functions()


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


class Functions:
    """The template's functions on an in-process moto DynamoDB, on a test clock (`clock`) that
    runs in real time until a test moves it."""

    def __init__(self) -> None:
        self._loaded: dict[str, LocalFunction] = {}
        self.clock = TestClock()
        deployment.use_clock(self.clock)
        # The template's queues, in process: what a function sends waits until a test drains it.
        self.queues = LocalQueues(STACK, lambda function_id, event: self(function_id).invoke(event))
        deployment.use_sqs(self.queues)

    def __call__(self, function_id: str) -> LocalFunction:
        if function_id not in self._loaded:
            self._loaded[function_id] = LocalFunction(SPECS[function_id])
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
        response = http_response_from_proxy(self(function_id).invoke(event))
        return response.status, response.headers, json.loads(response.body) if response.body else {}


@pytest.fixture
def functions(monkeypatch):
    environment = merged_environment(SPECS) | {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    monkeypatch.delenv("BILLING_DYNAMODB_ENDPOINT", raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    # The local database's repairs of moto (no whole-table copy per transaction, no whole-table
    # sort per query): 300 closes would otherwise take minutes. Safe: one thread calls DynamoDB.
    journal_transactions()
    partition_queries()
    with mock_aws():
        deployment.reset()
        create_tables(deployment.dynamodb(), STACK.tables())
        yield Functions()
    deployment.use_clock(SystemClock())
    deployment.use_sqs(None)
    deployment.reset()


def claims(role: str, *, org: str = "", residency: str = "us", sub: str = "user|it") -> dict:
    """What the authorizer puts in requestContext.authorizer (roles as a JSON list)."""
    return {"principalId": sub, "sub": sub, "roles": json.dumps([role]), "org": org, "residency": residency}
