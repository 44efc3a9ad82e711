"""Invoices and their credit notes as read: the invoice a caller may see, a draft as shown
(addressed to its organization's current profile) and an invoice's notes. Apart from drafting
and issuing (services/invoices.py, services/credit_notes.py), so the document export loads no
credit write (cold start)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.errors import NotFound
from ..domain.paging import MAX_PAGE_SIZE

if TYPE_CHECKING:
    from ..domain.billing_profiles import BillingProfile
    from ..domain.credit_notes import CreditNote
    from ..domain.invoices import Invoice
    from .unit_of_work import Billing


def invoice_of(billing: Billing, subscription_id: str, invoice_id_: str) -> Invoice:
    """The invoice, once the caller may see its subscription (404 when there is none)."""
    found = billing.invoices.get(subscription_id, invoice_id_)
    if found is None:
        raise NotFound(f"No invoice '{invoice_id_[:128]}' for this subscription.")
    return found


def as_documents(billing: Billing, invoices: list[Invoice]) -> list[Invoice]:
    """Invoices as shown: a draft is addressed to its organization's current profile, from the
    deployment's issuer (an issued or void one keeps what it was issued with). One profile read
    per organization."""
    profiles: dict[str, BillingProfile | None] = {}

    def shown(invoice: Invoice) -> Invoice:
        if not invoice.is_draft:
            return invoice
        if invoice.organization_id not in profiles:
            profiles[invoice.organization_id] = billing.invoices.billing_profile(invoice.organization_id)
        return invoice.addressed(profiles[invoice.organization_id], billing.issuer())

    return [shown(invoice) for invoice in invoices]


def all_credit_notes(billing: Billing, invoice: Invoice) -> list[CreditNote]:
    """Every note of the invoice, oldest first (what its document lists)."""
    notes: list[CreditNote] = []
    cursor = None
    while True:
        page = billing.invoices.credit_notes_page(
            invoice.subscription_id, invoice.invoice_id, limit=MAX_PAGE_SIZE, cursor=cursor
        )
        notes += page.items
        if page.next_cursor is None:
            return notes[::-1]
        cursor = page.next_cursor
