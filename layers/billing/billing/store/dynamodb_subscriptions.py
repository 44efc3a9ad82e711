"""Subscriptions, the credit ledger and idempotency records in DynamoDB.

subscriptions  SUB#{id} / SUBSCRIPTION     the subscription, its balances and `ledger_seq`
               ORG#{org} / ACTIVE          guard: at most one active subscription per organization
               SUB#{id} / HOLD#{hold_id}   a hold's record (held ones ride on the subscription too)
               SUB#{id} / GRANT#{grant_id} a grant's record (its live `remaining` is on the subscription
                                           while it is active)
credit ledger  SUB#{id} / SEQ#{seq:012}    one immutable item per entry
idempotency    {scope}                     the first result of a keyed request (TTL `expires_at`)
outbox         {event_id}                  the events a change reports, in its transaction

Every change to credits is one TransactWriteItems (a CreditPosting) whose subscription update is
conditioned on the ledger seq it read, so concurrent changes never lose an update and seq never
skips or repeats."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from ..domain.errors import NotFound, RetryableConflict
from ..domain.grants import CreditGrant, GrantStatus
from ..domain.hold_records import Hold
from ..domain.idempotency import IdempotencyRecord
from ..domain.ids import first_id_at
from ..domain.ledger import LedgerEntry
from ..domain.paging import Page
from ..domain.periods import Period
from ..domain.plans import Plan
from ..domain.subscriptions import Subscription, SubscriptionFilters, subscription_exists, subscription_order
from . import writes
from .capacity import WriteUnits
from .due_index import due_attributes, due_subscription_ids, keeping_due_index
from .dynamodb import (
    TransactionCancelled,
    add_filters,
    from_attributes,
    query_page,
    to_attributes,
    value,
)
from .dynamodb_outbox import outbox_item
from .dynamodb_writes import Layout, commit
from .writes import Kind, Operation

if TYPE_CHECKING:  # a credit write's posting: annotations only, a read loads no credit domain
    from ..domain.credits import CreditPosting

SUBSCRIPTION = "SUBSCRIPTION"
ACTIVE_GUARD = "ACTIVE_SUBSCRIPTION"
ORGANIZATION_INDEX = "by_organization"
RESIDENCY_INDEX = "by_residency"
GRANT_PREFIX = "GRANT#"
HOLD_PREFIX = "HOLD#"
_INTERNAL = ("pk", "sk", "organization_order")


def subscription_key(subscription_id: str) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(SUBSCRIPTION)}


def _guard_key(organization_id: str) -> dict[str, Any]:
    return {"pk": value(f"ORG#{organization_id}"), "sk": value(ACTIVE_GUARD)}


def _entry_sk(seq: int) -> str:
    return f"SEQ#{seq:012d}"


def _strip(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in from_attributes(item).items() if k not in _INTERNAL}


class Tables(Struct, frozen=True):
    subscriptions: str
    ledger: str
    outbox: str
    idempotency: str = ""  # only the subscription store writes idempotency records


def credit_layouts(tables: Tables) -> dict[Kind, Layout]:
    """How the records of a credit write are stored (store/writes.py): the subscription item
    (keeping its due index), ledger entries, grant and hold records, the outbox and idempotency items."""
    return {
        "subscription": Layout(
            tables.subscriptions,
            key=subscription_key,
            item=subscription_item,
            stored=lambda update: update.after.stored(include=set(update.changes)),
            # Grants and holds expire, and a close moves the period: when the subscription falls due follows.
            finish=keeping_due_index,
        ),
        "ledger": Layout(tables.ledger, key=lambda key: _entry_key(*key), item=_ledger_item),
        "grant": Layout(
            tables.subscriptions,
            key=lambda key: _grant_key(*key),
            item=lambda grant: {**_grant_key_item(grant.subscription_id, grant.grant_id), **grant.model_dump()},
        ),
        "hold": Layout(
            tables.subscriptions,
            key=lambda key: hold_key(*key),
            item=lambda hold: {
                "pk": f"SUB#{hold.subscription_id}",
                "sk": f"{HOLD_PREFIX}{hold.hold_id}",
                **hold.stored(),
            },
        ),
        "outbox": Layout(
            tables.outbox, key=lambda key: {"record_id": value(key)}, item=outbox_item, key_name="record_id"
        ),
        "idempotency": Layout(tables.idempotency, key=lambda scope: {"pk": value(scope)}, item=_idempotency_item),
    }


def hold_key(subscription_id: str, hold_id: str) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(f"{HOLD_PREFIX}{hold_id}")}


def _grant_key_item(subscription_id: str, grant_id: str) -> dict[str, str]:
    return {"pk": f"SUB#{subscription_id}", "sk": f"{GRANT_PREFIX}{grant_id}"}


def _grant_key(subscription_id: str, grant_id: str) -> dict[str, Any]:
    return {name: value(part) for name, part in _grant_key_item(subscription_id, grant_id).items()}


def _entry_key(subscription_id: str, seq: int) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(_entry_sk(seq))}


def _ledger_item(entry: LedgerEntry) -> dict[str, Any]:
    return {"pk": f"SUB#{entry.subscription_id}", "sk": _entry_sk(entry.seq), **entry.model_dump()}


def _idempotency_item(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "pk": record.scope,
        "fingerprint": record.fingerprint,
        "result": record.result,
        "created_at": record.created_at,
        "expires_at": int(record.expires_at.timestamp()),
    }


def subscription_item(subscription: Subscription) -> dict[str, Any]:
    """The subscription as stored: keys, fields, and the organization index's sort key."""
    return {
        "pk": f"SUB#{subscription.subscription_id}",
        "sk": SUBSCRIPTION,
        **subscription.stored(),
        "organization_order": subscription.subscription_id,  # ULIDs sort by creation time
        "created_order": subscription_order(subscription),  # the residency index's sort key
        **due_attributes(subscription),
    }


