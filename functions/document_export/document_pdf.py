"""Invoices and credit notes as PDF documents, rendered with fpdf2 (pure Python: a small package and
a short import, where reportlab brings a larger C-accelerated toolkit and WeasyPrint needs Pango).
Only this function ships fpdf2 and imports this module, and only when a PDF is asked for.

Text is set in DejaVu Sans (Latin, Greek, Cyrillic: "Zürich", "Łódź") with Droid Sans Fallback for
Chinese, Japanese and Korean ("株式会社"), both subsets vendored in fonts/ and embedded (subset
again) in each document, so every name prints and its text can be extracted. What is printed is
first made printable: control and bidirectional characters are dropped, whatever let them in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from pydantic import BaseModel

from billing.domain.billing_profiles import BillTo, Issuer, PostalAddress
from billing.domain.credit_notes import CreditNote
from billing.domain.invoice_export import exponent, major_units
from billing.domain.invoices import Invoice
from billing.domain.values import format_decimal, format_timestamp

FONTS = Path(__file__).resolve().parent / "fonts"
_NOT_PRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
GREY, BLACK = (110, 110, 110), (0, 0, 0)


def printable(text: object) -> str:
    return _NOT_PRINTABLE.sub("", str(text)) if text is not None else ""


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "—"


def _money(cents: int, currency: str) -> str:
    return f"{major_units(cents, currency)} {currency}"


def _unit_price(unit_amount_cents: Decimal, currency: str) -> str:
    """A rate in the currency's major units, to the digits it has but at least the currency's own
    (12.5 cents: 0.125 USD; 49900 cents: 499.00 USD)."""
    places = exponent(currency)
    price = unit_amount_cents.scaleb(-places)
    shown = format_decimal(price)
    digits = len(shown.partition(".")[2])
    return f"{price:.{max(digits, places)}f} {currency}"


def _period(start: datetime, end: datetime) -> str:
    """Half-open, as billed: the end instant is the next period's start."""
    return f"{format_timestamp(start)} to {format_timestamp(end)} (end excluded)"


CJK_FROM = 0x2E80  # CJK radicals onwards: what DejaVu Sans lacks and Droid Sans Fallback has


def needs_cjk(*documents: BaseModel) -> bool:
    """Whether any text of the documents is Chinese, Japanese or Korean: only then is the 1.5 MB
    fallback font parsed (it is most of a render's time)."""
    return any(ord(char) >= CJK_FROM for document in documents for char in document.model_dump_json())


