"""Invoices: drafting a period from its aggregate, issuing with the next gapless number, voiding,
reading them. An invoice as shown (and its notes) is `invoice_reading`, which the document export
shares; the scheduled run that closes ended periods is `invoicing_run`."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from ..domain.access import Caller, Permission, require_residency
from ..domain.credits import rolled_forward
from ..domain.errors import Conflict
from ..domain.invoices import Invoice, InvoiceFilters, UpcomingInvoice, invoice_order
from ..domain.paging import Page
from ..domain.periods import Period
from ..domain.subscriptions import Subscription, billed_until
from ..domain.values import UtcTimestamp, format_timestamp
from .credit_write import close_due_periods, drafted
from .invoice_reading import as_documents, invoice_of
from .ledger import Pause, with_retries
from .reading import across_residencies, subscription_for
from .unit_of_work import Billing


class DraftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    period_start: UtcTimestamp | None = None


def _for_finance(billing: Billing, caller: Caller, subscription_id: str) -> Subscription:
    subscription = subscription_for(billing, caller, subscription_id, Permission.MANAGE_INVOICES)
    require_residency(caller, subscription.residency)
    return subscription


def invoice_for_finance(
    billing: Billing, caller: Caller, subscription_id: str, invoice_id_: str
) -> tuple[Subscription, Invoice]:
    """What finance and staff change (issue, void, credit): of their residency (403), existing (404)."""
    subscription = _for_finance(billing, caller, subscription_id)
    return subscription, invoice_of(billing, subscription_id, invoice_id_)


def draft_invoice(
    billing: Billing, caller: Caller, subscription_id: str, request: DraftRequest, *, pause: Pause = time.sleep
) -> tuple[Invoice, bool]:
    """Draft (or re-draft) a period's invoice from its aggregate. Returns (invoice, created)."""
    subscription = _for_finance(billing, caller, subscription_id)
    period = (
        subscription.current_period
        if request.period_start is None
        else subscription.period_starting(request.period_start, location="body")
    )
    plan = billing.plans.version(*subscription.plan_of(period))  # the version the period ran on
    invoices, now = billing.invoices, billing.now()

    def attempt() -> tuple[Invoice, bool]:
        previous = invoices.latest_for_period(subscription_id, period.start)
        if previous is not None and previous.status == "issued":
            raise Conflict(
                f"The invoice for this period was issued as {previous.number}; issued invoices never change.",
                code="invoice_not_draft",
            )
        draft = drafted(billing, subscription, plan, period, now=now, previous=previous)
        draft = draft.addressed(invoices.billing_profile(subscription.organization_id), billing.issuer())
        invoices.save_draft(draft, previous)
        return draft, previous is None or previous.invoice_id != draft.invoice_id

    return with_retries(attempt, pause=pause)


def upcoming_invoice(billing: Billing, caller: Caller, subscription_id: str, *, cancel_now: bool) -> UpcomingInvoice:
    """The current period's invoice as the close would draft it with the usage so far; with
    `cancel_now`, the final invoice a cancellation now would draft (its base fee prorated). Once
    canceled, both are the final invoice as its close will draft it, until that close has. Composed
    by the drafting code itself, from the same reads, and never stored."""
    subscription = subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    now = billing.now()
    # A period that has ended is closed before anything else happens to the subscription: what is
    # upcoming is in the period a change now would find (the run may not have closed it yet), or
    # the final period, which is upcoming until its close drafts it.
    subscription = rolled_forward(subscription, billing.plans.version, now, "upcoming-invoice", closing_the_final=False)
    plan = billing.plans.version(subscription.plan_id, subscription.plan_version)
    if subscription.period_closes_at is None:
        raise Conflict(
            "The subscription is canceled and its final period is invoiced; nothing is upcoming.",
            code="no_active_subscription",
        )
    if cancel_now and subscription.is_active:
        subscription = subscription.canceled(now)
    draft = drafted(billing, subscription, plan, subscription.current_period, now=now)
    (shown,) = as_documents(billing, [draft])  # addressed as its draft will be shown
    return UpcomingInvoice.model_validate(dict(shown) | {"invoice_id": None})


def _documents(billing: Billing, page: Page[Invoice]) -> Page[Invoice]:
    return page.model_copy(update={"items": as_documents(billing, page.items)})


def list_invoices(
    billing: Billing, caller: Caller, subscription_id: str, *, limit: int, cursor: str | None
) -> Page[Invoice]:
    subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    return _documents(billing, billing.invoices.page(subscription_id, limit=limit, cursor=cursor))


def search_invoices(
    billing: Billing, caller: Caller, filters: InvoiceFilters, *, residency: str | None, limit: int, cursor: str | None
) -> Page[Invoice]:
    """Finance's list across subscriptions (the drafts the schedule made), newest period first: the
    query's residency, or every residency served, merged."""
    caller.authorize(Permission.LIST_ACROSS_ORGANIZATIONS)
    page = across_residencies(
        billing,
        "invoices",
        billing.invoices.residency_page,
        invoice_order,
        filters,
        residency=residency,
        limit=limit,
        cursor=cursor,
    )
    return _documents(billing, page)


def get_invoice(billing: Billing, caller: Caller, subscription_id: str, invoice_id_: str) -> Invoice:
    """One invoice: readable by the organization and finance."""
    subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    (shown,) = as_documents(billing, [invoice_of(billing, subscription_id, invoice_id_)])
    return shown


def issue_invoice(
    billing: Billing, caller: Caller, subscription_id: str, invoice_id_: str, *, pause: Pause = time.sleep
) -> Invoice:
    """Number and freeze a draft, only once its period has ended: usage still to come would be on
    no invoice. A period that has ended but is not closed yet is closed first (as the scheduled run
    would), so what is issued is the draft of the whole period, not one made before it ended."""
    subscription = _for_finance(billing, caller, subscription_id)  # 403/404
    invoice = invoice_of(billing, subscription_id, invoice_id_)
    invoices, now = billing.invoices, billing.now()
    ends = billed_until(subscription, Period(invoice.period_start, invoice.period_end))
    if invoice.is_draft and ends > now:
        raise Conflict(
            f"The period runs until {format_timestamp(ends)}; its invoice can be issued once it has ended.",
            code="period_open",
            details={"period_end": format_timestamp(ends)},
        )
    if invoice.is_draft and subscription.period_due(now) and invoice.period_start == subscription.current_period_start:
        close_due_periods(billing, subscription, now=now, pause=pause)

    def attempt() -> Invoice:
        current = invoices.get(subscription_id, invoice_id_)
        if not current.is_draft:
            raise Conflict(
                f"Invoice '{invoice_id_}' is {current.status}; only drafts are issued.", code="invoice_not_draft"
            )
        profile = invoices.billing_profile(subscription.organization_id)
        return invoices.issue(current, now, profile=profile, issuer=billing.issuer())

    return with_retries(attempt, pause=pause)


def void_invoice(
    billing: Billing, caller: Caller, subscription_id: str, invoice_id_: str, *, pause: Pause = time.sleep
) -> Invoice:
    """Void a draft or issued invoice (voiding twice returns the void one). The invoice is read
    again on each attempt: its void is written against the version read, which its event carries."""
    _for_finance(billing, caller, subscription_id)
    now = billing.now()

    def attempt() -> Invoice:
        invoice = invoice_of(billing, subscription_id, invoice_id_)
        if invoice.credit_notes:
            raise Conflict(
                f"Invoice '{invoice_id_}' has credit notes; it is corrected by them, not voided.",
                code="invoice_credited",
            )
        return billing.invoices.void(invoice, now)

    return with_retries(attempt, pause=pause)
