"""Invoices as drafted, issued and voided: their lines, totals and lists (drafting a period's
invoice from its usage, grants and plan: invoice_drafting.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from msgspec import Struct
from pydantic import BaseModel, ConfigDict, Field, computed_field

from .billing_profiles import BillingProfile, BillTo, Issuer, due_at
from .events import DetailType, OutboxEvent, outbox_event
from .invoice_status import InvoiceStatus
from .values import TotalCredits, UtcTimestamp, format_timestamp

LineKind = Literal["base_fee", "overage", "top_up"]


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: LineKind
    description: str
    service: str | None = None
    quantity: TotalCredits  # a period's overage can add up past any one event's 10^12
    # Decimal: overage rates are fractions of a cent per credit; a top-up line's is its price over its
    # credits, which a small, dear grant can take past one amount's 10^12.
    unit_amount_cents: TotalCredits
    amount_cents: int


class Invoice(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    invoice_id: str
    subscription_id: str
    organization_id: str
    number: str | None = None
    status: InvoiceStatus
    period_start: UtcTimestamp
    period_end: UtcTimestamp
    currency: str
    plan_id: str
    plan_version: int
    revision: int = 1  # a voided period is invoiced again under the next revision
    residency: str | None = Field(default=None, exclude=True)  # stored, for finance's list; not answered
    line_items: list[LineItem] = Field(default_factory=list)
    subtotal_cents: int
    total_cents: int
    created_at: UtcTimestamp
    updated_at: UtcTimestamp
    issued_at: UtcTimestamp | None = None
    voided_at: UtcTimestamp | None = None
    # A document: who it is addressed to and who issues it, copied when it is issued (a draft
    # shows the current ones), and when it is due.
    bill_to: BillTo | None = None
    issuer: Issuer | None = None
    due_at: UtcTimestamp | None = None
    credited_cents: int = 0  # what its credit notes gave back
    # Per line, what its credit notes gave back; with their count, the condition of the next note.
    credited_by_line: list[int] = Field(default_factory=list, exclude=True)
    credit_notes: int = Field(default=0, exclude=True)

    @computed_field
    @property
    def amount_due_cents(self) -> int:
        return self.total_cents - self.credited_cents

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"

    def addressed(self, organization_profile: BillingProfile | None, issuer: Issuer) -> Invoice:
        """This invoice addressed to the organization's current profile, from `issuer`."""
        return self.model_copy(
            update={"bill_to": BillTo.of(self.organization_id, organization_profile), "issuer": issuer}
        )

    def issued(
        self, number: str, now: datetime, organization_profile: BillingProfile | None, issuer: Issuer
    ) -> Invoice:
        """Frozen as a document: numbered, addressed as of now, due after the profile's net terms."""
        return self.addressed(organization_profile, issuer).model_copy(
            update={
                "status": "issued",
                "number": number,
                "issued_at": now,
                "updated_at": now,
                "due_at": due_at(now, organization_profile),
            }
        )

    def line_credit_left(self, line: int) -> int:
        """What credit notes may still give back on a line."""
        given = self.credited_by_line[line] if line < len(self.credited_by_line) else 0
        return self.line_items[line].amount_cents - given


class UpcomingInvoice(Invoice):
    """The invoice of the current period as it would be drafted at its end with the usage so far
    (or at a cancellation now): composed by the same code as every draft, never stored."""

    invoice_id: str | None = None  # type: ignore[assignment] - it has none until it is drafted


def invoice_id(subscription_id: str, period_start: datetime, revision: int = 1) -> str:
    """One invoice per (subscription, period), so drafting the period again finds the same id; a
    voided one is followed by revision 2, 3... (`_r002`), which sort after it."""
    base = f"inv_{subscription_id}_{period_start.strftime('%Y%m%dT%H%M%S%f')}"
    return base if revision == 1 else f"{base}_r{revision:03d}"


def invoice_order(invoice: Invoice) -> str:
    """Where an invoice sorts in finance's lists (newest period first): its period start, then its
    id (whole-second RFC 3339 text sorts as time does)."""
    return f"{format_timestamp(invoice.period_start)}#{invoice.invoice_id}"


class InvoiceFilters(Struct, frozen=True):
    """`GET /invoices`: each given filter must match; periods starting in [period_from, period_to]."""

    status: InvoiceStatus | None = None
    organization_id: str | None = None
    period_from: datetime | None = None
    period_to: datetime | None = None

    def matches(self, invoice: Invoice) -> bool:
        return (
            (self.status is None or invoice.status == self.status)
            and (self.organization_id is None or invoice.organization_id == self.organization_id)
            and (self.period_from is None or invoice.period_start >= self.period_from)
            and (self.period_to is None or invoice.period_start <= self.period_to)
        )


def invoice_event(detail_type: DetailType, invoice: Invoice, *, at: datetime) -> OutboxEvent:
    """InvoiceDrafted / InvoiceIssued / InvoiceVoided, with the invoice as it was written."""
    return outbox_event(detail_type, invoice, occurred_at=at, invoice=invoice)
