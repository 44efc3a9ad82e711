"""Credit notes: correcting an issued invoice (finance and marketplace staff of its residency), and
listing them per invoice and across organizations (exporting them as files: invoice_reading.py)."""

from __future__ import annotations

import time

from ..domain.access import Caller, Permission, require_residency
from ..domain.credit_notes import (
    CreditNote,
    CreditNoteFilters,
    CreditNoteRequest,
    compose_credit_note,
    credit_note_order,
)
from ..domain.credits import CreditPosting, add_sold
from ..domain.grants import PROMOTIONAL_PRIORITY, CreditGrant
from ..domain.idempotency import fingerprint, scope_key
from ..domain.ids import new_id
from ..domain.paging import Page
from ..domain.subscriptions import Subscription
from .credit_write import CreditWrite, Idempotency, NoActiveSubscription, credit_write, staff_grant
from .invoice_reading import invoice_of
from .invoices import invoice_for_finance
from .ledger import Pause, RecordFor, run_idempotently
from .reading import across_residencies, subscription_for
from .unit_of_work import Billing


def issue_credit_note(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    invoice_id: str,
    request: CreditNoteRequest,
    *,
    pause: Pause = time.sleep,
) -> tuple[CreditNote, bool]:
    """Give back part of an issued invoice's lines, with the next gapless CN number, in one write
    that may also grant promotional credits. Returns (note, replayed)."""
    subscription, _ = invoice_for_finance(billing, caller, subscription_id, invoice_id)
    now = billing.now()
    keyed = Idempotency(
        scope_key("credit-notes", invoice_id, request.idempotency_key),
        fingerprint(request, subscription_id, invoice_id),
        CreditNote,
    )

    def attempt(record_for: RecordFor, grant: CreditWrite | None = None) -> CreditNote:
        """The note for the invoice as read, under the next number, written with the credits
        `grant` adds (committed through the note's write: one transaction)."""
        invoice = invoice_of(billing, subscription_id, invoice_id)
        number, counter = billing.invoices.next_credit_note_number()
        note = compose_credit_note(
            invoice, request, number=number, credit_note_id=new_id(now), residency=subscription.residency, now=now
        )
        if grant is not None:
            note = note.model_copy(update={"grant_id": promotional_grant(grant, caller, note).grant_id})

        def issue(posting: CreditPosting | None) -> None:
            billing.invoices.issue_credit_note(
                note, invoice, counter=counter, posting=posting, idempotency=record_for(note)
            )

        if grant is None:
            issue(None)
        else:
            grant.commit(note, through=issue)
        return note

    if request.grant_credits is None:
        return run_idempotently(
            billing.subscriptions,
            scope=keyed.scope,
            fingerprint=keyed.fingerprint,
            result_type=CreditNote,
            attempt=attempt,
            now=now,
            pause=pause,
        )

    def granted_to() -> Subscription:
        """The organization's active subscription (of the caller's residency), which takes the credits."""
        active = billing.subscriptions.active_for(subscription.organization_id)
        if active is None:
            raise NoActiveSubscription(NO_SUBSCRIPTION)
        require_residency(caller, active.residency)
        return active

    return credit_write(
        billing,
        lambda write: attempt(write.record_for, write),
        read=granted_to,
        actor=caller.principal,
        idempotency=keyed,
        active_only=NO_SUBSCRIPTION,
        now=now,
        pause=pause,
    )


NO_SUBSCRIPTION = "The organization has no active subscription to grant credits to."


def promotional_grant(write: CreditWrite, caller: Caller, note: CreditNote) -> CreditGrant:
    """The credits a note grants, in the credit write that commits with it: a promotional grant
    (free, no expiry) whose ledger entry references the note."""
    grant = staff_grant(
        write,
        caller,
        "promotional",
        note.credits_granted,
        0,
        PROMOTIONAL_PRIORITY,
        f"Credit note {note.number}: {note.reason}"[:500],
    )
    add_sold(write.book, write.plan, grant, entry_type="grant", reference=f"credit_note:{note.credit_note_id}")
    return grant


def list_credit_notes(
    billing: Billing, caller: Caller, subscription_id: str, invoice_id: str, *, limit: int, cursor: str | None
) -> Page[CreditNote]:
    """An invoice's notes, newest first: for the organization's users, finance and staff."""
    subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    invoice_of(billing, subscription_id, invoice_id)
    return billing.invoices.credit_notes_page(subscription_id, invoice_id, limit=limit, cursor=cursor)


def search_credit_notes(
    billing: Billing,
    caller: Caller,
    filters: CreditNoteFilters,
    *,
    residency: str | None,
    limit: int,
    cursor: str | None,
) -> Page[CreditNote]:
    """Finance's list across organizations, newest first: the query's residency, or every
    residency served, merged (as finance's other lists)."""
    caller.authorize(Permission.LIST_ACROSS_ORGANIZATIONS)
    return across_residencies(
        billing,
        "credit-notes",
        billing.invoices.residency_credit_notes_page,
        credit_note_order,
        filters,
        residency=residency,
        limit=limit,
        cursor=cursor,
    )
