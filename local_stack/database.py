"""The local stack's DynamoDB: an embedded moto server on loopback, or any endpoint given in
BILLING_DYNAMODB_ENDPOINT (DynamoDB Local, AWS). Tables come from template.yaml.

moto's TransactWriteItems is not safe under concurrent calls, so the embedded server handles
one DynamoDB request at a time. Only the database is serialized: the functions themselves run
concurrently, so races between a read and a conditional write are as real as on AWS."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

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


def stop_tracking_instances() -> None:
    """moto appends every model object it ever creates (each Item written, each table copy) to a
    class-level `instances_tracked` list, for resetting mocks between tests; nothing removes
    them. A long-running server holds every version of every item: ~5 MB an event on a busy table.
    The embedded server never resets, so its DynamoDB models keep no such list."""
    import moto.dynamodb.models  # noqa: F401 - the models must exist to be found below
    from moto.core.common_models import BaseModel

    class NotTracked(list):
        def append(self, _instance) -> None:
            pass

    pending = list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__module__.startswith("moto.dynamodb"):
            model.instances_tracked = NotTracked()


def journal_transactions() -> None:
    """moto's TransactWriteItems deep-copies every table an action touches, for rollback: the cost
    grows with the table (seconds for a 97-item transaction on a few thousand items). Instead,
    remember just the items the actions touch and put them back if the transaction fails. Only
    safe where transactions do not run concurrently: the embedded server runs one request at a time."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "journaled", False):
        return

    class NoTableCopies:
        """What moto's module sees as `copy`: tables are not copied, everything else is."""

        active = False

        def deepcopy(self, thing, memo=None):
            return thing if self.active and isinstance(thing, Table) else copy.deepcopy(thing, memo)

        def __getattr__(self, name):
            return getattr(copy, name)

    no_table_copies = NoTableCopies()
    models.copy = no_table_copies
    transact = backend.transact_write_items

    def transact_write_items(self, transact_items):
        journal = [_before(self, action) for action in transact_items]
        no_table_copies.active = True
        try:
            return transact(self, transact_items)
        except Exception:
            for table_name, key, attributes in filter(None, journal):
                if attributes is not None:
                    self.put_item(table_name, attributes)
                elif self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            raise
        finally:
            no_table_copies.active = False

    transact_write_items.journaled = True
    backend.transact_write_items = transact_write_items


def partition_queries() -> None:
    """moto's Query sorts every item of the table (DynamoType comparisons, microseconds each)
    before it filters them to the partition asked for, so one query costs O(n log n) in the
    table's size: the due index's 16 queries over 50,000 subscriptions took seconds each, where
    DynamoDB reads one partition. Here a query sees only its partition's items: the base table's
    by its key, an index's by a plain compare of its hash attribute; moto then filters, sorts and
    pages them as before. Scans keep moto's order (their pages depend on it)."""
    import inspect

    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "partitioned", False):
        return
    query, all_items = Table.query, Table.all_items
    signature = inspect.signature(query)
    scope = threading.local()

    def partitioned_query(self, *args, **kwargs):
        arguments = signature.bind(self, *args, **kwargs).arguments
        scope.partition = (self, *_partition_of(self, arguments), _range_of(arguments))
        try:
            return query(self, *args, **kwargs)
        finally:
            scope.partition = None

    def scoped_all_items(self):
        partition = getattr(scope, "partition", None)
        if partition is None or partition[0] is not self:
            return all_items(self)
        _, attribute, key, in_range = partition
        if attribute is None:  # the base table: one partition of its items
            found = self.items.get(key)
            return [] if found is None else list(found.values()) if self.range_key_attr else [found]
        return [
            item
            for items in self.items.values()
            for item in (items.values() if self.range_key_attr else [items])
            if (value := item.attrs.get(attribute)) is not None
            and (value.type, value.value) == (key.type, key.value)
            and in_range(item)
        ]

    partitioned_query.partitioned = True
    Table.query, Table.all_items = partitioned_query, scoped_all_items


def _partition_of(table, arguments: dict[str, Any]) -> tuple[str | None, Any]:
    """(the index's hash attribute, or None for the base table; the key value) of a query."""
    index_name = arguments.get("index_name")
    if not index_name:
        return None, arguments["hash_key"]
    conditions = arguments.get("hash_key_conditions") or []
    if conditions:
        return conditions[0]
    index = table.get_index(index_name)
    return next(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"), arguments["hash_key"]


def _range_of(arguments: dict[str, Any]):
    """A cheap first pass of an index query's sort-key condition on text keys (moto sorts the whole
    partition before applying it, with slow comparisons); whatever it cannot judge passes, and moto
    applies the condition itself afterwards."""
    from moto.dynamodb.comparisons import get_comparison_func

    conditions = arguments.get("range_key_conditions") or []
    if not conditions:
        return lambda item: True
    attribute, comparison, bounds = conditions[-1]
    compare = get_comparison_func(comparison)
    if compare is None or any(bound.type != "S" for bound in bounds):
        return lambda item: True
    texts = [bound.value for bound in bounds]

    def in_range(item) -> bool:
        value = item.attrs.get(attribute)
        return value is None or value.type != "S" or compare(value.value, *texts)

    return in_range


def _before(backend, action: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None] | None:
    """(table, key, the item's attributes or None) before one action, or None where the action
    is malformed (moto refuses it before writing anything)."""
    try:
        kind, operation = next(iter(action.items()))
        table = backend.get_table(operation["TableName"])
        if kind == "Put":
            names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
            key = {name: operation["Item"][name] for name in names}
        else:
            key = operation["Key"]
        current = backend.get_item(operation["TableName"], key)
    except Exception:
        return None
    return operation["TableName"], key, (current.to_json()["Attributes"] if current is not None else None)


class EmbeddedDynamoDB:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        stop_tracking_instances()
        journal_transactions()
        partition_queries()
        app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-dynamodb", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmbeddedDynamoDB:
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
