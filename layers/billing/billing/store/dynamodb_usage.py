"""Usage in DynamoDB (the usage events table).

ORG#{org} / USAGE#{key}       the event, which is also its idempotency record: a key can commit
                              once per organization, and every retry finds the first answer here
SUB#{id} / PERIOD#{start}#DAY#{yyyy-mm-dd}
                              the aggregate of one period's usage recorded on one UTC day: counters
                              ADDed by the same transactions; a period's aggregate is the sum of
                              its days (one Query), and the days are the storefront's chart
by_subscription index         subscription_id + usage_order ("{occurred_at}#{event_id}"), for listing
by_event index                event_id (keys only), how a correction finds the event it names

A chunk of events for one subscription is one TransactWriteItems: the balance update (guarded by
the ledger seq and the subscription being active), one ledger entry, one aggregate update and the
event rows. A single POST /usage is a chunk of one: four items."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..domain.paging import Page
from ..domain.usage import (
    CORRECTION_FIELDS,
    PeriodUsage,
    ServiceUsage,
    UsageChunk,
    UsageEvent,
    UsageFilters,
    UsageTotals,
)
from ..domain.values import format_timestamp, parse_timestamp
from ..exact_json import loads_exact
from . import writes
from .capacity import WriteUnits
from .dynamodb import from_attributes, query_page, sortable_timestamp, value
from .dynamodb_subscriptions import Tables, credit_layouts
from .dynamodb_writes import Layout, commit
from .writes import Add, Kind, Operation

if TYPE_CHECKING:
    from ..domain.credits import CreditPosting
    from ..domain.idempotency import IdempotencyRecord

USAGE_INDEX = "by_subscription"
EVENT_INDEX = "by_event"


def _event_key(organization_id: str, idempotency_key: str) -> dict[str, Any]:
    return {"pk": value(f"ORG#{organization_id}"), "sk": value(f"USAGE#{idempotency_key}")}


def _period_prefix(period_start: datetime) -> str:
    return f"PERIOD#{format_timestamp(period_start)}#DAY#"


def aggregate_key(subscription_id: str, period_start: datetime, day: date) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(_period_prefix(period_start) + day.isoformat())}


def _counters(item: dict[str, Any]) -> PeriodUsage:
    """An aggregate item's counters (`svc:{service}:{counter}`, `flag:{f}`, `esc:{c}`) as usage."""
    usage = PeriodUsage()
    for name, amount in item.items():
        kind, _, rest = name.partition(":")
        if kind == "svc":
            service, _, counter = rest.rpartition(":")
            counted = usage.services.setdefault(service, ServiceUsage())
            setattr(counted, counter, int(amount) if counter == "events" else amount)
        elif kind == "flag":
            usage.guardrail_flags[rest] = int(amount)
        elif kind == "esc":
            usage.escalation_codes[rest] = int(amount)
    return usage


def _event(attributes: dict[str, Any]) -> UsageEvent:
    item = from_attributes(attributes)
    if isinstance(item.get("metadata"), str):
        item["metadata"] = loads_exact(item["metadata"])
    return UsageEvent.model_validate({k: v for k, v in item.items() if k not in ("pk", "sk", "usage_order")})


def _event_item(event: UsageEvent) -> dict[str, Any]:
    # A recorded event keeps no correction attributes (they read back as their defaults): its row,
    # and so each event's write units, stay as they were; a void sets them.
    corrections = {name for name in CORRECTION_FIELDS if getattr(event, name) in (None, "recorded")}
    return {
        "pk": f"ORG#{event.organization_id}",
        "sk": f"USAGE#{event.idempotency_key}",
        **event.model_dump(exclude=corrections),
        # As JSON text: a DynamoDB map would read 1 back as Decimal("1") and drop nulls, and every
        # replay must answer exactly what the first answer said.
        "metadata": json.dumps(event.model_dump(mode="json")["metadata"], separators=(",", ":")),
        "fingerprint": event.fingerprint,
        "usage_order": f"{sortable_timestamp(event.occurred_at)}#{event.event_id}",
    }


