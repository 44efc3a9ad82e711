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

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..domain.errors import NotFound, RetryableConflict
from ..domain.grants import CreditGrant, GrantEnd, GrantStatus
from ..domain.hold_records import Hold
from ..domain.holds import HoldEnd
from ..domain.idempotency import IdempotencyRecord, KeyAlreadyCommitted
from ..domain.ids import first_id_at
from ..domain.ledger import LedgerEntry
from ..domain.paging import Page
from ..domain.periods import Period
from ..domain.plans import Plan
from ..domain.subscriptions import (
    CREDIT_FIELDS,
    CreditPosting,
    Subscription,
    SubscriptionFilters,
    subscription_exists,
    subscription_order,
)
from .due_index import due_attributes, due_subscription_ids, keeping_due_index
from .dynamodb import (
    TransactionCancelled,
    add_filters,
    from_attributes,
    is_conditional_failure,
    query_page,
    to_attributes,
    transact_write,
    value,
)
from .dynamodb_outbox import outbox_puts

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


def credit_update(
    table: str,
    posting: CreditPosting,
    *,
    require_active: bool = False,
    also_set: tuple[str, ...] = (),
    also_require: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Set the grants, holds and balances `posting` leaves (and `also_set` fields of its
    subscription) if the stored revision is still the one it read (and, with `require_active`, the subscription is
    still active; and `also_require` attributes still hold these values)."""
    subscription = posting.subscription
    stored = subscription.stored(include={*CREDIT_FIELDS, *also_set})
    names = {f"#s{n}": name for n, name in enumerate(stored)}
    values = {f":s{n}": value(stored[name]) for n, name in enumerate(stored)}
    conditions = ["revision = :previous"]
    values[":previous"] = value(posting.previous_revision)
    required = ({"status": "active"} if require_active else {}) | (also_require or {})
    for n, (name, wanted) in enumerate(required.items()):
        names[f"#r{n}"], values[f":r{n}"] = name, value(wanted)
        conditions.append(f"#r{n} = :r{n}")
    update = {
        "Update": {
            "TableName": table,
            "Key": subscription_key(subscription.subscription_id),
            "UpdateExpression": "SET " + ", ".join(f"#s{n} = :s{n}" for n in range(len(stored))),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
    # Grants and holds expire, and a close moves the period: when the subscription falls due follows.
    return keeping_due_index(update, subscription)


def posting_actions(
    tables: Tables, posting: CreditPosting, *, require_active: bool = False, **update: Any
) -> list[dict[str, Any]]:
    """The transaction items of a credit write: the subscription, its ledger entries, the grant
    records it starts (new items) and ends (each still active as read), and its events' records."""
    return [
        credit_update(tables.subscriptions, posting, require_active=require_active, **update),
        *(ledger_put(tables.ledger, entry) for entry in posting.entries),
        *(grant_put(tables.subscriptions, grant) for grant in posting.started),
        *(grant_end(tables.subscriptions, posting.subscription.subscription_id, end) for end in posting.ended),
        *(hold_put(tables.subscriptions, hold) for hold in posting.holds_placed),
        *(hold_end(tables.subscriptions, posting.subscription.subscription_id, end) for end in posting.holds_ended),
        *outbox_puts(tables.outbox, posting.events),
    ]


def idempotency_put(table: str, record: IdempotencyRecord) -> dict[str, Any]:
    """The idempotency record of a write, as its transaction's last item: an expired record (TTL
    deletes lazily) may be overwritten; a live one may not (the key committed first)."""
    item = {
        "pk": record.scope,
        "fingerprint": record.fingerprint,
        "result": record.result,
        "created_at": record.created_at,
        "expires_at": int(record.expires_at.timestamp()),
    }
    return {
        "Put": {
            "TableName": table,
            "Item": to_attributes(item),
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
            "ExpressionAttributeValues": {":now": value(int(record.created_at.timestamp()))},
        }
    }


@dataclass(frozen=True)
class Tables:
    subscriptions: str
    ledger: str
    outbox: str


def hold_key(subscription_id: str, hold_id: str) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(f"{HOLD_PREFIX}{hold_id}")}


def hold_put(table: str, hold: Hold) -> dict[str, Any]:
    item = {"pk": f"SUB#{hold.subscription_id}", "sk": f"{HOLD_PREFIX}{hold.hold_id}", **hold.stored()}
    return {"Put": {"TableName": table, "Item": to_attributes(item), "ConditionExpression": "attribute_not_exists(pk)"}}