def _subscription(item: dict[str, Any]) -> Subscription:
    return Subscription.model_validate(_strip(item))


def _grant(item: dict[str, Any]) -> CreditGrant:
    return CreditGrant.model_validate(_strip(item))


def _entry(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry.model_validate(_strip(item))


class DynamoSubscriptionStore:
    def __init__(
        self,
        client,
        *,
        subscriptions_table: str,
        ledger_table: str,
        idempotency_table: str,
        plans_table: str,
        outbox_table: str,
    ):
        self._client = client
        self._subscriptions = subscriptions_table
        self._ledger = ledger_table
        self._idempotency = idempotency_table
        self._plans = plans_table
        self._tables = Tables(subscriptions_table, ledger_table, outbox_table, idempotency_table)
        self._layouts = credit_layouts(self._tables)

    # --- reads ---------------------------------------------------------------------------------
    def get(self, subscription_id: str) -> Subscription | None:
        found = self._client.get_item(
            TableName=self._subscriptions, Key=subscription_key(subscription_id), ConsistentRead=True
        )
        return _subscription(found["Item"]) if "Item" in found else None

    def organization_page(self, organization_id: str, *, limit: int, cursor: str | None) -> Page[Subscription]:
        query = self._index_query(ORGANIZATION_INDEX, ("organization_id", ":org", organization_id), limit)
        keys = query_page(
            self._client,
            query,
            cursor=cursor,
            pinned={"organization_id": organization_id},
            item=lambda item: item["pk"]["S"],
        )
        return self._whole(keys)

    def residency_page(
        self, residency: str, filters: SubscriptionFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[Subscription]:
        """Newest first, through the residency index (keys and filter attributes only), then the
        page's subscriptions read whole and consistently."""
        query = self._index_query(RESIDENCY_INDEX, ("residency", ":residency", residency), limit)
        if before is not None:
            query["KeyConditionExpression"] += " AND created_order < :before"
            query["ExpressionAttributeValues"][":before"] = value(before)
        conditions = {"status": filters.status, "plan_id": filters.plan_id, "organization_id": filters.organization_id}
        add_filters(query, {name: wanted for name, wanted in conditions.items() if wanted is not None})
        keys = query_page(
            self._client, query, cursor=cursor, pinned={"residency": residency}, item=lambda item: item["pk"]["S"]
        )
        return self._whole(keys)

    def _index_query(self, index: str, partition: tuple[str, str, str], limit: int) -> dict[str, Any]:
        """Newest first (subscription ids are ULIDs) through an index of subscriptions: `partition`
        names its key attribute, the placeholder (part of a cursor's list digest) and the value."""
        attribute, placeholder, wanted = partition
        return {
            "TableName": self._subscriptions,
            "IndexName": index,
            "KeyConditionExpression": f"{attribute} = {placeholder}",
            "ExpressionAttributeValues": {placeholder: value(wanted)},
            "ScanIndexForward": False,
            "Limit": limit,
        }

    def _whole(self, keys: Page[str]) -> Page[Subscription]:
        """A page of keys from an index that projects only keys (or filter attributes), as whole
        subscriptions read consistently: so the index never takes a write when balances change."""
        found = self._batch_get([{"pk": value(pk), "sk": value(SUBSCRIPTION)} for pk in keys.items])
        by_pk = {f"SUB#{s.subscription_id}": s for s in found}
        return Page(items=[by_pk[pk] for pk in keys.items if pk in by_pk], next_cursor=keys.next_cursor)

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[Subscription]:
        found: list[Subscription] = []
        for first in range(0, len(keys), 100):
            pending = {self._subscriptions: {"Keys": keys[first : first + 100], "ConsistentRead": True}}
            while pending:
                answer = self._client.batch_get_item(RequestItems=pending)
                found += [_subscription(item) for item in answer.get("Responses", {}).get(self._subscriptions, [])]
                pending = answer.get("UnprocessedKeys") or {}
        return found

    def ledger_page(self, subscription_id: str, *, limit: int, cursor: str | None) -> Page[LedgerEntry]:
        partition = f"SUB#{subscription_id}"
        query = {
            "TableName": self._ledger,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": value(partition)},
            "ConsistentRead": True,
            "Limit": limit,
        }
        return query_page(self._client, query, cursor=cursor, pinned={"pk": partition}, item=_entry)

    def ledger_entry(self, subscription_id: str, seq: int) -> LedgerEntry | None:
        found = self._client.get_item(TableName=self._ledger, Key=_entry_key(subscription_id, seq), ConsistentRead=True)
        return _entry(found["Item"]) if "Item" in found else None

    def grants_page(
        self, subscription: Subscription, *, status: GrantStatus | None, limit: int, cursor: str | None
    ) -> Page[CreditGrant]:
        """Newest first; an active grant shows the remaining credits the subscription holds for it."""
        partition, query = self._records_query(subscription.subscription_id, GRANT_PREFIX, limit)
        add_filters(query, {"status": status} if status else {})
        live = {g.grant_id: g for g in subscription.grants}
        return query_page(
            self._client,
            query,
            cursor=cursor,
            pinned={"pk": partition},
            item=lambda item: (grant := _grant(item)).as_of(live.get(grant.grant_id)),
        )

    def _records_query(self, subscription_id: str, prefix: str, limit: int) -> tuple[str, dict[str, Any]]:
        """A page of one kind of the subscription's records (grants, holds), newest first (ULIDs)."""
        partition = f"SUB#{subscription_id}"
        return partition, {
            "TableName": self._subscriptions,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": value(partition), ":prefix": value(prefix)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }

    def grant(self, subscription: Subscription, grant_id: str) -> CreditGrant:
        found = self._client.get_item(
            TableName=self._subscriptions, Key=_grant_key(subscription.subscription_id, grant_id), ConsistentRead=True
        )
        if "Item" not in found:
            raise NotFound(f"No grant '{grant_id[:128]}' on this subscription.")
        live = {g.grant_id: g for g in subscription.grants}
        return _grant(found["Item"]).as_of(live.get(grant_id))

    def hold(self, subscription_id: str, hold_id: str) -> Hold | None:
        found = self._client.get_item(
            TableName=self._subscriptions, Key=hold_key(subscription_id, hold_id), ConsistentRead=True
        )
        return Hold.from_stored(_strip(found["Item"])) if "Item" in found else None

    def holds_page(self, subscription_id: str, *, limit: int, cursor: str | None) -> Page[Hold]:
        """Newest first (hold ids end in a ULID)."""
        partition, query = self._records_query(subscription_id, HOLD_PREFIX, limit)
        return query_page(
            self._client, query, cursor=cursor, pinned={"pk": partition}, item=lambda i: Hold.from_stored(_strip(i))
        )

    def grants_made_in(self, subscription_id: str, period: Period) -> list[CreditGrant]:
        """The grants made during the period (their ids carry their creation time), oldest first."""
        query: dict[str, Any] = {
            "TableName": self._subscriptions,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": value(f"SUB#{subscription_id}"),
                ":first": value(GRANT_PREFIX + first_id_at(period.start)),
                ":last": value(GRANT_PREFIX + first_id_at(period.end)),
            },
            "ConsistentRead": True,
        }
        grants: list[CreditGrant] = []
        while True:
            found = self._client.query(**query)
            grants += [_grant(item) for item in found.get("Items", [])]
            if "LastEvaluatedKey" not in found:
                return [g for g in grants if g.period_start == period.start]
            query["ExclusiveStartKey"] = found["LastEvaluatedKey"]

    def idempotency_record(self, scope: str) -> IdempotencyRecord | None:
        found = self._client.get_item(TableName=self._idempotency, Key={"pk": value(scope)}, ConsistentRead=True)
        if "Item" not in found:
            return None
        item = from_attributes(found["Item"])
        return IdempotencyRecord(
            scope=item["pk"],
            fingerprint=item["fingerprint"],
            result=item["result"],
            created_at=item["created_at"],
            expires_at=datetime.fromtimestamp(int(item["expires_at"]), tz=UTC),
        )

    # --- writes --------------------------------------------------------------------------------
    def provision(self, posting: CreditPosting, *, plan: Plan, idempotency: IdempotencyRecord | None) -> None:
        subscription = posting.subscription
        actions = [
            {
                "Put": {
                    "TableName": self._subscriptions,
                    "Item": to_attributes(
                        {
                            "pk": f"ORG#{subscription.organization_id}",
                            "sk": ACTIVE_GUARD,
                            "subscription_id": subscription.subscription_id,
                            "created_at": subscription.created_at,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",  # to name the existing subscription
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self._plans,
                    "Key": {"pk": value(f"PLAN#{plan.plan_id}"), "sk": value("CURRENT")},
                    "ConditionExpression": "#status = :active AND #version = :version",
                    "ExpressionAttributeNames": {"#status": "status", "#version": "version"},
                    "ExpressionAttributeValues": {":active": value("active"), ":version": value(plan.version)},
                }
            },
        ]

        def apply(write: Sequence[Operation]) -> WriteUnits:
            """The posting, after the guard and the plan's check (they answer for themselves)."""
            try:
                return commit(self._client, write, self._layouts, before=actions)
            except TransactionCancelled as cancelled:
                if cancelled.failed_condition(0):
                    guard = from_attributes(cancelled.reasons[0].get("Item") or {})
                    raise subscription_exists(subscription.organization_id, guard.get("subscription_id")) from None
                raise RetryableConflict("The plan changed while subscribing; retry.") from None

        try:
            writes.post(apply, posting, idempotency=idempotency, new=True)
        except RetryableConflict:
            raise RetryableConflict("The plan or the organization changed while subscribing; retry.") from None

    def cancel(self, posting: CreditPosting) -> None:
        subscription = posting.subscription
        free_the_slot = {
            "Delete": {
                "TableName": self._subscriptions,
                "Key": _guard_key(subscription.organization_id),
                "ConditionExpression": "subscription_id = :id",
                "ExpressionAttributeValues": {":id": value(subscription.subscription_id)},
            }
        }
        try:
            # Canceled inside its period, it falls due at the cancellation (the update keeps the index).
            writes.post(lambda write: commit(self._client, write, self._layouts, before=[free_the_slot]), posting)
        except TransactionCancelled:
            raise RetryableConflict("The subscription changed while canceling; retry.") from None

    def append(
        self, posting: CreditPosting, *, idempotency: IdempotencyRecord | None, require_active: bool = False
    ) -> None:
        writes.post(self._apply, posting, idempotency=idempotency, require_active=require_active)

    def _apply(self, write: Sequence[Operation]) -> WriteUnits:
        return commit(self._client, write, self._layouts)

    def save_settings(self, subscription: Subscription, changes: dict[str, Any]) -> None:
        writes.save_settings(self._apply, subscription, changes)

    def due(self, residency: str, now: datetime) -> Iterator[str]:
        return due_subscription_ids(self._client, self._subscriptions, residency, now)

    def active_for(self, organization_id: str) -> Subscription | None:
        """The organization's active subscription, found through its guard item."""
        guard = self._client.get_item(
            TableName=self._subscriptions,
            Key=_guard_key(organization_id),
            ConsistentRead=True,
            ProjectionExpression="subscription_id",
        )
        if "Item" not in guard:
            return None
        subscription = self.get(from_attributes(guard["Item"])["subscription_id"])
        return subscription if subscription and subscription.is_active else None
