"""Invoices: a period's base fee and overage, priced from the period aggregate, and its priced
top-ups. Each line's amount
is rounded half-even to whole cents once; the total is the sum of the lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Literal

from msgspec import Struct
from pydantic import BaseModel, ConfigDict, Field, computed_field

from .billing_profiles import BillingProfile, BillTo, Issuer, due_at
from .events import DetailType, OutboxEvent, outbox_event
from .grants import AUTO_TOP_UP_ACTOR, CreditGrant
from .invoice_status import InvoiceStatus
from .periods import Period
from .plans import Plan
from .subscriptions import Subscription, billed_until
from .usage import PeriodUsage, UsageTotals
from .values import TotalCredits, UtcTimestamp, format_decimal, format_timestamp, round_credits

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


def whole_cents(amount: Decimal, *factors: Decimal) -> int:
    """The product, rounded half-even to whole cents once. Multiplied in a wide context: a period's
    overage times a rate reaches 10^38, which must round, never fail or lose digits first."""
    with localcontext() as wide:
        wide.prec = 80
        for factor in factors:
            amount *= factor
        return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def compose_invoice(
    subscription: Subscription,
    plan: Plan,
    period: Period,
    usage: PeriodUsage,
    *,
    now: datetime,
    grants: Sequence[CreditGrant] = (),
    previous: Invoice | None = None,
) -> Invoice:
    """The draft for a period: the base fee (prorated when a cancellation cut the period short),
    one overage line per service that ran over, priced at the subscription's plan version, and one
    line per priced grant made in the period (`grants`, the grants made in it: credits sold are
    billed once, here; its allowance grant says how much of the allowance was used).
    `previous` is the period's latest invoice: a draft is replaced in place, a void one is
    followed by the next revision (an issued one is final, and never redrafted)."""
    revision, created_at = 1, now
    if previous is not None:
        revision = previous.revision + 1 if previous.status == "void" else previous.revision
        created_at = now if previous.status == "void" else previous.created_at
    until = billed_until(subscription, period)
    used = allowance_used(subscription, plan, period, grants, usage.totals)
    lines = [_base_fee(plan, period, until, subscription.canceled_at, used)]
    for service in sorted(usage.services):
        overage = usage.services[service].overage_credits
        if overage > 0:
            lines.append(
                LineItem(
                    kind="overage",
                    description=f"{service} overage: {format_decimal(overage)} credits "
                    f"at {format_decimal(plan.overage_rate_cents)}¢ per credit",
                    service=service,
                    quantity=overage,
                    unit_amount_cents=plan.overage_rate_cents,
                    amount_cents=whole_cents(overage, plan.overage_rate_cents),
                )
            )
    lines += [_top_up(grant) for grant in grants if grant.price_cents > 0]
    subtotal = sum(line.amount_cents for line in lines)
    return Invoice(
        invoice_id=invoice_id(subscription.subscription_id, period.start, revision),
        subscription_id=subscription.subscription_id,
        organization_id=subscription.organization_id,
        residency=subscription.residency,
        status="draft",
        period_start=period.start,
        period_end=until,  # a canceled subscription's final period ends at its cancellation
        currency=plan.currency,
        plan_id=plan.plan_id,
        plan_version=plan.version,
        revision=revision,
        line_items=lines,
        subtotal_cents=subtotal,
        total_cents=subtotal,
        created_at=created_at,
        updated_at=now,
    )


def _top_up(grant: CreditGrant) -> LineItem:
    """The agreed price is the amount; the per-credit price it implies is shown to 6 places."""
    bought = "auto top-up" if grant.actor == AUTO_TOP_UP_ACTOR else f"{grant.kind} credits"
    return LineItem(
        kind="top_up",
        description=f"{bought}: {format_decimal(grant.amount)} credits on "
        f"{grant.created_at.date().isoformat()} (grant {grant.grant_id})",
        quantity=grant.amount,
        unit_amount_cents=round_credits(Decimal(grant.price_cents) / grant.amount),
        amount_cents=grant.price_cents,
    )


def _base_fee(
    plan: Plan, period: Period, until: datetime, canceled_at: datetime | None, allowance_used: Decimal
) -> LineItem:
    description = f"{plan.name} ({plan.billing_cadence}) base fee"
    fee = Decimal(plan.base_fee_cents)
    if until >= period.end:
        return LineItem(
            kind="base_fee",
            description=description,
            quantity=Decimal(1),
            unit_amount_cents=fee,
            amount_cents=plan.base_fee_cents,
        )
    share = final_period_share(plan, period, until, allowance_used)
    cut_by = "canceled" if until == canceled_at else "plan changed"  # what ended the period early
    description += (
        f", prorated at {format_decimal(share.billed * 100)}% ({cut_by} {until.date().isoformat()}): "
        f"the larger of {share.days_used:.1f} of {share.days_in_period:.1f} days and "
        f"{format_decimal(share.allowance_used)} of {format_decimal(plan.credit_allowance)} allowance credits used"
    )
    return LineItem(
        kind="base_fee",
        description=description,
        quantity=share.billed,
        unit_amount_cents=fee,
        amount_cents=whole_cents(fee, share.billed),
    )


class FinalPeriodShare(Struct, frozen=True):
    days_used: float
    days_in_period: float
    allowance_used: Decimal
    billed: Decimal  # the share of the base fee billed, 0..1 to 6 decimals


def final_period_share(plan: Plan, period: Period, until: datetime, allowance_used: Decimal) -> FinalPeriodShare:
    """A period cut short by cancellation bills the larger of the time it ran and the share of
    its allowance that was used, so subscribing, using the allowance and canceling is never free."""
    used, whole = Decimal((until - period.start).total_seconds()), Decimal((period.end - period.start).total_seconds())
    by_allowance = allowance_used / plan.credit_allowance if plan.credit_allowance > 0 else Decimal(0)
    billed = round_credits(min(max(used / whole, by_allowance), Decimal(1)))
    return FinalPeriodShare(
        days_used=float(used) / 86400, days_in_period=float(whole) / 86400, allowance_used=allowance_used, billed=billed
    )


def allowance_used(
    subscription: Subscription, plan: Plan, period: Period, grants: Sequence[CreditGrant], usage: UsageTotals
) -> Decimal:
    """What the period's allowance grant itself paid out: its amount less what it still holds (live
    on the subscription while active) or held when it ended. Read from the grant, never inferred
    from usage: a promotional grant drawn before the allowance may have paid for the usage while
    the allowance stayed whole. Where the period has no allowance grant of its own (a period closed
    late in a catch-up, made after it ended), the debited usage up to the allowance stands in."""
    allowance = next((g for g in grants if g.kind == "allowance" and g.period_start == period.start), None)
    if allowance is None:
        return min(usage.credits - usage.overage_credits, plan.credit_allowance)
    live = next((g for g in subscription.grants if g.grant_id == allowance.grant_id), None)
    left = live.remaining if live is not None else allowance.ended_amount or Decimal(0)
    return allowance.amount - left


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
