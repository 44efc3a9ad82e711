"""The local stack's DynamoDB: an embedded moto server on loopback, or any endpoint given in
BILLING_DYNAMODB_ENDPOINT (DynamoDB Local, AWS). Tables come from template.yaml.

moto's TransactWriteItems is not safe under concurrent calls, so the embedded server handles
one DynamoDB request at a time. Only the database is serialized: the functions themselves run
concurrently, so races between a read and a conditional write are as real as on AWS."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterable

import boto3
from botocore.exceptions import ClientError


class _OneRequestAtATime:
    def __init__(self, app: Callable):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with self._lock:
            # Materialize the body inside the lock: moto builds it lazily from backend state.
            return [b"".join(self._app(environ, start_response))]


def back_up_each_table_once() -> None:
    """moto's TransactWriteItems deep-copies a table for rollback once per item that touches it, so a
    97-item transaction copies the table 97 times (seconds, on a table of a few thousand items).
    One copy per table and transaction restores the same state. Only safe where transactions do not
    run concurrently: the embedded server runs one request at a time."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "one_backup_per_table", False):
        return

    class TableBackups:
        taken: dict[int, Table] | None = None

        def deepcopy(self, thing, memo=None):
            if self.taken is None or not isinstance(thing, Table):
                return copy.deepcopy(thing, memo)
            if id(thing) not in self.taken:
                self.taken[id(thing)] = copy.deepcopy(thing)
            return self.taken[id(thing)]

        def __getattr__(self, name):
            return getattr(copy, name)

    backups = TableBackups()
    models.copy = backups
    transact = backend.transact_write_items

    def transact_write_items(self, transact_items):
        backups.taken = {}
        try:
            return transact(self, transact_items)
        finally:
            backups.taken = None

    transact_write_items.one_backup_per_table = True
    backend.transact_write_items = transact_write_items


class EmbeddedDynamoDB:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        back_up_each_table_once()
        app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-dynamodb", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "EmbeddedDynamoDB":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()


def create_tables(client: Any, tables: list[dict[str, Any]]) -> list[str]:
    """Create each table the template declares, unless it exists (an external endpoint keeps its data)."""
    created = []
    for spec in tables:
        try:
            client.create_table(**spec)
            created.append(spec["TableName"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceInUseException":
                raise
    for name in created:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return created


def client_for(endpoint: str, region: str = "us-east-1"):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
