"""Invoices in DynamoDB (the invoices table).

SUB#{id} / INV#{invoice_id}     one invoice per subscription and period; the id embeds the period
                                start, so a subscription's invoices sort by period
COUNTER / INVOICE_NUMBER        the last number issued; advanced in the issuing transaction, so
                                numbers are gapless and never reused

Each write of an invoice (a draft, its issue, its void) puts its event's outbox record in the
same transaction. A credit note is written with its number, its invoice's per-line credited amounts
(conditioned on the count of notes read), its event, the credits it grants and its idempotency
record, in one transaction. Credit notes share the residency index under `credit-notes#{residency}`,
so finance's lists of invoices never meet them."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..domain.billing_profiles import BillingProfile, Issuer
from ..domain.credit_notes import (
    CreditNote,
    CreditNoteFilters,
    credit_note_number,
    credit_note_order,
    credited_after,
    fixed_width,
)
from ..domain.errors import Conflict, Forbidden, NotFound, RetryableConflict
from ..domain.events import DetailType, credit_note_issued, invoice_event
from ..domain.idempotency import IdempotencyRecord, KeyAlreadyCommitted
from ..domain.invoices import Invoice, InvoiceFilters, invoice_id, invoice_order
from ..domain.paging import Page
from ..domain.subscriptions import PERIOD_FIELDS, CreditPosting
from ..domain.values import format_timestamp
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
from .dynamodb_subscriptions import Tables, idempotency_put, posting_actions

RESIDENCY_INDEX = "by_residency"


def _whole_second_at_or_after(moment: datetime) -> datetime:
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


COUNTER_KEY = {"pk": {"S": "COUNTER"}, "sk": {"S": "INVOICE_NUMBER"}}
CREDIT_NOTE_COUNTER_KEY = {"pk": {"S": "COUNTER"}, "sk": {"S": "CREDIT_NOTE_NUMBER"}}
CREDIT_NOTES_OF = "credit-notes#"  # a credit note's residency index partition: credit-notes#us


def _counter_advance(table: str, key: dict[str, Any], counter: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
    """The next number of a gapless sequence and the update that takes it, if no one took it first."""
    last = int(from_attributes(counter)["last_number"]) if counter else 0
    advance = {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET last_number = :next",
            "ConditionExpression": "last_number = :last" if counter else "attribute_not_exists(pk)",
            "ExpressionAttributeValues": {":next": value(last + 1), **({":last": value(last)} if counter else {})},
        }
    }
    return last + 1, advance


def _credit_note(item: dict[str, Any]) -> CreditNote:
    plain = {k: v for k, v in from_attributes(item).items() if k not in ("pk", "sk", "period_order")}
    return CreditNote.model_validate(plain | {"residency": plain["residency"].removeprefix(CREDIT_NOTES_OF)})


def _profile_key(organization_id: str) -> dict[str, Any]:
    return {"pk": value(f"ORG#{organization_id}"), "sk": value("BILLING_PROFILE")}


def _key(subscription_id: str, invoice_id: str) -> dict[str, Any]:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(f"INV#{invoice_id}")}


def _invoice(item: dict[str, Any]) -> Invoice:
    return Invoice.model_validate({k: v for k, v in from_attributes(item).items() if k not in ("pk", "sk")})


def _credited(invoice: Invoice) -> Conflict:
    return Conflict(
        f"Invoice '{invoice.invoice_id}' has credit notes; it is corrected by them, not voided.",
        code="invoice_credited",
    )


def _not_draft(invoice_id: str) -> Conflict:
    return Conflict(f"Invoice '{invoice_id}' is no longer a draft.", code="invoice_not_draft")


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
        self._idempotency = idempotency_table
        self._subscriptions = subscriptions_table
        self._tables = Tables(subscriptions=subscriptions_table, ledger=ledger_table, outbox=outbox_table)

    def _reported(self, detail_type: DetailType, invoice: Invoice, at: datetime) -> dict[str, Any]:
        (put,) = outbox_puts(self._tables.outbox, [invoice_event(detail_type, invoice, at=at)])
        return put

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

    def _put_draft(self, invoice: Invoice, previous: Invoice | None) -> dict[str, Any]:
        """Write the draft if the period's invoice is still as read: absent, or the very draft read
        (so a draft built from an older aggregate never overwrites a newer one)."""
        item = {
            "pk": f"SUB#{invoice.subscription_id}",
            "sk": f"INV#{invoice.invoice_id}",
            **invoice.model_dump(),
            "residency": invoice.residency,  # the residency index: finance's list across subscriptions
            "period_order": invoice_order(invoice),
        }
        put: dict[str, Any] = {"TableName": self._table, "Item": to_attributes(item)}
        if previous is None or previous.invoice_id != invoice.invoice_id:  # a first draft, or a new revision
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put |= {
                "ConditionExpression": "#status = :draft AND updated_at = :read",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":draft": value("draft"), ":read": value(previous.updated_at)},
            }
        return {"Put": put}

    def save_draft(self, invoice: Invoice, previous: Invoice | None) -> None:
        actions = [self._put_draft(invoice, previous), self._reported("InvoiceDrafted", invoice, invoice.updated_at)]
        try:
            transact_write(self._client, actions)
        except TransactionCancelled as cancelled:
            if not cancelled.failed_condition(0):
                raise RetryableConflict("The draft could not be saved; retry.") from None
            current = self.get(invoice.subscription_id, invoice.invoice_id)
            if current is not None and not current.is_draft:
                raise _not_draft(invoice.invoice_id) from None
            raise RetryableConflict("The draft changed while it was being redrafted; retry.") from None

    def issue(self, invoice: Invoice, now: datetime, *, profile: BillingProfile | None, issuer: Issuer) -> Invoice:
        """One attempt: read the counter, then advance it and freeze the invoice together, addressed
        to the organization's profile as read (copied: later changes to it do not reach it)."""
        counter = self._client.get_item(TableName=self._table, Key=COUNTER_KEY, ConsistentRead=True).get("Item")
        sequence, advance = _counter_advance(self._table, COUNTER_KEY, counter)
        number = f"INV-{sequence:06d}"
        issued = invoice.issued(number, now, profile, issuer)
        document = issued.model_dump(mode="json", include={"bill_to", "issuer"})
        freeze = {
            "Update": {
                "TableName": self._table,
                "Key": _key(invoice.subscription_id, invoice.invoice_id),
                "UpdateExpression": "SET #status = :issued, #number = :number, issued_at = :now, updated_at = :now, "
                "bill_to = :bill_to, issuer = :issuer, due_at = :due",
                "ConditionExpression": "#status = :draft AND updated_at = :read",
                "ExpressionAttributeNames": {"#status": "status", "#number": "number"},
                "ExpressionAttributeValues": {
                    ":issued": value("issued"),
                    ":draft": value("draft"),
                    ":number": value(number),
                    ":now": value(now),
                    ":read": value(invoice.updated_at),
                    ":bill_to": value(document["bill_to"]),
                    ":issuer": value(document["issuer"]),
                    ":due": value(issued.due_at),
                },
            }
        }
        # What is frozen is exactly the draft read: the condition holds `updated_at`.
        try:
            transact_write(self._client, [advance, freeze, self._reported("InvoiceIssued", issued, now)])
        except TransactionCancelled as cancelled:
            current = self.get(invoice.subscription_id, invoice.invoice_id) if cancelled.failed_condition(1) else None
            if current is not None and not current.is_draft:
                raise _not_draft(invoice.invoice_id) from None
            raise RetryableConflict("Another invoice took that number, or the draft changed; retry.") from None
        return issued

    def void(self, invoice: Invoice, now: datetime) -> Invoice:
        """Void the invoice as read (a draft or issued one). Already void: returned as it is, and
        no event (voiding is idempotent). Changed since it was read: RetryableConflict."""
        voided = invoice.model_copy(update={"status": "void", "voided_at": now, "updated_at": now})
        change = {
            "Update": {
                "TableName": self._table,
                "Key": _key(invoice.subscription_id, invoice.invoice_id),
                "UpdateExpression": "SET #status = :void, voided_at = :now, updated_at = :now",
                # As read, so the event carries the invoice that was voided; never one with credit notes.
                "ConditionExpression": "#status IN (:draft, :issued) AND updated_at = :read "
                "AND (attribute_not_exists(credit_notes) OR credit_notes = :none)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":void": value("void"),
                    ":draft": value("draft"),
                    ":issued": value("issued"),
                    ":now": value(now),
                    ":read": value(invoice.updated_at),
                    ":none": value(0),
                },
            }
        }
        try:
            transact_write(self._client, [change, self._reported("InvoiceVoided", voided, now)])
        except TransactionCancelled:
            current = self.get(invoice.subscription_id, invoice.invoice_id)
            if current is None:
                raise NotFound(f"No invoice '{invoice.invoice_id}'.") from None
            if current.status == "void":
                return current  # already void: voiding is idempotent
            if current.credit_notes:
                raise _credited(current) from None
            raise RetryableConflict("The invoice changed while it was being voided; retry.") from None
        return voided

    def close_period(
        self,
        posting: CreditPosting,
        draft: Invoice | None,
        *,
        previous_period_start: datetime,
        previous_draft: Invoice | None = None,
    ) -> None:
        actions = posting_actions(
            self._tables,
            posting,
            also_set=PERIOD_FIELDS,
            also_require={"current_period_start": previous_period_start, "final_period_closed": False},
        )
        if draft is not None:
            actions += [
                self._put_draft(draft, previous_draft),
                self._reported("InvoiceDrafted", draft, draft.updated_at),
            ]
        try:
            transact_write(self._client, actions)
        except TransactionCancelled:
            raise RetryableConflict(
                "The subscription or its invoice changed while closing the period; retry."
            ) from None

    # --- credit notes ---------------------------------------------------------------------------

    def next_credit_note_number(self) -> tuple[str, dict[str, Any] | None]:
        """The number the next note would take, and the counter as read (the write's condition)."""
        counter = self._client.get_item(TableName=self._table, Key=CREDIT_NOTE_COUNTER_KEY, ConsistentRead=True)
        item = counter.get("Item")
        return credit_note_number(_counter_advance(self._table, CREDIT_NOTE_COUNTER_KEY, item)[0]), item

    def issue_credit_note(
        self,
        note: CreditNote,
        invoice: Invoice,
        *,
        counter: dict[str, Any] | None,
        posting: CreditPosting | None,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        """One transaction: the next credit note number (as read), the invoice's credited amounts
        (if it is still issued with the notes read), the note, its event, the credits it grants
        (`posting`, on the organization's active subscription) and its idempotency record. Raises
        KeyAlreadyCommitted, Conflict(`invoice_not_issued`) or RetryableConflict."""
        _, advance = _counter_advance(self._table, CREDIT_NOTE_COUNTER_KEY, counter)
        credited = credited_after(invoice, note)
        credit = {
            "Update": {
                "TableName": self._table,
                "Key": _key(invoice.subscription_id, invoice.invoice_id),
                "UpdateExpression": "SET credited_cents = :cents, credited_by_line = :lines, credit_notes = :count",
                "ConditionExpression": "#status = :issued AND "
                + (
                    "(attribute_not_exists(credit_notes) OR credit_notes = :read)"
                    if not invoice.credit_notes
                    else "credit_notes = :read"
                ),
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":issued": value("issued"),
                    ":cents": value(sum(credited)),
                    ":lines": value(credited),
                    ":count": value(invoice.credit_notes + 1),
                    ":read": value(invoice.credit_notes),
                },
            }
        }
        item = {
            "pk": f"SUB#{note.subscription_id}",
            "sk": f"CN#{note.invoice_id}#{note.credit_note_id}",
            **note.model_dump(),
            "residency": CREDIT_NOTES_OF + note.residency,
            "period_order": credit_note_order(note),
        }
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_attributes(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        actions = [advance, credit, put, *outbox_puts(self._tables.outbox, [credit_note_issued(note)])]
        if posting is not None:
            actions += posting_actions(self._tables, posting, require_active=True)
        if idempotency is not None:
            actions.append(idempotency_put(self._idempotency, idempotency))
        try:
            transact_write(self._client, actions, token=secrets.token_hex(16))
        except TransactionCancelled as cancelled:
            if idempotency is not None and cancelled.failed_condition(len(actions) - 1):
                raise KeyAlreadyCommitted() from None
            if cancelled.failed_condition(1):
                current = self.get(invoice.subscription_id, invoice.invoice_id)
                if current is not None and current.status != "issued":
                    raise Conflict(
                        f"Invoice '{invoice.invoice_id}' is {current.status}; only issued invoices take credit notes.",
                        code="invoice_not_issued",
                    ) from None
            raise RetryableConflict("Another credit note, or a change to the credits, came first; retry.") from None

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
