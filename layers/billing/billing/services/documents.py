"""Invoices and credit notes as files: CSV and JSON for financial tooling, PDF documents (drawn by
the renderer the exporting function hands in, so no other function loads it). Who may read them:
the organization's own users, and finance and marketplace staff of the subscription's residency."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

from msgspec import Struct

from ..domain.access import Caller, Permission, require_residency
from ..domain.credit_note_export import credit_note_csv, credit_note_json
from ..domain.credit_notes import CreditNote
from ..domain.errors import NotFound
from ..domain.invoice_export import as_csv, as_json, export_filename
from ..domain.invoices import Invoice
from .invoice_reading import all_credit_notes, as_documents, invoice_of
from .reading import subscription_for
from .unit_of_work import Billing

FileFormat = Literal["csv", "json", "pdf"]
InvoicePdf = Callable[[Invoice, list[CreditNote]], bytes]  # (invoice, its credit notes) -> the document
CreditNotePdf = Callable[[CreditNote, Invoice], bytes]


class DocumentFile(Struct):
    content_type: str
    filename: str
    body: str | bytes  # bytes: a PDF


def export_invoice(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    invoice_id: str,
    *,
    file_format: FileFormat,
    render_pdf: InvoicePdf | None = None,
) -> DocumentFile:
    _readable(billing, caller, subscription_id)
    (invoice,) = as_documents(billing, [invoice_of(billing, subscription_id, invoice_id)])
    if file_format == "pdf" and render_pdf is not None:
        notes = all_credit_notes(billing, invoice) if invoice.credit_notes else []
        return DocumentFile("application/pdf", export_filename(invoice, "pdf"), render_pdf(invoice, notes))
    if file_format == "csv":
        return DocumentFile("text/csv; charset=utf-8", export_filename(invoice, "csv"), as_csv(invoice))
    return DocumentFile("application/json", export_filename(invoice, "json"), _json(as_json(invoice)))


def export_credit_note(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    invoice_id: str,
    credit_note_id: str,
    *,
    file_format: FileFormat,
    render_pdf: CreditNotePdf | None = None,
) -> DocumentFile:
    _readable(billing, caller, subscription_id)
    invoice = invoice_of(billing, subscription_id, invoice_id)
    note = billing.invoices.credit_note(subscription_id, invoice_id, credit_note_id)
    if note is None:
        raise NotFound(f"No credit note '{credit_note_id[:128]}' for this invoice.")
    if file_format == "pdf" and render_pdf is not None:
        (shown,) = as_documents(billing, [invoice])
        return DocumentFile("application/pdf", f"{note.number}.pdf", render_pdf(note, shown))
    if file_format == "csv":
        return DocumentFile("text/csv; charset=utf-8", f"{note.number}.csv", credit_note_csv(note))
    return DocumentFile("application/json", f"{note.number}.json", _json(credit_note_json(note)))


def _readable(billing: Billing, caller: Caller, subscription_id: str) -> None:
    subscription = subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    if caller.holds(Permission.READ_BILLING.any_organization):
        require_residency(caller, subscription.residency)


def _json(document: dict) -> str:
    return json.dumps(document, separators=(",", ":"))
