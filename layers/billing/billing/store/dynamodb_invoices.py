"""Invoices in DynamoDB (the invoices table).

SUB#{id} / INV#{invoice_id}     one invoice per subscription and period; the id embeds the period
                                start, so a subscription's invoices sort by period
COUNTER / INVOICE_NUMBER        the last number issued; advanced in the issuing transaction, so
                                numbers are gapless and never reused

Each write of an invoice (a draft, its issue, its void) puts its event's outbox record in the
same transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from ..domain.credits import CreditPosting
from ..domain.invoices import Invoice, InvoiceFilters, invoice_id, invoice_order
from ..domain.paging import Page
from ..domain.values import format_timestamp
from . import writes
from .capacity import WriteUnits
from .dynamodb import (
    add_filters,
    from_attributes,
    query_page,
    value,
)
from .dynamodb_subscriptions import Tables, credit_layouts
from .dynamodb_writes import Layout, commit
from .writes import InvoiceCounter, Operation

RESIDENCY_INDEX = "by_residency"


def _whole_second_at_or_after(moment: datetime) -> datetime:
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


COUNTER_KEY = {"pk": {"S": "COUNTER"}, "sk": {"S": "INVOICE_NUMBER"}}


def _key(subscription_id: str, invoice_id: str) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(f"INV#{invoice_id}")}


def _draft_item(invoice: Invoice) -> dict[str, Any]:
    return {
        "pk": f"SUB#{invoice.subscription_id}",
        "sk": f"INV#{invoice.invoice_id}",
        **invoice.model_dump(),
        "residency": invoice.residency,  # the residency index: finance's list across subscriptions
        "period_order": invoice_order(invoice),
    }


def _invoice(item: dict[str, Any]) -> Invoice:
    return Invoice.model_validate({k: v for k, v in from_attributes(item).items() if k not in ("pk", "sk")})


class DynamoInvoiceStore:
    def __init__(self, client, *, invoices_table: str, subscriptions_table: str, ledger_table: str, outbox_table: str):
        self._client = client
        self._table = invoices_table
        self._subscriptions = subscriptions_table
        self._tables = Tables(subscriptions_table, ledger_table, outbox_table)
        self._layouts = credit_layouts(self._tables) | {
            "invoice": Layout(invoices_table, key=lambda key: _key(*key), item=_draft_item),
            "invoice_counter": Layout(
                invoices_table,
                key=lambda _: COUNTER_KEY,
                item=lambda counter: {"pk": "COUNTER", "sk": "INVOICE_NUMBER", "last_number": counter.last_number},
            ),
        }

    def get(self, subscription_id: str, invoice_id: str) -> Invoice | None:
        found = self._client.get_item(TableName=self._table, Key=_key(subscription_id, invoice_id), ConsistentRead=True)
        return _invoice(found["Item"]) if "Item" in found else None

    def residency_page(
        self, residency: str, filters: InvoiceFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[Invoice]:
        """Newest period first within the residency; the period range is the key condition, status
        and organization filter within each page."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": RESIDENCY_INDEX,
            "ExpressionAttributeValues": {":residency": value(residency)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        condition = "residency = :residency"
        if filters.period_from or filters.period_to or before is not None:
            # Period starts are whole seconds: round the bounds inward to them, so the string order
            # of the key ("...:00Z#inv_...") is the time order the filter means.
            low = format_timestamp(_whole_second_at_or_after(filters.period_from)) if filters.period_from else ""
            high = format_timestamp(filters.period_to.replace(microsecond=0)) + "#~" if filters.period_to else "~"
            if before is not None:  # BETWEEN is inclusive: the invoice at `before` itself is dropped below
                high = min(high, before)
            condition += " AND period_order BETWEEN :low AND :high"
            query["ExpressionAttributeValues"] |= {":low": value(low or "0"), ":high": value(high)}
        query["KeyConditionExpression"] = condition
        equal = {"status": filters.status, "organization_id": filters.organization_id}
        add_filters(query, {name: wanted for name, wanted in equal.items() if wanted is not None})
        page = query_page(self._client, query, cursor=cursor, pinned={"residency": residency}, item=_invoice)
        if before is not None:
            page.items = [invoice for invoice in page.items if invoice_order(invoice) != before]
        return page

    def latest_for_periods(self, subscription_id: str, first: datetime, last: datetime) -> dict[datetime, Invoice]:
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": value(f"SUB#{subscription_id}"),
                ":first": value(f"INV#{invoice_id(subscription_id, first)}"),
                ":last": value(f"INV#{invoice_id(subscription_id, last)}~"),  # "~" sorts after its revisions' "_r"
            },
            "ConsistentRead": True,
        }
        latest: dict[datetime, Invoice] = {}
        while True:  # oldest first, so a later revision replaces an earlier one
            answer = self._client.query(**query)
            for item in answer.get("Items", []):
                invoice = _invoice(item)
                latest[invoice.period_start] = invoice
            if "LastEvaluatedKey" not in answer:
                return latest
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def latest_for_period(self, subscription_id: str, period_start: datetime) -> Invoice | None:
        """The period's latest revision (its revisions share the first revision's id as a prefix)."""
        found = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :period)",
            ExpressionAttributeValues={
                ":pk": value(f"SUB#{subscription_id}"),
                ":period": value(f"INV#{invoice_id(subscription_id, period_start)}"),
            },
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=1,
        )
        items = found.get("Items", [])
        return _invoice(items[0]) if items else None

    def page(self, subscription_id: str, *, limit: int, cursor: str | None) -> Page[Invoice]:
        partition = f"SUB#{subscription_id}"
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :inv)",
            "ExpressionAttributeValues": {":pk": value(partition), ":inv": value("INV#")},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
        return query_page(self._client, query, cursor=cursor, pinned={"pk": partition}, item=_invoice)

    def save_draft(self, invoice: Invoice, previous: Invoice | None) -> None:
        writes.save_draft(self._apply, self._stored(invoice), invoice, previous)

    def _apply(self, write: Sequence[Operation]) -> WriteUnits:
        return commit(self._client, write, self._layouts)

    def issue(self, invoice: Invoice, now: datetime) -> Invoice:
        """One attempt: read the counter, then advance it and freeze the invoice together."""
        found = self._client.get_item(TableName=self._table, Key=COUNTER_KEY, ConsistentRead=True).get("Item")
        counter = InvoiceCounter(int(from_attributes(found)["last_number"])) if found else None
        return writes.issue_invoice(self._apply, self._stored(invoice), counter, invoice, now)

    def void(self, invoice: Invoice, now: datetime) -> Invoice:
        return writes.void_invoice(self._apply, self._stored(invoice), invoice, now)

    def _stored(self, invoice: Invoice) -> Callable[[], Invoice | None]:
        return lambda: self.get(invoice.subscription_id, invoice.invoice_id)

    def close_period(self, posting: CreditPosting, draft: Invoice | None, previous: Invoice | None) -> None:
        writes.close_period(self._apply, posting, draft, previous)
