"""The due index: a sparse GSI of the subscriptions table (`due`) that lists what falls due, so the
scheduled run queries what is due instead of scanning every subscription.

  due_shard  DUE#{residency}#{shard:02d}       shard = a stable hash of the subscription id, so
                                               one residency's closes spread over SHARDS partitions
  due_order  {due_at, fixed width}#{subscription id}

The store derives both from `Subscription.due_at` whenever it writes the subscription item (a
put sets them, an update sets or removes them), so the index never disagrees with the item; once
the final period is closed they are removed and the subscription leaves the index. The index
projects keys only: balance updates never write to it. Another kind of due item (a grant or hold
expiring) joins by moving `due_at` earlier on its subscription, or, on an item of its own, by
carrying the same two attributes: the index returns table keys, so the run can tell kinds apart."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .dynamodb import value

if TYPE_CHECKING:  # annotations only: the invoicing run reads the index without the subscription models
    from ..domain.subscriptions import Subscription

DUE_INDEX = "due"
SHARDS = 16  # fixed: changing it moves every item to another partition (a re-write of the attributes)
_FIELDS = ("due_shard", "due_order")


def _partition(residency: str, shard: int) -> str:
    return f"DUE#{residency}#{shard:02d}"


def due_shard(residency: str, subscription_id: str) -> str:
    return _partition(
        residency, int.from_bytes(hashlib.blake2b(subscription_id.encode(), digest_size=2).digest()) % SHARDS
    )


def due_moment(moment: datetime) -> str:
    """Fixed width (always microseconds), so the text sorts as the time does."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def due_attributes(subscription: Subscription) -> dict[str, str]:
    """The index attributes the subscription item carries (none once nothing more falls due)."""
    if subscription.due_at is None:
        return {}
    return {
        "due_shard": due_shard(subscription.residency, subscription.subscription_id),
        "due_order": f"{due_moment(subscription.due_at)}#{subscription.subscription_id}",
    }


def keeping_due_index(update: dict[str, Any], subscription: Subscription) -> dict[str, Any]:
    """An `Update` action on the subscription item that also sets (or removes) its due attributes
    as `subscription`, the item after the update, has them."""
    operation = dict(update["Update"])
    attributes = due_attributes(subscription)
    if attributes:
        clause = ", ".join(f"{name} = :{name}" for name in attributes)
        operation["UpdateExpression"] = _join_set(operation["UpdateExpression"], clause)
        operation["ExpressionAttributeValues"] = {
            **operation.get("ExpressionAttributeValues", {}),
            **{f":{name}": value(text) for name, text in attributes.items()},
        }
    else:
        operation["UpdateExpression"] = f"{operation['UpdateExpression']} REMOVE {', '.join(_FIELDS)}"
    return {"Update": operation}


def _join_set(expression: str, clause: str) -> str:
    head, separator, rest = expression.partition("SET ")
    if not separator:
        return f"SET {clause} {expression}"
    return f"{head}SET {clause}, {rest}"


def due_subscription_ids(client, table: str, residency: str, now: datetime) -> Iterator[str]:
    """The ids of the residency's subscriptions due by `now`, shard by shard, earliest first in
    each: only what is due is read (a key condition, no filter, no scan)."""
    upper = f"{due_moment(now)}#~"  # '~' sorts after every id character: all due at `now` itself
    for shard in range(SHARDS):
        query: dict[str, Any] = {
            "TableName": table,
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "due_shard = :shard AND due_order <= :upper",
            "ExpressionAttributeValues": {":shard": value(_partition(residency, shard)), ":upper": value(upper)},
        }
        while True:
            found = client.query(**query)
            for item in found.get("Items", []):
                yield item["due_order"]["S"].rpartition("#")[2]
            if "LastEvaluatedKey" not in found:
                break
            query["ExclusiveStartKey"] = found["LastEvaluatedKey"]


class DynamoDueIndex:
    """The due index alone, for the scheduled run: it reads keys and sends ids, so it loads neither
    the subscription store nor the domain models that store writes (most of a cold start's own code)."""

    def __init__(self, client, subscriptions_table: str):
        self._client = client
        self._table = subscriptions_table

    def due(self, residency: str, now: datetime) -> Iterator[str]:
        return due_subscription_ids(self._client, self._table, residency, now)
