"""Guardrail rollups in DynamoDB (the guardrail rollups table), folded from the usage table's stream.

{residency}#{yyyy-mm-dd}#{shard} / {org}#{service}
                        one rollup: the counters of one organization's use of one service on one
                        UTC day (`events`, `flagged_events`, `credits`, `flagged_credits`,
                        `flag:{f}`, `esc:{c}`), ADDed by the fold. A day of a residency is split
                        over SHARDS partitions by organization, so a busy day's writes spread out;
                        a report Queries each (day, shard) it needs and reads exactly the rollups
                        that exist, never a scan; one organization's report reads only its shard,
                        from its own sort-key prefix.
EVENT#{event_id} / recorded | voided
                        the fold's marker: written in the transaction that applies the change,
                        conditioned on not existing, so a redelivered stream record changes
                        nothing. Kept two days (a stream keeps records 24 hours), by TTL.
AS_OF#{residency} / AS_OF
                        the newest `recorded_at` folded for the residency (a report's `as_of`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from ..domain.guardrail_analytics import Counts, Fold, RecordedUsage, Rollup, RollupKey
from ..domain.values import parse_timestamp
from .dynamodb import (
    TransactionCancelled,
    from_attributes,
    is_conditional_failure,
    sortable_timestamp,
    transact_write,
    value,
)

USAGE_ROW_PREFIX = "USAGE#"  # event rows of the usage table; its aggregates are no events
SHARDS = 4
MARKERS_KEPT_FOR = timedelta(days=2)
MAX_TRANSACTION_ITEMS = 100
COUNTERS = ("events", "flagged_events", "credits", "flagged_credits")


def usage_changes(records: Iterable[dict[str, Any]]) -> Iterator[tuple[RecordedUsage, bool]]:
    """(event, voided) for each usage table stream record that reports a recorded event (a new
    row) or a void (a row modified to `voided`); aggregates, removals and other changes are none."""
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage")
        name = record.get("eventName")
        if name not in ("INSERT", "MODIFY") or not image:
            continue
        if not image.get("sk", {}).get("S", "").startswith(USAGE_ROW_PREFIX):
            continue
        usage = RecordedUsage.model_validate(from_attributes(image))
        if name == "MODIFY" and usage.voided:
            yield usage, True
        elif name == "INSERT" and not usage.voided:  # a row born voided was never counted
            yield usage, False


def shard_of(organization_id: str) -> int:
    return int.from_bytes(hashlib.sha256(organization_id.encode()).digest()[:4], "big") % SHARDS


def rollup_partition(residency: str, day: date, shard: int) -> str:
    return f"{residency}#{day.isoformat()}#{shard}"


def rollup_key(key: RollupKey) -> dict[str, Any]:
    return {
        "pk": value(rollup_partition(key.residency, key.day, shard_of(key.organization_id))),
        "sk": value(f"{key.organization_id}#{key.service}"),
    }


def _counts(item: dict[str, Any]) -> Counts:
    counts = Counts(
        events=int(item.get("events", 0)),
        flagged_events=int(item.get("flagged_events", 0)),
        credits=Decimal(item.get("credits", 0)),
        flagged_credits=Decimal(item.get("flagged_credits", 0)),
    )
    for name, amount in item.items():
        kind, _, rest = name.partition(":")
        if kind == "flag":
            counts.flags[rest] = int(amount)
        elif kind == "esc":
            counts.escalation_codes[rest] = int(amount)
    return counts


class DynamoGuardrailRollups:
    def __init__(self, client, table: str):
        self._client = client
        self._table = table
        self.items_read = 0  # what reports have read (the benchmark counts it)
        self.queries = 0

    # --- folding -------------------------------------------------------------------------------
    def fold(self, folds: list[Fold]) -> int:
        """Apply each change once. Returns how many were new (the rest had been applied before)."""
        applied = 0
        for chunk in _chunks(folds):
            try:
                transact_write(self._client, self._actions(chunk))
                applied += len(chunk)
            except TransactionCancelled as cancelled:
                if cancelled.conflicted:
                    raise  # a concurrent fold of the same rollup: the stream retries the batch
                # Some markers exist (a redelivered batch): apply the rest one by one.
                applied += sum(self._fold_one(fold) for fold in chunk)
        self._advance_as_of(folds)
        return applied

    def _fold_one(self, fold: Fold) -> bool:
        try:
            transact_write(self._client, self._actions([fold]))
        except TransactionCancelled as cancelled:
            if cancelled.failed_condition(0):
                return False  # applied before
            raise
        return True

    def _actions(self, folds: list[Fold]) -> list[dict[str, Any]]:
        by_key: dict[RollupKey, Counts] = {}
        for fold in folds:
            by_key.setdefault(fold.key, Counts()).add(fold.counts)
        # Kept two days after folding (wall time: TTL is the table's, not billing's), longer than
        # the stream keeps the record that could come again; a void folds long after recording.
        expires_at = int(time.time() + MARKERS_KEPT_FOR.total_seconds())
        markers = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": value(f"EVENT#{fold.event_id}"),
                        "sk": value(fold.change),
                        "expires_at": value(expires_at),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for fold in folds
        ]
        return markers + [self._rollup_update(key, counts) for key, counts in by_key.items()]

    def _rollup_update(self, key: RollupKey, counts: Counts) -> dict[str, Any]:
        names = {"#org": "organization_id", "#service": "service", "#day": "day"}
        values = {
            ":org": value(key.organization_id),
            ":service": value(key.service),
            ":day": value(key.day.isoformat()),
        }
        additions = []
        amounts = [(counter, getattr(counts, counter)) for counter in COUNTERS]
        amounts += [(f"flag:{name}", n) for name, n in counts.flags.items()]
        amounts += [(f"esc:{code}", n) for code, n in counts.escalation_codes.items()]
        for n, (attribute, amount) in enumerate(amounts):
            names[f"#a{n}"] = attribute
            values[f":a{n}"] = value(amount)
            additions.append(f"#a{n} :a{n}")
        return {
            "Update": {
                "TableName": self._table,
                "Key": rollup_key(key),
                "UpdateExpression": "SET #org = :org, #service = :service, #day = :day ADD " + ", ".join(additions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _advance_as_of(self, folds: list[Fold]) -> None:
        newest: dict[str, datetime] = {}
        for fold in folds:
            residency = fold.key.residency
            newest[residency] = max(newest.get(residency, fold.recorded_at), fold.recorded_at)
        for residency, moment in newest.items():
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": value(f"AS_OF#{residency}"), "sk": value("AS_OF")},
                    UpdateExpression="SET as_of = :t",
                    ConditionExpression="attribute_not_exists(as_of) OR as_of < :t",
                    ExpressionAttributeValues={":t": value(sortable_timestamp(moment))},
                )
            except ClientError as error:
                if not is_conditional_failure(error):  # a newer recording got there first
                    raise

    # --- reading -------------------------------------------------------------------------------
    def as_of(self, residency: str) -> datetime | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"pk": value(f"AS_OF#{residency}"), "sk": value("AS_OF")},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return parse_timestamp(item["as_of"]["S"]) if item else None

    def rollups(
        self,
        residency: str,
        day: date,
        *,
        organization_id: str | None = None,
        service: str | None = None,
        from_organization: str | None = None,
    ) -> Iterator[Rollup]:
        """The rollups of one day: one organization's (its shard, its prefix) or every one's
        (each shard; from `from_organization` on, when a report resumes past the others)."""
        shards = [shard_of(organization_id)] if organization_id else range(SHARDS)
        for shard in shards:
            query: dict[str, Any] = {
                "TableName": self._table,
                "ExpressionAttributeValues": {":pk": value(rollup_partition(residency, day, shard))},
                "ConsistentRead": True,
            }
            condition = "pk = :pk"
            if organization_id and service:
                condition += " AND sk = :sk"
                query["ExpressionAttributeValues"][":sk"] = value(f"{organization_id}#{service}")
            elif organization_id:
                condition += " AND begins_with(sk, :sk)"
                query["ExpressionAttributeValues"][":sk"] = value(f"{organization_id}#")
            elif from_organization:
                condition += " AND sk >= :sk"
                query["ExpressionAttributeValues"][":sk"] = value(f"{from_organization}#")
            if service and not organization_id:
                # Read and dropped: still at most one item per (organization, day, service).
                query["FilterExpression"] = "#service = :service"
                query["ExpressionAttributeNames"] = {"#service": "service"}
                query["ExpressionAttributeValues"][":service"] = value(service)
            query["KeyConditionExpression"] = condition
            yield from self._query(query, day)

    def _query(self, query: dict[str, Any], day: date) -> Iterator[Rollup]:
        while True:
            answer = self._client.query(**query)
            self.queries += 1
            self.items_read += answer.get("ScannedCount", len(answer.get("Items", [])))
            for attributes in answer.get("Items", []):
                item = from_attributes(attributes)
                yield Rollup(
                    day=day, organization_id=item["organization_id"], service=item["service"], counts=_counts(item)
                )
            if "LastEvaluatedKey" not in answer:
                return
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _chunks(folds: list[Fold]) -> Iterator[list[Fold]]:
    """Folds in transactions of at most 100 items: a marker each, plus one update per rollup."""
    chunk: list[Fold] = []
    keys: set[RollupKey] = set()
    for fold in folds:
        if len(chunk) + 1 + len(keys | {fold.key}) > MAX_TRANSACTION_ITEMS:
            yield chunk
            chunk, keys = [], set()
        chunk.append(fold)
        keys.add(fold.key)
    if chunk:
        yield chunk
