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


class EmbeddedDynamoDB:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
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
