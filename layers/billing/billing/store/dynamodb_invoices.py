"""Invoices in DynamoDB (the invoices table).

SUB#{id} / INV#{invoice_id}     one invoice per subscription and period; the id embeds the period
                                start, so a subscription's invoices sort by period
COUNTER / INVOICE_NUMBER        the last number issued; advanced in the issuing transaction, so
                                numbers are gapless and never reused
COUNTER / CREDIT_NOTE_NUMBER    the same for credit notes (CN-000001)
SUB#{id} / CN#{invoice}#{note}  a credit note of one of the subscription's invoices
ORG#{org} / BILLING_PROFILE     the organization's billing profile

Each write of an invoice (a draft, its issue, its void) puts its event's outbox record in the
same transaction. A credit note is written with its number, its invoice's per-line credited amounts
(conditioned on the invoice as read), its event, the credits it grants and its idempotency record,
in one transaction (store/writes.py issue_credit_note). Credit notes share the residency index
under `credit-notes#{residency}`, so finance's lists of invoices never meet them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from ..domain.billing_profiles import BillingProfile, Issuer
from ..domain.credit_notes import CreditNote, CreditNoteFilters, credit_note_order, fixed_width
from ..domain.errors import Forbidden
from ..domain.idempotency import IdempotencyRecord
from ..domain.invoices import Invoice, InvoiceFilters, invoice_id, invoice_order
from ..domain.paging import Page
from ..domain.values import format_timestamp
from . import writes
from .capacity import WriteUnits
from .dynamodb import (
    add_filters,
    from_attributes,
    is_conditional_failure,
    query_page,
    to_attributes,
    value,
)
from .dynamodb_subscriptions import Tables, credit_layouts
from .dynamodb_writes import Layout, commit
from .writes import InvoiceCounter, Operation

if TYPE_CHECKING:  # a credit write's posting: annotations only, a read loads no credit domain
    from ..domain.credits import CreditPosting

RESIDENCY_INDEX = "by_residency"


def _whole_second_at_or_after(moment: datetime) -> datetime:
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


COUNTER_KEY = {"pk": {"S": "COUNTER"}, "sk": {"S": "INVOICE_NUMBER"}}
CREDIT_NOTE_COUNTER_KEY = {"pk": {"S": "COUNTER"}, "sk": {"S": "CREDIT_NOTE_NUMBER"}}
CREDIT_NOTES_OF = "credit-notes#"  # a credit note's residency index partition: credit-notes#us


def _credit_note(item: dict[str, Any]) -> CreditNote:
    plain = {k: v for k, v in from_attributes(item).items() if k not in ("pk", "sk", "period_order")}
    return CreditNote.model_validate(plain | {"residency": plain["residency"].removeprefix(CREDIT_NOTES_OF)})


def _profile_key(organization_id: str) -> dict[str, Any]:
    return {"pk": value(f"ORG#{organization_id}"), "sk": value("BILLING_PROFILE")}


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


def _stored_changes(update: writes.Update) -> dict[str, Any]:
    """An update's changes as the item holds them (an issue's bill-to and issuer as the API shows them)."""
    return {
        name: setting.model_dump(mode="json") if isinstance(setting, BaseModel) else setting
        for name, setting in update.changes.items()
    }


def _counter_layout(table: str, key: dict[str, Any]) -> Layout:
    return Layout(
        table,
        key=lambda _: key,
        item=lambda counter: {"pk": "COUNTER", "sk": key["sk"]["S"], "last_number": counter.last_number},
    )


def _credit_note_key(subscription_id: str, invoice_id: str, credit_note_id: str) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(f"CN#{invoice_id}#{credit_note_id}")}


def _credit_note_item(note: CreditNote) -> dict[str, Any]:
    return {
        "pk": f"SUB#{note.subscription_id}",
        "sk": f"CN#{note.invoice_id}#{note.credit_note_id}",
        **note.model_dump(),
        "residency": CREDIT_NOTES_OF + note.residency,  # the residency index, apart from invoices
        "period_order": credit_note_order(note),
    }


def invoice_layout(invoices_table: str) -> Layout:
    """How an invoice is stored (also by a usage correction that rewrites its period's draft)."""
    return Layout(invoices_table, key=lambda key: _key(*key), item=_draft_item, stored=_stored_changes)


class DynamoInvoiceStore:
    def __init__(
        self,
        client,
        *,
        invoices_table: str,
        subscriptions_table: str,
        ledger_table: str,
        outbox_table: str,
        idempotency_table: str = "",
    ):
        self._client = client
        self._table = invoices_table
        self._subscriptions = subscriptions_table
        # The idempotency table: a credit note's request key is recorded in its transaction.
        self._tables = Tables(subscriptions_table, ledger_table, outbox_table, idempotency_table)
        self._layouts = credit_layouts(self._tables) | {
            "invoice": invoice_layout(invoices_table),
            "invoice_counter": _counter_layout(invoices_table, COUNTER_KEY),
            "credit_note": Layout(invoices_table, key=lambda key: _credit_note_key(*key), item=_credit_note_item),
            "credit_note_counter": _counter_layout(invoices_table, CREDIT_NOTE_COUNTER_KEY),
        }

    def get(self, subscription_id: str, invoice_id: str) -> Invoice | None:
        found = self._client.get_item(TableName=self._table, Key=_key(subscription_id, invoice_id), ConsistentRead=True)
        return _invoice(found["Item"]) if "Item" in found else None

    def billing_profile(self, organization_id: str) -> BillingProfile | None:
        found = self._client.get_item(TableName=self._table, Key=_profile_key(organization_id), ConsistentRead=True)
        if "Item" not in found:
            return None
        return BillingProfile.model_validate(
            {k: v for k, v in from_attributes(found["Item"]).items() if k not in ("pk", "sk")}
        )

    def save_billing_profile(self, profile: BillingProfile) -> None:
        """Write the profile, kept in its residency: one kept in another is never overwritten."""
        item = {
            "pk": f"ORG#{profile.organization_id}",
            "sk": "BILLING_PROFILE",
            **profile.model_dump(),
            "residency": profile.residency,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(pk) OR residency = :residency",
                ExpressionAttributeValues={":residency": value(profile.residency)},
            )
        except ClientError as error:
            if is_conditional_failure(error):
                raise Forbidden(
                    "This organization's billing profile is kept in another residency.", code="residency_mismatch"
                ) from None
            raise

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

    def issue(self, invoice: Invoice, now: datetime, *, profile: BillingProfile | None, issuer: Issuer) -> Invoice:
        """One attempt: read the counter, then advance it and freeze the invoice together."""
        counter = self._counter(COUNTER_KEY)
        return writes.issue_invoice(
            self._apply, self._stored(invoice), counter, invoice, now, profile=profile, issuer=issuer
        )

    def _counter(self, key: dict[str, Any]) -> InvoiceCounter | None:
        found = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return InvoiceCounter(int(from_attributes(found)["last_number"])) if found else None

    def void(self, invoice: Invoice, now: datetime) -> Invoice:
        return writes.void_invoice(self._apply, self._stored(invoice), invoice, now)

    def _stored(self, invoice: Invoice) -> Callable[[], Invoice | None]:
        return lambda: self.get(invoice.subscription_id, invoice.invoice_id)

    def close_period(
        self,
        posting: CreditPosting,
        draft: Invoice | None,
        previous: Invoice | None,
        *,
        idempotency: IdempotencyRecord | None = None,
        require_active: bool = False,
    ) -> None:
        writes.close_period(
            self._apply, posting, draft, previous, idempotency=idempotency, require_active=require_active
        )

    # --- credit notes ---------------------------------------------------------------------------

    def next_credit_note_number(self) -> tuple[str, InvoiceCounter | None]:
        """The number the next note would take, and the counter as read (the write's condition)."""
        counter = self._counter(CREDIT_NOTE_COUNTER_KEY)
        return writes.next_credit_note_number(counter), counter

    def issue_credit_note(
        self,
        note: CreditNote,
        invoice: Invoice,
        *,
        counter: InvoiceCounter | None,
        posting: CreditPosting | None,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        writes.issue_credit_note(
            self._apply, self._stored(invoice), note, invoice, counter, posting=posting, idempotency=idempotency
        )

    def credit_note(self, subscription_id: str, invoice_id: str, credit_note_id: str) -> CreditNote | None:
        found = self._client.get_item(
            TableName=self._table,
            Key={"pk": value(f"SUB#{subscription_id}"), "sk": value(f"CN#{invoice_id}#{credit_note_id}")},
            ConsistentRead=True,
        )
        return _credit_note(found["Item"]) if "Item" in found else None

    def credit_notes_page(
        self, subscription_id: str, invoice_id: str, *, limit: int, cursor: str | None
    ) -> Page[CreditNote]:
        """The invoice's notes, newest first."""
        partition = f"SUB#{subscription_id}"
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :notes)",
            "ExpressionAttributeValues": {":pk": value(partition), ":notes": value(f"CN#{invoice_id}#")},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
        return query_page(self._client, query, cursor=cursor, pinned={"pk": partition}, item=_credit_note)

    def residency_credit_notes_page(
        self, residency: str, filters: CreditNoteFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[CreditNote]:
        """The residency's notes created in [start, end), newest first (the residency index)."""
        partition = CREDIT_NOTES_OF + residency
        # Keys are fixed-width times then "#id" (credit_note_order), so a note made at `end` sorts
        # after the bound: [start, end) is a key range.
        high = fixed_width(filters.end) if filters.end else "~"
        if before is not None:  # BETWEEN is inclusive: the note at `before` itself is dropped below
            high = min(high, before)
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": RESIDENCY_INDEX,
            "KeyConditionExpression": "residency = :residency AND period_order BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":residency": value(partition),
                ":low": value(fixed_width(filters.start) if filters.start else "0"),
                ":high": value(high),
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if filters.organization_id is not None:
            add_filters(query, {"organization_id": filters.organization_id})
        page = query_page(self._client, query, cursor=cursor, pinned={"residency": partition}, item=_credit_note)
        if before is not None:
            page.items = [note for note in page.items if credit_note_order(note) != before]
        return page
