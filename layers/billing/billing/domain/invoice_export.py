"""Invoices as files for financial tooling: CSV (a header row, one row per line item, invoice
fields repeated on each row as accounting imports expect) and JSON. Amounts come both as integer
minor units and as decimal major units in the currency's own exponent."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from .invoices import Invoice
from .values import format_decimal, format_timestamp, spreadsheet_text

ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}
THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}

CSV_COLUMNS = [
    "invoice_id",
    "invoice_number",
    "status",
    "organization_id",
    "subscription_id",
    "plan_id",
    "plan_version",
    "period_start",
    "period_end",
    "issued_at",
    "currency",
    "line_number",
    "kind",
    "service",
    "description",
    "quantity",
    "unit_amount_cents",
    "amount_cents",
    "amount",
    "invoice_total_cents",
    "invoice_total",
    "bill_to_name",
    "due_at",
    "amount_due_cents",
    "amount_due",
]


def exponent(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def major_units(cents: int, currency: str) -> str:
    places = exponent(currency)
    return f"{Decimal(cents).scaleb(-places):.{places}f}"


def _stamp(moment) -> str:
    return format_timestamp(moment) if moment else ""


NUMBER_COLUMNS = {
    "plan_version",
    "line_number",
    "quantity",
    "unit_amount_cents",
    "amount_cents",
    "amount",
    "invoice_total_cents",
    "invoice_total",
    "amount_due_cents",
    "amount_due",
}


def as_csv(invoice: Invoice) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in _csv_rows(invoice):
        writer.writerow(
            {column: cell if column in NUMBER_COLUMNS else spreadsheet_text(str(cell)) for column, cell in row.items()}
        )
    return out.getvalue()


def _csv_rows(invoice: Invoice) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(invoice.line_items, start=1):
        rows.append(
            {
                "invoice_id": invoice.invoice_id,
                "invoice_number": invoice.number or "",
                "status": invoice.status,
                "organization_id": invoice.organization_id,
                "subscription_id": invoice.subscription_id,
                "plan_id": invoice.plan_id,
                "plan_version": invoice.plan_version,
                "period_start": _stamp(invoice.period_start),
                "period_end": _stamp(invoice.period_end),
                "issued_at": _stamp(invoice.issued_at),
                "currency": invoice.currency,
                "line_number": number,
                "kind": line.kind,
                "service": line.service or "",
                "description": line.description,
                "quantity": format_decimal(line.quantity),
                "unit_amount_cents": format_decimal(line.unit_amount_cents),
                "amount_cents": line.amount_cents,
                "amount": major_units(line.amount_cents, invoice.currency),
                "invoice_total_cents": invoice.total_cents,
                "invoice_total": major_units(invoice.total_cents, invoice.currency),
                "bill_to_name": bill_to_name(invoice),
                "due_at": _stamp(invoice.due_at),
                "amount_due_cents": invoice.amount_due_cents,
                "amount_due": major_units(invoice.amount_due_cents, invoice.currency),
            }
        )
    return rows


def as_json(invoice: Invoice) -> dict[str, Any]:
    currency = invoice.currency
    return {
        "format": "marketplace-billing.invoice/1",
        "invoice_id": invoice.invoice_id,
        "number": invoice.number,
        "status": invoice.status,
        "customer": {"organization_id": invoice.organization_id},
        "bill_to": invoice.bill_to.model_dump(mode="json") if invoice.bill_to else None,
        "issuer": invoice.issuer.model_dump(mode="json") if invoice.issuer else None,
        "due_at": _stamp(invoice.due_at) or None,
        "subscription_id": invoice.subscription_id,
        "plan": {"plan_id": invoice.plan_id, "version": invoice.plan_version},
        "period": {"start": _stamp(invoice.period_start), "end": _stamp(invoice.period_end)},
        "issued_at": _stamp(invoice.issued_at) or None,
        "currency": currency,
        "currency_exponent": exponent(currency),
        "lines": [
            {
                "line_number": n,
                "kind": line.kind,
                "service": line.service,
                "description": line.description,
                "quantity": format_decimal(line.quantity),
                "unit_amount_cents": format_decimal(line.unit_amount_cents),
                "amount_cents": line.amount_cents,
                "amount": major_units(line.amount_cents, currency),
            }
            for n, line in enumerate(invoice.line_items, start=1)
        ],
        "subtotal_cents": invoice.subtotal_cents,
        "total_cents": invoice.total_cents,
        "subtotal": major_units(invoice.subtotal_cents, currency),
        "total": major_units(invoice.total_cents, currency),
        "credited_cents": invoice.credited_cents,
        "amount_due_cents": invoice.amount_due_cents,
        "amount_due": major_units(invoice.amount_due_cents, currency),
    }


def bill_to_name(invoice: Invoice) -> str:
    """The addressee's legal name, or its organization id where it has no billing profile."""
    bill_to = invoice.bill_to
    return (bill_to.legal_name if bill_to else None) or invoice.organization_id


def export_filename(invoice: Invoice, extension: str) -> str:
    return f"{invoice.number or invoice.invoice_id}.{extension}"