class _Document(FPDF):
    def __init__(self, title: str, *, draft: bool, cjk: bool) -> None:
        super().__init__(format="A4")
        self._draft = draft
        self.set_title(title)
        self.set_creator("Marketplace Billing")
        self.set_auto_page_break(auto=True, margin=18)
        self.add_font("DejaVu", "", FONTS / "DejaVuSans-subset.ttf")
        self.add_font("DejaVu", "B", FONTS / "DejaVuSans-Bold-subset.ttf")
        if cjk:
            self.add_font("DroidFallback", "", FONTS / "DroidSansFallback-subset.ttf")
            self.set_fallback_fonts(["DroidFallback"], exact_match=False)
        self.set_font("DejaVu", size=9)
        self.add_page()

    def header(self) -> None:
        if self._draft:  # on every page, behind the text: a draft is never mistaken for a bill
            with self.local_context(text_color=(225, 225, 225)):
                self.set_font("DejaVu", "B", 90)
                with self.rotation(35, x=self.w / 2, y=self.h / 2):
                    self.text(self.w / 2 - 60, self.h / 2 + 12, "DRAFT")
            self.set_font("DejaVu", size=9)

    def footer(self) -> None:
        self.set_y(-12)
        with self.local_context(text_color=GREY):
            self.set_font("DejaVu", size=7)
            self.cell(0, 5, f"{self.title} · page {self.page_no()}/{{nb}}", align="C")

    # --- blocks ---------------------------------------------------------------------------
    def heading(self, text: str, subtitle: str = "") -> None:
        self.set_font("DejaVu", "B", 18)
        self.cell(0, 10, printable(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if subtitle:
            self.set_font("DejaVu", "B", 10)
            self.cell(0, 6, printable(subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", size=9)
        self.ln(3)

    def parties(self, issuer: Issuer | None, bill_to: BillTo | None, organization_id: str) -> None:
        """Issuer on the left, bill-to on the right, side by side."""
        half = (self.w - self.l_margin - self.r_margin) / 2
        top = self.get_y()
        self._party("From", _issuer_lines(issuer), x=self.l_margin, width=half - 4)
        left_end = self.get_y()
        self.set_xy(self.l_margin + half, top)
        self._party("Bill to", _bill_to_lines(bill_to, organization_id), x=self.l_margin + half, width=half)
        self.set_y(max(left_end, self.get_y()) + 3)

    def _party(self, label: str, lines: Sequence[str], *, x: float, width: float) -> None:
        with self.local_context(text_color=GREY):
            self.set_font("DejaVu", "B", 8)
            self.set_x(x)
            self.cell(width, 5, label.upper(), new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_font("DejaVu", size=9)
        for line in lines:
            self.set_x(x)
            self.multi_cell(width, 4.6, printable(line), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)

    def facts(self, rows: Sequence[tuple[str, str]]) -> None:
        for label, fact in rows:
            with self.local_context(text_color=GREY):
                self.cell(38, 5, label)
            self.multi_cell(0, 5, printable(fact), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(3)

    def lines_table(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
        aligns = ("LEFT",) + ("RIGHT",) * (len(header) - 1)
        with self.table(
            col_widths=widths,
            text_align=aligns,
            line_height=5,
            first_row_as_headings=True,
            borders_layout="HORIZONTAL_LINES",
        ) as table:
            for cells in (header, *rows):
                row = table.row()
                for cell in cells:
                    row.cell(printable(cell))
        self.ln(2)

    def totals(self, rows: Sequence[tuple[str, str]], *, emphasised: str) -> None:
        for label, amount in rows:
            self.set_font("DejaVu", "B" if label == emphasised else "", 10 if label == emphasised else 9)
            self.cell(self.w - self.l_margin - self.r_margin - 45, 6, label, align="R")
            self.cell(45, 6, amount, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", size=9)

    def render(self) -> bytes:
        return bytes(self.output())


def _address_lines(address: PostalAddress | None) -> list[str]:
    return address.lines() if address is not None else []


def _issuer_lines(issuer: Issuer | None) -> list[str]:
    if issuer is None:
        return ["—"]
    lines = [issuer.name, *_address_lines(issuer.address)]
    lines += [f"Tax ID: {issuer.tax_id}"] if issuer.tax_id else []
    return lines + ([issuer.email] if issuer.email else [])


def _bill_to_lines(bill_to: BillTo | None, organization_id: str) -> list[str]:
    if bill_to is None or bill_to.legal_name is None:
        return [f"Organization {organization_id}", "(no billing profile on file)"]
    lines = [bill_to.legal_name, *_address_lines(bill_to.address)]
    lines += [f"Tax ID: {bill_to.tax_id}"] if bill_to.tax_id else []
    return lines + [bill_to.email or "", f"Organization {organization_id}"]


def invoice_pdf(invoice: Invoice, credit_notes: Sequence[CreditNote] = ()) -> bytes:
    """The invoice as a document: issuer, bill-to, number, dates, due date, period, lines with
    quantities and unit prices, subtotal, credit notes, amount due. A draft is marked DRAFT."""
    draft = invoice.is_draft
    title = "Invoice " + (invoice.number or f"{invoice.invoice_id} (draft)")
    pdf = _Document(title, draft=draft, cjk=needs_cjk(invoice, *credit_notes))
    status = {"draft": "DRAFT — not a bill until it is issued", "void": "VOID — this invoice was voided"}
    pdf.heading("DRAFT INVOICE" if draft else "INVOICE", status.get(invoice.status, invoice.number or ""))
    pdf.parties(invoice.issuer, invoice.bill_to, invoice.organization_id)
    currency = invoice.currency
    pdf.facts(
        [
            ("Invoice number", invoice.number or "not yet issued"),
            ("Issued", _day(invoice.issued_at)),
            ("Due", _day(invoice.due_at)),
            ("Period", _period(invoice.period_start, invoice.period_end)),
            ("Currency", currency),
            ("Invoice ID", invoice.invoice_id),
        ]
    )
    rows = [
        (
            line.description,
            format_decimal(line.quantity),
            _unit_price(line.unit_amount_cents, currency),
            _money(line.amount_cents, currency),
        )
        for line in invoice.line_items
    ]
    pdf.lines_table(("Description", "Quantity", "Unit price", "Amount"), rows, (92, 26, 34, 38))
    totals = [("Subtotal", _money(invoice.subtotal_cents, currency)), ("Total", _money(invoice.total_cents, currency))]
    totals += [(f"Credit note {note.number}", "−" + _money(note.total_cents, currency)) for note in credit_notes]
    totals += [("Amount due", _money(invoice.amount_due_cents, currency))]
    pdf.totals(totals, emphasised="Amount due")
    return pdf.render()


def credit_note_pdf(note: CreditNote, invoice: Invoice) -> bytes:
    """The credit note: its number, the invoice it corrects, each line's amount, the total, the reason."""
    pdf = _Document(f"Credit note {note.number}", draft=False, cjk=needs_cjk(note, invoice))
    pdf.heading("CREDIT NOTE", f"{note.number} for invoice {note.invoice_number}")
    pdf.parties(invoice.issuer, invoice.bill_to, note.organization_id)
    facts = [
        ("Credit note number", note.number),
        ("Date", _day(note.created_at)),
        ("Invoice", f"{note.invoice_number} of {_day(invoice.issued_at)}"),
        ("Period", _period(invoice.period_start, invoice.period_end)),
        ("Currency", note.currency),
        ("Reason", note.reason),
    ]
    if note.credits_granted is not None:
        facts.append(("Credits granted", f"{format_decimal(note.credits_granted)} credits"))
    pdf.facts(facts)
    rows = [
        (f"Line {line.line + 1}: {line.description}", _money(line.amount_cents, note.currency)) for line in note.lines
    ]
    pdf.lines_table(("Credited line", "Amount"), rows, (150, 40))
    pdf.totals([("Total credited", _money(note.total_cents, note.currency))], emphasised="Total credited")
    return pdf.render()
