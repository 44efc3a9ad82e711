"""Events out: what other systems react to, published on the billing events bus.

An event is an outbox record written in the same transaction as the change it reports (invariant
11), so there is no event for a change that did not commit and none lost for one that did; the
outbox publisher puts it on the bus at least once, always under the same `event_id` (consumers
dedupe on it). Constructors here decide what each event says; the stores write them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from .ids import IdSequence
from .values import UtcTimestamp, format_timestamp

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
    "SubscriptionPlanChanged",
    "CreditNoteIssued",
    "UsageVoided",
]
# A write's events, however many, are one outbox item (store/dynamodb_outbox.py).
OUTBOX_ITEMS = 1


class Subject(Protocol):
    """Whom an event is about: a subscription, or one of its resources."""

    @property
    def subscription_id(self) -> str: ...

    @property
    def organization_id(self) -> str: ...


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


def outbox_event(detail_type: DetailType, about: Subject, /, *, occurred_at: datetime, **resource: Any) -> OutboxEvent:
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
