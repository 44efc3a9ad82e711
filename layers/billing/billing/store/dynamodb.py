"""DynamoDB plumbing shared by every store: the client, exact (Decimal) item conversion,
opaque page cursors and transactions whose cancellations become domain-level signals."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from ..domain.paging import Page, not_a_cursor, open_cursor, seal_cursor
from ..domain.values import format_timestamp

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Fail fast and let the caller's retry (and idempotency key) do the rest.
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


def make_client(endpoint_url: str | None = None, region: str | None = None):
    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region, config=_CLIENT_CONFIG)


def _plain(value: Any) -> Any:
    """Python values DynamoDB can hold exactly: datetimes as RFC 3339, None dropped, no floats."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):  # a float here is a bug upstream; refuse rather than round
        raise TypeError("floats cannot be stored exactly; use Decimal")
    return value


def to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in _plain(dict(item)).items()}


def from_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in attributes.items()}


def sortable_timestamp(moment: datetime) -> str:
    """Fixed width, so string order is time order (format_timestamp drops zero microseconds)."""
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.%fZ")


def value(v: Any) -> dict[str, Any]:
    """One attribute value, for expression values and keys."""
    return _serializer.serialize(_plain(v))


# --- cursors ------------------------------------------------------------------------------


CURSOR_LIST = "~list"  # the digest of the query a cursor continues: another list or filter is refused


def encode_cursor(last_evaluated_key: Mapping[str, Any] | None, *, list_digest: str = "") -> str | None:
    if not last_evaluated_key:
        return None
    return seal_cursor(from_attributes(last_evaluated_key) | {CURSOR_LIST: list_digest})


def decode_cursor(cursor: str | None, *, expected: Mapping[str, str], list_digest: str = "") -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for. The seal refuses any cursor but one a list wrote;
    `list_digest` (the whole query: index, key condition, filters) and `expected` (the partition)
    refuse one another list, another filter or another organization's list wrote."""
    if cursor is None:
        return None
    key = open_cursor(cursor)
    if key.pop(CURSOR_LIST, None) != list_digest or not 1 < len(key) <= 4:
        raise not_a_cursor()
    if not all(isinstance(v, str) and len(v) <= 1024 for v in key.values()):  # every key attribute is a string
        raise not_a_cursor()
    if any(key.get(name) != want for name, want in expected.items()):
        raise not_a_cursor()
    return to_attributes(key)


# --- transactions -------------------------------------------------------------------------


class TransactionCancelled(Exception):
    """A TransactWriteItems was cancelled; `reasons[i]` is the code for the i-th action
    (`ConditionalCheckFailed`, `TransactionConflict`, `None`, ...)."""

    def __init__(self, reasons: list[dict[str, Any]]):
        super().__init__(", ".join(r.get("Code", "None") for r in reasons))
        self.reasons = reasons

    def code(self, index: int) -> str:
        return self.reasons[index].get("Code", "None") if index < len(self.reasons) else "None"

    def failed_condition(self, index: int) -> bool:
        return self.code(index) == "ConditionalCheckFailed"

    @property
    def conflicted(self) -> bool:
        return any(r.get("Code") == "TransactionConflict" for r in self.reasons)


def transact_write(client, actions: list[dict[str, Any]], *, token: str | None = None) -> None:
    kwargs: dict[str, Any] = {"TransactItems": actions}
    if token:
        kwargs["ClientRequestToken"] = token
    try:
        client.transact_write_items(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        reasons = error.response.get("CancellationReasons") or _reasons_from_message(error, len(actions))
        raise TransactionCancelled(reasons) from error


def _reasons_from_message(error: ClientError, count: int) -> list[dict[str, Any]]:
    """Some endpoints (older emulators) put the reasons only in the message: `[None, ConditionalCheckFailed]`."""
    message = error.response.get("Error", {}).get("Message", "")
    start, end = message.rfind("["), message.rfind("]")
    if start == -1 or end < start:
        return [{"Code": "None"}] * count
    return [{"Code": part.strip()} for part in message[start + 1 : end].split(",")]


def is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def add_filters(query: dict[str, Any], equal: Mapping[str, Any]) -> None:
    """Narrow a Query to items whose attributes equal these values (applied by DynamoDB after the
    key condition, within the page it reads)."""
    if not equal:
        return
    names = query.setdefault("ExpressionAttributeNames", {})
    values = query.setdefault("ExpressionAttributeValues", {})
    parts = []
    for n, (attribute, wanted) in enumerate(equal.items()):
        names[f"#f{n}"], values[f":f{n}"] = attribute, value(wanted)
        parts.append(f"#f{n} = :f{n}")
    query["FilterExpression"] = " AND ".join(parts)


def query_page(
    client,
    query: dict[str, Any],
    *,
    cursor: str | None,
    pinned: Mapping[str, str],
    item: Callable[[dict[str, Any]], Any],
) -> Page:
    """One page of a Query. `pinned` names the attributes a cursor must carry (the partition
    being listed), so a cursor cannot walk into another list."""
    digest = _list_digest(query)
    start = decode_cursor(cursor, expected=pinned, list_digest=digest)
    try:
        found = client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
    except ClientError as error:
        # A cursor that decodes but does not name this list's key (other attributes, wrong types).
        if start is not None and error.response.get("Error", {}).get("Code") == "ValidationException":
            raise not_a_cursor() from None
        raise
    next_cursor = encode_cursor(found.get("LastEvaluatedKey"), list_digest=digest)
    return Page(items=[item(i) for i in found.get("Items", [])], next_cursor=next_cursor)


def _list_digest(query: Mapping[str, Any]) -> str:
    """What makes a list this list: the table and index, the key condition, the filters and their
    values (not the page size)."""
    shape = {k: v for k, v in query.items() if k not in ("Limit", "ExclusiveStartKey")}
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]
