"""Credit notes: how an issued invoice is corrected (it never changes itself). A note gives back
part of some of the invoice's lines; across all its notes no line gives back more than it billed
(invariant 13). Numbers (`CN-000001`) are one gapless sequence of their own."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from annotated_types import Gt, Le
from msgspec import Struct
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from .errors import Conflict, FieldError, ValidationFailed
from .events import OutboxEvent, outbox_event
from .ids import new_id
from .invoices import Invoice
from .values import MAX_CENTS, PositiveDecimal, UtcTimestamp, document_text, to_cents

IdempotencyKey = Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,255}$")]


def _line_index(value: Any) -> Any:
    """A JSON whole number (not a string, not a fraction), bounded before conversion."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError("must be the index of an invoice line (a whole JSON number)")
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        raise ValueError("must be the index of an invoice line (a whole number)")
    if not 0 <= value <= 999:
        raise ValueError("must be the index of an invoice line, from 0")
    return int(value)


LineIndex = Annotated[int, BeforeValidator(_line_index)]
PositiveCents = Annotated[int, BeforeValidator(to_cents), Gt(0), Le(MAX_CENTS)]
MAX_NOTE_LINES = 50


class CreditedLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    line: LineIndex
    amount_cents: PositiveCents


class CreditNoteRequest(BaseModel):
    """`POST .../credit-notes`: what to give back on which lines, why, and credits to grant."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    lines: list[CreditedLine] = Field(min_length=1, max_length=MAX_NOTE_LINES)
    reason: document_text(max_length=500)
    idempotency_key: IdempotencyKey
    grant_credits: PositiveDecimal | None = None

    @field_validator("lines")
    @classmethod
    def _each_line_once(cls, lines: list[CreditedLine]) -> list[CreditedLine]:
        seen = [line.line for line in lines]
        if len(set(seen)) != len(seen):
            raise ValueError("name each invoice line at most once")
        return lines


class CreditNoteLine(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    line: int
    description: str
    amount_cents: int


class CreditNote(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    credit_note_id: str
    invoice_id: str
    invoice_number: str
    subscription_id: str
    organization_id: str
    number: str
    currency: str
    lines: list[CreditNoteLine]
    total_cents: int
    reason: str
    credits_granted: PositiveDecimal | None = None
    grant_id: str | None = None
    created_at: UtcTimestamp
    residency: str | None = Field(default=None, exclude=True)  # stored, for finance's list; not answered


def credit_note_order(note: CreditNote) -> str:
    """Where a note sorts in finance's lists (newest first): its creation time, fixed width (so the
    text sorts as time does), then its id."""
    return f"{fixed_width(note.created_at)}#{note.credit_note_id}"


def fixed_width(moment: datetime) -> str:
    """UTC to the microsecond, always the same width."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CreditNoteFilters(Struct, frozen=True):
    """`GET /credit-notes`: created in [start, end), of one organization when given."""

    organization_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def matches(self, note: CreditNote) -> bool:
        return (
            (self.organization_id is None or note.organization_id == self.organization_id)
            and (self.start is None or note.created_at >= self.start)
            and (self.end is None or note.created_at < self.end)
        )


def credit_note_number(sequence: int) -> str:
    return f"CN-{sequence:06d}"


def new_credit_note_id(now: datetime) -> str:
    return new_id(now)


def compose_credit_note(
    invoice: Invoice,
    request: CreditNoteRequest,
    *,
    number: str,
    credit_note_id: str,
    residency: str,
    now: datetime,
    grant_id: str | None = None,
) -> CreditNote:
    """The note for `invoice` as read: only an issued invoice is credited, and no line gives back
    more than it billed less what earlier notes gave back (422 naming the line)."""
    if invoice.status != "issued":
        raise Conflict(
            f"Invoice '{invoice.invoice_id}' is {invoice.status}; only issued invoices take credit notes.",
            code="invoice_not_issued",
        )
    refusals = []
    for position, asked in enumerate(request.lines):
        field = f"lines.{position}"
        if asked.line >= len(invoice.line_items):
            refusals.append(
                (f"{field}.line", f"line {asked.line} is not on the invoice (it has {len(invoice.line_items)})")
            )
        elif asked.amount_cents > invoice.line_credit_left(asked.line):
            refusals.append(
                (
                    f"{field}.amount_cents",
                    f"line {asked.line} has {invoice.line_credit_left(asked.line)} cents left to credit "
                    f"of the {invoice.line_items[asked.line].amount_cents} it billed",
                )
            )
    if refusals:
        raise ValidationFailed([FieldError(name, message) for name, message in refusals])
    lines = [
        CreditNoteLine(
            line=asked.line, description=invoice.line_items[asked.line].description, amount_cents=asked.amount_cents
        )
        for asked in request.lines
    ]
    return CreditNote(
        credit_note_id=credit_note_id,
        invoice_id=invoice.invoice_id,
        invoice_number=invoice.number,
        subscription_id=invoice.subscription_id,
        organization_id=invoice.organization_id,
        number=number,
        currency=invoice.currency,
        lines=lines,
        total_cents=sum(line.amount_cents for line in lines),
        reason=request.reason,
        credits_granted=request.grant_credits,
        grant_id=grant_id,
        created_at=now,
        residency=residency,
    )


def credited_after(invoice: Invoice, note: CreditNote) -> list[int]:
    """The invoice's per-line credited amounts once the note is counted."""
    credited = [*invoice.credited_by_line, *[0] * (len(invoice.line_items) - len(invoice.credited_by_line))]
    for line in note.lines:
        credited[line.line] += line.amount_cents
    return credited


def credit_note_issued(note: CreditNote) -> OutboxEvent:
    """CreditNoteIssued, with the note as written (its invoice and lines)."""
    return outbox_event("CreditNoteIssued", note, occurred_at=note.created_at, credit_note=note)