def hold_end(table: str, subscription_id: str, end: HoldEnd) -> dict[str, Any]:
    values = {":status": value(end.status), ":at": value(end.at), ":held": value("held")}
    update = "SET #status = :status, ended_at = :at"
    if end.settled_event_id:
        update += ", settled_event_id = :event"
        values[":event"] = value(end.settled_event_id)
    return {
        "Update": {
            "TableName": table,
            "Key": hold_key(subscription_id, end.hold_id),
            "UpdateExpression": update,
            "ConditionExpression": "#status = :held",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }
    }


def _grant_key(subscription_id: str, grant_id: str) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(f"{GRANT_PREFIX}{grant_id}")}


def grant_put(table: str, grant: CreditGrant) -> dict[str, Any]:
    item = {"pk": f"SUB#{grant.subscription_id}", "sk": f"{GRANT_PREFIX}{grant.grant_id}", **grant.model_dump()}
    return {"Put": {"TableName": table, "Item": to_attributes(item), "ConditionExpression": "attribute_not_exists(pk)"}}


def grant_end(table: str, subscription_id: str, end: GrantEnd) -> dict[str, Any]:
    changes = {name: setting for name, setting in end.record_changes().items() if setting is not None}
    return {
        "Update": {
            "TableName": table,
            "Key": _grant_key(subscription_id, end.grant_id),
            "UpdateExpression": "SET " + ", ".join(f"#e{n} = :e{n}" for n in range(len(changes))),
            "ConditionExpression": "#e0 = :active",  # #e0 is `status`
            "ExpressionAttributeNames": {f"#e{n}": name for n, name in enumerate(changes)},
            "ExpressionAttributeValues": {
                **{f":e{n}": value(setting) for n, setting in enumerate(changes.values())},
                ":active": value("active"),
            },
        }
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


def ledger_put(table: str, entry: LedgerEntry) -> dict[str, Any]:
    item = {"pk": f"SUB#{entry.subscription_id}", "sk": _entry_sk(entry.seq), **entry.model_dump()}
    return {"Put": {"TableName": table, "Item": to_attributes(item), "ConditionExpression": "attribute_not_exists(pk)"}}


def _subscription(item: dict[str, Any]) -> Subscription:
    return Subscription.model_validate(_strip(item))


def _plain_setting(setting: Any) -> Any:
    return setting.model_dump() if hasattr(setting, "model_dump") else setting


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
        self._tables = Tables(subscriptions=subscriptions_table, ledger=ledger_table, outbox=outbox_table)

    # --- reads ---------------------------------------------------------------------------------
    def get(self, subscription_id: str) -> Subscription | None:
        found = self._client.get_item(
            TableName=self._subscriptions, Key=subscription_key(subscription_id), ConsistentRead=True
        )
        return _subscription(found["Item"]) if "Item" in found else None

    def organization_page(self, organization_id: str, *, limit: int, cursor: str | None) -> Page[Subscription]:
        query = {
            "TableName": self._subscriptions,
            "IndexName": ORGANIZATION_INDEX,
            "KeyConditionExpression": "organization_id = :org",
            "ExpressionAttributeValues": {":org": value(organization_id)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
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
        query = {
            "TableName": self._subscriptions,
            "IndexName": RESIDENCY_INDEX,
            "KeyConditionExpression": "residency = :residency",
            "ExpressionAttributeValues": {":residency": value(residency)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if before is not None:
            query["KeyConditionExpression"] += " AND created_order < :before"
            query["ExpressionAttributeValues"][":before"] = value(before)
        conditions = {"status": filters.status, "plan_id": filters.plan_id, "organization_id": filters.organization_id}
        add_filters(query, {name: wanted for name, wanted in conditions.items() if wanted is not None})
        keys = query_page(
            self._client, query, cursor=cursor, pinned={"residency": residency}, item=lambda item: item["pk"]["S"]
        )
        return self._whole(keys)

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

    def grants_page(
        self, subscription: Subscription, *, status: GrantStatus | None, limit: int, cursor: str | None
    ) -> Page[CreditGrant]:
        """Newest first; an active grant shows the remaining credits the subscription holds for it."""
        partition = f"SUB#{subscription.subscription_id}"
        query = {
            "TableName": self._subscriptions,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :grants)",
            "ExpressionAttributeValues": {":pk": value(partition), ":grants": value(GRANT_PREFIX)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
        add_filters(query, {"status": status} if status else {})
        live = {g.grant_id: g for g in subscription.grants}
        return query_page(
            self._client,
            query,
            cursor=cursor,
            pinned={"pk": partition},
            item=lambda item: (grant := _grant(item)).as_of(live.get(grant.grant_id)),
        )

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
        partition = f"SUB#{subscription_id}"
        query = {
            "TableName": self._subscriptions,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :holds)",
            "ExpressionAttributeValues": {":pk": value(partition), ":holds": value(HOLD_PREFIX)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
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
            self._put_subscription(subscription),
            *(ledger_put(self._ledger, entry) for entry in posting.entries),
            *(grant_put(self._subscriptions, grant) for grant in posting.started),
            *outbox_puts(self._tables.outbox, posting.events),
        ]
        try:
            self._commit(actions, idempotency)
        except TransactionCancelled as cancelled:
            if cancelled.failed_condition(0):
                guard = from_attributes(cancelled.reasons[0].get("Item") or {})
                raise subscription_exists(subscription.organization_id, guard.get("subscription_id")) from None
            raise RetryableConflict("The plan or the organization changed while subscribing; retry.") from None

    def cancel(self, posting: CreditPosting) -> None:
        subscription = posting.subscription
        actions = [
            # Canceled inside its period, it falls due at the cancellation (credit_update keeps the index).
            *posting_actions(self._tables, posting, require_active=True, also_set=("status", "canceled_at")),
            {
                "Delete": {
                    "TableName": self._subscriptions,
                    "Key": _guard_key(subscription.organization_id),
                    "ConditionExpression": "subscription_id = :id",
                    "ExpressionAttributeValues": {":id": value(subscription.subscription_id)},
                }
            },
        ]
        try:
            transact_write(self._client, actions)
        except TransactionCancelled:
            raise RetryableConflict("The subscription changed while canceling; retry.") from None

    def append(
        self, posting: CreditPosting, *, idempotency: IdempotencyRecord | None, require_active: bool = False
    ) -> None:
        actions = posting_actions(self._tables, posting, require_active=require_active)
        try:
            self._commit(actions, idempotency)
        except TransactionCancelled:
            raise RetryableConflict("The balance changed meanwhile; retry.") from None

    def save_settings(self, subscription: Subscription, changes: dict[str, Any]) -> None:
        """Set each setting given (None removes it), if the subscription is still at the revision
        read, and advance it: a charge that read the old settings (an auto top-up) must not commit
        after them. Raises RetryableConflict."""
        given = [*changes.items(), ("revision", subscription.revision + 1)]
        kept = ", ".join(f"#c{n} = :c{n}" for n, (_, setting) in enumerate(given) if setting is not None)
        removed = ", ".join(f"#c{n}" for n, (_, setting) in enumerate(given) if setting is None)
        values = {f":c{n}": value(_plain_setting(s)) for n, (_, s) in enumerate(given) if s is not None}
        values[":read"] = value(subscription.revision)
        try:
            self._client.update_item(
                TableName=self._subscriptions,
                Key=subscription_key(subscription.subscription_id),
                UpdateExpression=" ".join(part for part in (f"SET {kept}", removed and f"REMOVE {removed}") if part),
                ConditionExpression="revision = :read",
                ExpressionAttributeNames={f"#c{n}": name for n, (name, _) in enumerate(given)},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if is_conditional_failure(error):
                raise RetryableConflict("The subscription changed while its settings were saved; retry.") from None
            raise

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

    # --- items ---------------------------------------------------------------------------------
    def _put_subscription(self, subscription: Subscription) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._subscriptions,
                "Item": to_attributes(subscription_item(subscription)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _commit(self, actions: list[dict[str, Any]], idempotency: IdempotencyRecord | None) -> None:
        """Write `actions` and, when the request carried a key, its idempotency record, atomically.
        A live record under the same key means a twin request committed first: KeyAlreadyCommitted."""
        if idempotency is not None:
            actions = [*actions, idempotency_put(self._idempotency, idempotency)]
        try:
            # One token an attempt: the SDK's own retry of a commit whose answer was lost is a no-op.
            transact_write(self._client, actions, token=secrets.token_hex(16))
        except TransactionCancelled as cancelled:
            if idempotency is not None and cancelled.failed_condition(len(actions) - 1):
                raise KeyAlreadyCommitted() from None
            raise
