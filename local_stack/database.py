"""The local stack's DynamoDB: an embedded moto server on loopback, or any endpoint given in
BILLING_DYNAMODB_ENDPOINT (DynamoDB Local, AWS). Tables come from template.yaml.

moto's TransactWriteItems is not safe under concurrent calls, so the embedded server handles
one DynamoDB request at a time. Only the database is serialized: the functions themselves run
concurrently, so races between a read and a conditional write are as real as on AWS."""

from __future__ import annotations

import base64
import bisect
import logging
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError


class _OneRequestAtATime:
    def __init__(self, app: Callable):
        self._app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with self.lock:
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


def size_items_once() -> None:
    """moto checks an item's 400 KB limit as each attribute is set, measuring the whole item again
    each time: quadratic in its attributes (~2 ms for a subscription item). A new item is measured
    once here, whole, against the same limit; later changes keep moto's check."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    if getattr(Item.__init__, "sized_once", False):
        return

    def __init__(self, hash_key, range_key, attrs):
        self.hash_key, self.range_key = hash_key, range_key
        typed = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in typed.items()) > 405_000:  # moto's limit
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, typed)

    __init__.sized_once = True
    Item.__init__ = __init__


def partition_queries() -> None:
    """moto's Query walks and sorts every item of the table (DynamoType comparisons, microseconds
    each) before it keeps the partition asked for, so one query costs O(n log n) in the table's
    size where DynamoDB reads one partition. Here a query reads what DynamoDB would: the base
    table's partition by its key, and an index's by its key too, from the partitions each index
    keeps sorted by its sort key (kept up to date on every write), cut to the key condition, the
    page's start and its limit by binary search. moto then filters, sorts and pages that slice as
    before. Scans keep moto's order (their pages depend on it)."""
    import inspect

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "partitioned", False):
        return
    query, all_items, put_item, delete_item = Table.query, Table.all_items, Table.put_item, Table.delete_item
    update_item = DynamoDBBackend.update_item
    signature = inspect.signature(query)
    scope = threading.local()

    def partitioned_query(self, *args, **kwargs):
        scope.query = (self, signature.bind(self, *args, **kwargs).arguments)
        try:
            return query(self, *args, **kwargs)
        finally:
            scope.query = None

    def scoped_all_items(self):
        table, arguments = getattr(scope, "query", None) or (None, None)
        found = _partition_items(self, arguments) if table is self else None
        return all_items(self) if found is None else found

    # Every write reaches an item through these three; an update changes the item in place.
    def indexed_put_item(self, *args, **kwargs):
        item = put_item(self, *args, **kwargs)
        _reindex(self, (item.hash_key, item.range_key))
        return item

    def indexed_delete_item(self, hash_key, range_key=None):
        try:
            return delete_item(self, hash_key, range_key)
        finally:
            _reindex(self, (hash_key, range_key))

    def indexed_update_item(self, table_name, key, *args, **kwargs):
        try:
            return update_item(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            if table is not None and table.hash_key_attr in key:
                range_key = key.get(table.range_key_attr) if table.range_key_attr else None
                _reindex(table, (DynamoType(key[table.hash_key_attr]), range_key and DynamoType(range_key)))

    partitioned_query.partitioned = True
    Table.query, Table.all_items = partitioned_query, scoped_all_items
    Table.put_item, Table.delete_item = indexed_put_item, indexed_delete_item
    DynamoDBBackend.update_item = indexed_update_item


def _order(value) -> tuple[str, Any] | None:
    """A key value as DynamoDB orders it (numbers by value, text and bytes by their bytes), or None
    for a type that cannot be a key."""
    if value.type == "S":
        return "S", value.value
    if value.type == "N":
        return "N", Decimal(value.value)
    if value.type == "B":
        return "B", value.value if isinstance(value.value, bytes) else base64.b64decode(value.value)
    return None


def _item_at(table, key: tuple) -> Any:
    hash_key, range_key = key
    found = table.items.get(hash_key)
    if found is None or not table.range_key_attr:
        return found
    return found.get(range_key)


def _reindex(table, key: tuple) -> None:
    indexes = table.__dict__.get("_sorted_indexes")
    if indexes:
        item = _item_at(table, key)
        for index in indexes.values():
            if index is not None:
                index.place(key, item)


def _partition_items(table, arguments: dict[str, Any]) -> list | None:
    """The items a query's partition holds (an index's: only those its key condition, page start
    and limit can reach), or None where moto's own walk must answer."""
    index_name = arguments.get("index_name")
    if not index_name:
        found = table.items.get(arguments["hash_key"])
        return [] if found is None else list(found.values()) if table.range_key_attr else [found]
    indexes = table.__dict__.setdefault("_sorted_indexes", {})
    if index_name not in indexes:
        indexes[index_name] = _SortedIndex.of(table, table.get_index(index_name))
    index = indexes[index_name]
    return None if index is None else index.read(arguments)


class _SortedIndex:
    """One secondary index as DynamoDB keeps it: a partition per hash key value, each a list of
    (sort key, table key) entries kept sorted, so a query is a binary search, not a walk."""

    @classmethod
    def of(cls, table, index) -> _SortedIndex | None:
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        if len(hashes) != 1 or len(ranges) > 1:  # multi-attribute keys: moto's walk answers
            return None
        return cls(table, hashes[0], ranges[0] if ranges else None)

    def __init__(self, table, hash_attribute: str, range_attribute: str | None):
        self.table, self.hash_attribute, self.range_attribute = table, hash_attribute, range_attribute
        self.partitions: dict[tuple, list[tuple]] = {}
        self.placed: dict[tuple, tuple[tuple, tuple]] = {}  # table key -> (partition, entry)
        for found in list(table.items.values()):
            for item in found.values() if table.range_key_attr else [found]:
                self.place((item.hash_key, item.range_key), item)

    def _sort_order(self, attributes: dict[str, Any], table_key: tuple) -> tuple | None:
        """(sort key, table key) as DynamoDB orders an index partition; None: not in the index."""
        sort = _order(attributes[self.range_attribute]) if self.range_attribute else ()
        hash_key, range_key = (_order(part) if part is not None else () for part in table_key)
        return None if None in (sort, hash_key, range_key) else (sort, (hash_key, range_key))

    def place(self, key: tuple, item) -> None:
        """Move the item at `key` (None: deleted) to where it now belongs, if anywhere (sparse)."""
        placed = self.placed.pop(key, None)
        if placed is not None:
            partition, entry = placed
            entries = self.partitions[partition]
            del entries[bisect.bisect_left(entries, entry[:2], key=_position)]
            if not entries:
                del self.partitions[partition]
        if item is None or self.hash_attribute not in item.attrs:
            return
        if self.range_attribute and self.range_attribute not in item.attrs:
            return
        partition, position = _order(item.attrs[self.hash_attribute]), self._sort_order(item.attrs, key)
        if partition is None or position is None:
            return
        entry = (*position, key)
        bisect.insort(self.partitions.setdefault(partition, []), entry, key=_position)
        self.placed[key] = (partition, entry)

    def read(self, arguments: dict[str, Any]) -> list | None:
        conditions = arguments.get("hash_key_conditions") or []
        if len(conditions) > 1:
            return None
        hash_value = conditions[0][1] if conditions else arguments.get("hash_key")
        entries = self.partitions.get(_order(hash_value)) if hash_value is not None else None
        if not entries:
            return []
        low, high = self._key_condition(entries, arguments)
        low, high = self._page(entries, arguments, low, high)
        return [_item_at(self.table, entry[2]) for entry in entries[low:high]]

    def _key_condition(self, entries: list[tuple], arguments: dict[str, Any]) -> tuple[int, int]:
        """The slice of a partition its sort key condition keeps (all of it when not judged here:
        moto applies every condition again)."""
        comparison, bounds = arguments.get("range_comparison"), arguments.get("range_objs") or []
        for attribute, compared, values in arguments.get("range_key_conditions") or []:
            if attribute == self.range_attribute:
                comparison, bounds = compared, values
        if not comparison or not bounds:
            return 0, len(entries)
        orders = [_order(bound) for bound in bounds]
        if None in orders:
            return 0, len(entries)
        first, operator = orders[0], comparison.upper()
        left = bisect.bisect_left(entries, first, key=_sort_key)
        right = bisect.bisect_right(entries, first, key=_sort_key)
        if operator in ("=", "EQ"):
            return left, right
        if operator in ("<", "LT"):
            return 0, left
        if operator in ("<=", "LE"):
            return 0, right
        if operator in (">", "GT"):
            return right, len(entries)
        if operator in (">=", "GE"):
            return left, len(entries)
        if operator == "BETWEEN" and len(orders) == 2:
            return left, max(left, bisect.bisect_right(entries, orders[1], key=_sort_key))
        if operator == "BEGINS_WITH" and first[0] in ("S", "B"):
            high = left
            while high < len(entries) and entries[high][0][0] == first[0] and entries[high][0][1].startswith(first[1]):
                high += 1
            return left, high
        return 0, len(entries)

    def _page(self, entries: list[tuple], arguments: dict[str, Any], low: int, high: int) -> tuple[int, int]:
        """Narrowed to what follows the page's start, and to one more than its limit (moto marks a
        next page only when it sees an item past the limit)."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        forward = arguments.get("scan_index_forward", True) is not False
        start = arguments.get("exclusive_start_key")
        if start:
            try:
                table_key = (
                    DynamoType(start[self.table.hash_key_attr]),
                    DynamoType(start[self.table.range_key_attr]) if self.table.range_key_attr else None,
                )
                position = self._sort_order({k: DynamoType(v) for k, v in start.items()}, table_key)
            except (KeyError, TypeError, ValueError):
                position = None
            if position is not None and forward:
                low = max(low, bisect.bisect_right(entries, position, key=_position))
            elif position is not None:
                high = min(high, bisect.bisect_left(entries, position, key=_position))
        limit = arguments.get("limit")
        if limit and not arguments.get("filter_kwargs"):
            if forward:
                high = min(high, low + limit + 1)
            else:
                low = max(low, high - limit - 1)
        return low, max(low, high)


def _sort_key(entry: tuple) -> Any:
    return entry[0]


def _position(entry: tuple) -> tuple:
    return entry[:2]


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
        size_items_once()
        self._app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, self._app, threaded=True)
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

    def table(self, name: str, *, region: str = "us-east-1") -> Any:
        """The table's model in the database (moto's): for a benchmark's meter, never for functions."""
        return self._backend(region).get_table(name)

    def put_items(self, table_name: str, items: list[dict[str, Any]], *, region: str = "us-east-1") -> None:
        """Write items (DynamoDB JSON) straight into the database's tables, as a PutItem each would
        but without the HTTP round trip: for seeding tens of thousands of items into a test stack."""
        backend = self._backend(region)
        with self._app.lock:
            for item in items:
                backend.put_item(table_name, item)

    @staticmethod
    def _backend(region: str) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID][region]


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
