"""Events out: what other systems react to, published on the billing events bus.

An event is an outbox record written in the same transaction as the change it reports (invariant
11), so there is no event for a change that did not commit and none lost for one that did; the
outbox publisher puts it on the bus at least once, always under the same `event_id` (consumers
dedupe on it). Constructors here decide what each event says; the stores write them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from .ids import IdSequence
from .values import UtcTimestamp, format_decimal, format_timestamp

if TYPE_CHECKING:
    from .credit_notes import CreditNote
    from .grants import CreditBook
    from .invoices import Invoice
    from .subscriptions import Subscription

EVENT_SOURCE = "marketplace.billing"
# Event ids have a sequence of their own: an event is often minted at another moment than the
# resource ids of the same request (a period's whole second), and must not break their order.
_event_ids = IdSequence()
DetailType = Literal[
    "CreditBalanceLow",
    "CreditsDepleted",
    "CreditsToppedUp",
    "InvoiceDrafted",
    "InvoiceIssued",
    "InvoiceVoided",
    "HoldExpired",
    "SubscriptionCanceled",
    "CreditNoteIssued",
]
# A write's events, however many, are one outbox item (store/dynamodb_outbox.py).
OUTBOX_ITEMS = 1


class OutboxEvent(BaseModel):
    """One event as the outbox holds it; `detail` is the resource it reports, as the API shows it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    event_id: str
    detail_type: DetailType
    subscription_id: str
    organization_id: str
    occurred_at: UtcTimestamp
    detail: dict[str, Any]

    def document(self) -> dict[str, Any]:
        """The EventBridge `detail`: the stable id and who it is about, then the resource."""
        return {
            "event_id": self.event_id,
            "subscription_id": self.subscription_id,
            "organization_id": self.organization_id,
            "occurred_at": format_timestamp(self.occurred_at),
            **self.detail,
        }


def outbox_event(
    detail_type: DetailType, about: Subscription, /, *, occurred_at: datetime, **resource: Any
) -> OutboxEvent:
    """An event about a subscription; each keyword is a part of the detail (a model is shown as the
    API shows it). The id is minted here, once: a retried write builds a new event for its new
    attempt, and only the attempt that commits is ever published."""
    return OutboxEvent(
        event_id=_event_ids.new_id(occurred_at),
        detail_type=detail_type,
        subscription_id=about.subscription_id,
        organization_id=about.organization_id,
        occurred_at=occurred_at,
        detail={
            name: part.model_dump(mode="json") if isinstance(part, BaseModel) else part
            for name, part in resource.items()
        },
    )


def credit_events(
    before: Subscription, after: Subscription, book: CreditBook, *, at: datetime
) -> tuple[tuple[OutboxEvent, ...], bool]:
    """What a credit write reports, and whether the low-balance alert stands after it.

    One `HoldExpired` per hold the write found past its expiry, one `CreditsToppedUp` per `top_up`
    entry. The balance events compare the balance before and after the whole write, so a period
    close that expires the allowance and grants the next one says nothing, and an alert is raised
    once per crossing: `low_balance_alerted` is set when the balance falls below the threshold and
    cleared once it is back at or above it (a write with no ledger entry, such as placing a hold,
    moves no balance and decides nothing). A canceled subscription takes no more usage: its
    write-offs raise no alerts."""
    entries = book.entries
    held = {hold.hold_id: hold for hold in before.holds}
    expired = [
        outbox_event(
            "HoldExpired",
            after,
            occurred_at=at,
            hold=held[end.hold_id].model_dump(mode="json")
            | {"status": "expired", "ended_at": format_timestamp(end.at)},
        )
        for end in book.holds_ended
        if end.status == "expired" and end.hold_id in held
    ]
    top_ups = [
        outbox_event("CreditsToppedUp", after, occurred_at=at, ledger_entry=entry)
        for entry in entries
        if entry.type == "top_up"
    ]
    threshold = after.low_balance_threshold(_allowance(after) or _allowance(before))
    balance, previous = after.credit_balance, before.credit_balance
    alerted = before.low_balance_alerted and balance < threshold
    crossings: list[OutboxEvent] = []
    if after.is_active and entries:
        last = entries[-1]
        if balance < threshold and not before.low_balance_alerted:
            alerted = True
            crossings.append(
                outbox_event(
                    "CreditBalanceLow",
                    after,
                    occurred_at=at,
                    credit_balance=format_decimal(balance),
                    threshold_credits=format_decimal(threshold),
                    ledger_entry=last,
                )
            )
        if balance <= 0 < previous:
            crossings.append(
                outbox_event("CreditsDepleted", after, occurred_at=at, credit_balance="0", ledger_entry=last)
            )
    return (*expired, *crossings, *top_ups), alerted


def _allowance(subscription: Subscription) -> Decimal:
    """The period allowance, for the default threshold (10% of it)."""
    return next((g.amount for g in subscription.grants if g.kind == "allowance"), Decimal(0))


def invoice_event(detail_type: DetailType, invoice: Invoice, *, at: datetime) -> OutboxEvent:
    """InvoiceDrafted / InvoiceIssued / InvoiceVoided, with the invoice as it was written."""
    return OutboxEvent(
        event_id=_event_ids.new_id(at),
        detail_type=detail_type,
        subscription_id=invoice.subscription_id,
        organization_id=invoice.organization_id,
        occurred_at=at,
        detail={"invoice": invoice.model_dump(mode="json")},
    )


def credit_note_issued(note: CreditNote) -> OutboxEvent:
    """CreditNoteIssued, with the note as written (its invoice and lines)."""
    return OutboxEvent(
        event_id=_event_ids.new_id(note.created_at),
        detail_type="CreditNoteIssued",
        subscription_id=note.subscription_id,
        organization_id=note.organization_id,
        occurred_at=note.created_at,
        detail={"credit_note": note.model_dump(mode="json")},
    )


def subscription_canceled(subscription: Subscription) -> OutboxEvent:
    return outbox_event(
        "SubscriptionCanceled", subscription, occurred_at=subscription.canceled_at, subscription=subscription
    )
