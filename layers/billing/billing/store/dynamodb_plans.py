"""Plans in DynamoDB. One partition per plan: a `CURRENT` item (the latest version plus the
listing's status) and one immutable item per version. Active listings carry the sparse
`listing`/`listing_order` attributes that the `active_catalog` index sorts by base fee."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..domain.errors import Conflict, NotFound, RetryableConflict
from ..domain.paging import Page
from ..domain.plans import Plan
from .dynamodb import (
    TransactionCancelled,
    from_attributes,
    is_conditional_failure,
    query_page,
    to_attributes,
    transact_write,
    value,
)

CURRENT = "CURRENT"
ACTIVE_LISTING = "active"
CATALOG_INDEX = "active_catalog"


def _key(plan_id: str, sort_key: str) -> dict[str, Any]:
    return {"pk": value(f"PLAN#{plan_id}"), "sk": value(sort_key)}


def _version_sk(version: int) -> str:
    return f"V#{version:06d}"


def _listing_order(plan: Plan) -> str:
    return f"{plan.base_fee_cents:015d}#{plan.plan_id}"


def _current_item(plan: Plan) -> dict[str, Any]:
    item = {"pk": f"PLAN#{plan.plan_id}", "sk": CURRENT, **plan.model_dump()}
    if plan.is_active:
        item |= {"listing": ACTIVE_LISTING, "listing_order": _listing_order(plan)}
    return item


def _version_item(plan: Plan) -> dict[str, Any]:
    return {"pk": f"PLAN#{plan.plan_id}", "sk": _version_sk(plan.version), **plan.model_dump()}


def _plan(attributes: dict[str, Any]) -> Plan:
    item = from_attributes(attributes)
    for internal in ("pk", "sk", "listing", "listing_order"):
        item.pop(internal, None)
    return Plan.model_validate(item)


class DynamoPlanStore:
    def __init__(self, client, table_name: str):
        self._client = client
        self._table = table_name
        self._versions: dict[tuple[str, int], Plan] = {}

    def current(self, plan_id: str) -> Plan | None:
        return self._get(plan_id, CURRENT)

    def version(self, plan_id: str, version: int) -> Plan | None:
        """Versions never change once written, so a container keeps those it has read."""
        key = (plan_id, version)
        if key not in self._versions:
            found = self._get(plan_id, _version_sk(version))
            if found is None:
                return None
            self._versions[key] = found
        return self._versions[key]

    def _get(self, plan_id: str, sort_key: str) -> Plan | None:
        found = self._client.get_item(TableName=self._table, Key=_key(plan_id, sort_key), ConsistentRead=True)
        return _plan(found["Item"]) if "Item" in found else None

    def active_page(self, *, limit: int, cursor: str | None) -> Page[Plan]:
        query = {
            "TableName": self._table,
            "IndexName": CATALOG_INDEX,
            "KeyConditionExpression": "listing = :active",
            "ExpressionAttributeValues": {":active": value(ACTIVE_LISTING)},
            "Limit": limit,
        }
        return query_page(self._client, query, cursor=cursor, pinned={"listing": ACTIVE_LISTING}, item=_plan)

    def versions_page(self, plan_id: str, *, limit: int, cursor: str | None) -> Page[Plan]:
        partition = f"PLAN#{plan_id}"
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :versions)",
            "ExpressionAttributeValues": {":pk": value(partition), ":versions": value("V#")},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
        return query_page(self._client, query, cursor=cursor, pinned={"pk": partition}, item=_plan)

    def add(self, plan: Plan) -> None:
        absent = {"ConditionExpression": "attribute_not_exists(pk)"}
        try:
            transact_write(
                self._client,
                [
                    {"Put": {"TableName": self._table, "Item": to_attributes(_current_item(plan)), **absent}},
                    {"Put": {"TableName": self._table, "Item": to_attributes(_version_item(plan)), **absent}},
                ],
            )
        except TransactionCancelled as cancelled:
            if cancelled.failed_condition(0) or cancelled.failed_condition(1):
                raise Conflict(f"Plan '{plan.plan_id}' already exists.", code="plan_exists") from None
            raise RetryableConflict("The plan was being written concurrently; retry.") from None

    def replace(self, plan: Plan, *, expected_version: int) -> None:
        try:
            transact_write(
                self._client,
                [
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_attributes(_current_item(plan)),
                            "ConditionExpression": "#version = :expected AND #status = :active",
                            "ExpressionAttributeNames": {"#version": "version", "#status": "status"},
                            "ExpressionAttributeValues": {
                                ":expected": value(expected_version),
                                ":active": value("active"),
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_attributes(_version_item(plan)),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ],
            )
        except TransactionCancelled:
            raise RetryableConflict(f"Plan '{plan.plan_id}' changed while it was being revised; retry.") from None

    def archive(self, plan_id: str, now: datetime) -> Plan:
        try:
            updated = self._client.update_item(
                TableName=self._table,
                Key=_key(plan_id, CURRENT),
                UpdateExpression="SET #status = :archived, updated_at = :now REMOVE listing, listing_order",
                ConditionExpression="attribute_exists(pk) AND #status = :active",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":archived": value("archived"),
                    ":active": value("active"),
                    ":now": value(now),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            old = error.response.get("Item")
            if not old:
                raise NotFound(f"No plan '{plan_id}'.") from None
            return _plan(old)  # already archived: archiving is idempotent
        return _plan(updated["Attributes"])
