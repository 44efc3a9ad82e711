"""Credit notes as files for financial tooling: CSV (one row per credited line, note fields repeated,
text cells neutralised as the invoices' are) and JSON."""

from __future__ import annotations

import csv
import io
from typing import Any

from .credit_notes import CreditNote
from .invoice_export import exponent, major_units, spreadsheet_text
from .values import format_decimal, format_timestamp

CSV_COLUMNS = [
    "credit_note_id",
    "credit_note_number",
    "invoice_id",
    "invoice_number",
    "organization_id",
    "subscription_id",
    "created_at",
    "currency",
    "line",
    "description",
    "amount_cents",
    "amount",
    "total_cents",
    "total",
    "reason",
    "credits_granted",
]
NUMBER_COLUMNS = {"line", "amount_cents", "amount", "total_cents", "total", "credits_granted"}


def credit_note_csv(note: CreditNote) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for line in note.lines:
        row: dict[str, Any] = {
            "credit_note_id": note.credit_note_id,
            "credit_note_number": note.number,
            "invoice_id": note.invoice_id,
            "invoice_number": note.invoice_number,
            "organization_id": note.organization_id,
            "subscription_id": note.subscription_id,
            "created_at": format_timestamp(note.created_at),
            "currency": note.currency,
            "line": line.line,
            "description": line.description,
            "amount_cents": line.amount_cents,
            "amount": major_units(line.amount_cents, note.currency),
            "total_cents": note.total_cents,
            "total": major_units(note.total_cents, note.currency),
            "reason": note.reason,
            "credits_granted": format_decimal(note.credits_granted) if note.credits_granted is not None else "",
        }
        writer.writerow(
            {column: cell if column in NUMBER_COLUMNS else spreadsheet_text(str(cell)) for column, cell in row.items()}
        )
    return out.getvalue()


def credit_note_json(note: CreditNote) -> dict[str, Any]:
    return {
        "format": "marketplace-billing.credit-note/1",
        **note.model_dump(mode="json"),
        "currency_exponent": exponent(note.currency),
        "total": major_units(note.total_cents, note.currency),
    }