class DynamoUsageStore:
    def __init__(
        self,
        client,
        *,
        usage_table: str,
        subscriptions_table: str,
        ledger_table: str,
        outbox_table: str,
        invoices_table: str = "",
        idempotency_table: str = "",
    ):
        self._client = client
        self._table = usage_table
        self._subscriptions = subscriptions_table
        self._ledger = ledger_table
        # A correction also writes its request's key and its period's draft.
        self._correction_tables = Tables(subscriptions_table, ledger_table, outbox_table, idempotency_table)
        self._invoices = invoices_table
        self._layouts: dict[Kind, Layout] = credit_layouts(Tables(subscriptions_table, ledger_table, outbox_table)) | {
            "usage_event": Layout(
                usage_table, key=lambda key: _event_key(*key), item=_event_item, indexed=True, keys_only_indexes=1
            ),
            "aggregate": Layout(usage_table, key=lambda key: aggregate_key(*key), add=self._aggregate_update),
        }

    # --- idempotency ---------------------------------------------------------------------------
    def find_events(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], UsageEvent]:
        """The recorded events for (organization, idempotency key) pairs, read consistently."""
        found: dict[tuple[str, str], UsageEvent] = {}
        distinct = list(dict.fromkeys(keys))
        for start in range(0, len(distinct), 100):
            pending = {
                self._table: {
                    "Keys": [_event_key(o, k) for o, k in distinct[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                answer = self._client.batch_get_item(RequestItems=pending)
                for item in answer.get("Responses", {}).get(self._table, []):
                    event = _event(item)
                    found[(event.organization_id, event.idempotency_key)] = event
                pending = answer.get("UnprocessedKeys") or {}
        return found

    def event(self, event_id: str) -> UsageEvent | None:
        """The event of that id: its keys from the index, the row read consistently."""
        found = self._client.query(
            TableName=self._table,
            IndexName=EVENT_INDEX,
            KeyConditionExpression="event_id = :id",
            ExpressionAttributeValues={":id": value(event_id)},
            Limit=1,
        ).get("Items", [])
        if not found:
            return None
        key = {"pk": found[0]["pk"], "sk": found[0]["sk"]}
        row = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        return _event(row["Item"]) if "Item" in row else None

    def correct(self, write: list[Operation], idempotency: IdempotencyRecord | None) -> None:
        from .dynamodb_invoices import invoice_layout  # noqa: PLC0415 - corrections are rare: not on usage's cold start

        layouts = self._layouts | credit_layouts(self._correction_tables) | {"invoice": invoice_layout(self._invoices)}
        writes.correct_usage(lambda operations: commit(self._client, operations, layouts), write, idempotency)

    # --- recording -----------------------------------------------------------------------------
    def record(self, posting: CreditPosting, chunk: UsageChunk) -> WriteUnits:
        """Commit a chunk. Raises RetryableConflict when the balances moved or the subscription was
        canceled meanwhile, DuplicateKeys when some keys were committed concurrently."""
        return writes.record_usage(self._apply, posting, chunk)

    def _apply(self, write: Sequence[Operation]) -> WriteUnits:
        return commit(self._client, write, self._layouts)

    def _aggregate_update(self, add: Add, key: dict[str, Any]) -> dict[str, Any]:
        """ADD the chunk's counters to its (period, day) aggregate."""
        usage, period_end = add.usage, add.period_end
        names: dict[str, str] = {}
        values: dict[str, Any] = {":end": value(period_end)}
        additions: list[str] = []

        def add(attribute: str, amount: Any) -> None:
            n = len(names)
            names[f"#a{n}"] = attribute
            values[f":a{n}"] = value(amount)
            additions.append(f"#a{n} :a{n}")

        for service, counted in usage.services.items():
            for counter in ("quantity", "credits", "overage_credits", "events"):
                add(f"svc:{service}:{counter}", getattr(counted, counter))
        for flag, count in usage.guardrail_flags.items():
            add(f"flag:{flag}", count)
        for code, count in usage.escalation_codes.items():
            add(f"esc:{code}", count)
        return {
            "Update": {
                "TableName": self._table,
                "Key": key,
                "UpdateExpression": "SET period_end = if_not_exists(period_end, :end) ADD " + ", ".join(additions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    # --- reading -------------------------------------------------------------------------------
    def events_page(
        self, subscription_id: str, filters: UsageFilters, *, limit: int, cursor: str | None
    ) -> Page[UsageEvent]:
        """Newest first, occurred_at in [start, end); service and flag filter within each page."""
        start, end, service, guardrail_flag = filters.start, filters.end, filters.service, filters.guardrail_flag
        status = filters.status
        condition = "subscription_id = :sid"
        values: dict[str, Any] = {":sid": value(subscription_id)}
        if start and end:
            condition += " AND usage_order BETWEEN :start AND :end"
        elif start:
            condition += " AND usage_order >= :start"
        elif end:
            condition += " AND usage_order < :end"
        if start:
            values[":start"] = value(sortable_timestamp(start))
        if end:
            values[":end"] = value(sortable_timestamp(end))  # "{end}#id" sorts after "{end}": end is excluded
        filters, names = [], {}
        if service:
            filters.append("#service = :service")
            names["#service"] = "service"
            values[":service"] = value(service)
        if guardrail_flag:
            filters.append("contains(#guardrail.#flags, :flag)")
            names |= {"#guardrail": "guardrail", "#flags": "flags"}
            values[":flag"] = value(guardrail_flag)
        if status:
            names["#status"] = "status"
            values[":voided"] = value("voided")
            # A recorded row keeps no status attribute (see _event_item).
            filters.append(
                "#status = :voided" if status == "voided" else "(attribute_not_exists(#status) OR #status <> :voided)"
            )
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": USAGE_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
            query["ExpressionAttributeNames"] = names
        return query_page(self._client, query, cursor=cursor, pinned={"subscription_id": subscription_id}, item=_event)

    def period_usage(self, subscription_id: str, period_start: datetime) -> PeriodUsage:
        return PeriodUsage.merged([u for *_, u in self.day_aggregates(subscription_id, period_start, period_start)])

    def period_usages(self, subscription_id: str, period_starts: list[datetime]) -> dict[datetime, PeriodUsage]:
        wanted = set(period_starts)
        by_period: dict[datetime, list[PeriodUsage]] = {}
        for period_start, _, usage in self.day_aggregates(subscription_id, min(wanted), max(wanted)):
            if period_start in wanted:
                by_period.setdefault(period_start, []).append(usage)
        return {start: PeriodUsage.merged(parts) for start, parts in by_period.items()}

    def day_aggregates(
        self, subscription_id: str, first_period: datetime, last_period: datetime
    ) -> list[tuple[datetime, date | None, PeriodUsage]]:
        """(period start, day, usage) of the periods starting in [first, last], oldest first:
        one Query (a period has at most 366 days; an annual page or two)."""
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": value(f"SUB#{subscription_id}"),
                ":first": value(f"PERIOD#{format_timestamp(first_period)}"),  # also a whole-period item (below)
                ":last": value(_period_prefix(last_period) + "~"),
            },
            "ConsistentRead": True,
        }
        days: list[tuple[datetime, date | None, PeriodUsage]] = []
        while True:
            answer = self._client.query(**query)
            for attributes in answer.get("Items", []):
                item = from_attributes(attributes)
                period, _, day = item["sk"].removeprefix("PERIOD#").partition("#DAY#")
                # An aggregate written before days were kept covers the whole period: no day.
                days.append((parse_timestamp(period), date.fromisoformat(day) if day else None, _counters(item)))
            if "LastEvaluatedKey" not in answer:
                return days
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def period_totals(self, subscription_id: str, period_start: datetime) -> UsageTotals:
        return self.period_usage(subscription_id, period_start).totals
