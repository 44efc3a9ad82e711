"""Usage corrections (API.md "Corrections: void and amend"): a wrong event is voided, or amended
(voided and replaced by a new event), with the credits it drew given back exactly to the grants
that paid them.

A correction is one credit write (credit_write.py): its change gives the event's shares back (a
`reversal` entry; a share whose grant has ended since ends again at once), charges an amend's new
quantity (usage recorded now: the open period's), and commits through the usage store with the
event marked voided, the aggregates of its day and period taking it back out, its UsageVoided
event, and, when its period has a draft, that draft composed again without it (conditioned on
still being the draft read: an issue racing the correction makes it retry, and then it is 409
`period_invoiced`)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..domain.access import Caller, Permission, Role, require_residency
from ..domain.credits import CreditPosting, charge
from ..domain.errors import Conflict, NotFound
from ..domain.events import outbox_event
from ..domain.idempotency import IdempotencyKey, fingerprint, scope_key
from ..domain.ids import new_id
from ..domain.invoices import Invoice
from ..domain.ledger import GrantAllocation, shares_of
from ..domain.periods import Period
from ..domain.usage import Guardrail, PeriodUsage, UsageEvent, UsageMetadata, price, unknown_service
from ..domain.values import PositiveDecimal, format_decimal
from ..store.writes import correction_write
from .credit_write import CreditWrite, Idempotency, credit_write, drafted
from .credits import Reason
from .ledger import Pause
from .unit_of_work import Billing

_SERVICE_ROLE = frozenset({Role.SERVICE})


class VoidUsageRequest(BaseModel):
    """`POST /usage/{event_id}/void`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: Reason
    idempotency_key: IdempotencyKey


class AmendUsageRequest(BaseModel):
    """`POST /usage/{event_id}/amend`: the quantity it should have had (guardrail and metadata: the
    old event's unless given)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    quantity: PositiveDecimal
    reason: Reason
    idempotency_key: IdempotencyKey
    guardrail: Guardrail | None = None
    metadata: UsageMetadata | None = None


class PeriodInvoiced(Conflict):
    code = "period_invoiced"


class EventVoided(Conflict):
    code = "event_voided"


def void_usage(
    billing: Billing, caller: Caller, event: UsageEvent, request: VoidUsageRequest, *, pause: Pause = time.sleep
) -> tuple[UsageEvent, bool]:
    """The event (as `correctable_event` found it) voided: 200; already voided: as it is, nothing
    written. Returns (event, replayed)."""
    event_id = event.event_id

    def change(write: CreditWrite) -> UsageEvent:
        current = _still(billing, event_id)
        if current.is_voided:
            write.discard()  # voiding again changes nothing
            return current
        voided, _ = _correct(billing, write, current, request.reason)
        return voided

    return _correction(billing, caller, event, "usage-void", request, change, pause=pause)


def amend_usage(
    billing: Billing, caller: Caller, event: UsageEvent, request: AmendUsageRequest, *, pause: Pause = time.sleep
) -> tuple[UsageEvent, bool]:
    """The new event (201) for the event `correctable_event` found, that one voided with
    `replaced_by`, in one write. Returns (event, replayed)."""
    event_id = event.event_id

    def change(write: CreditWrite) -> UsageEvent:
        current = _still(billing, event_id)
        if current.is_voided:
            raise EventVoided(
                f"Usage event '{event_id}' is voided; it cannot be amended.",
                details={"replaced_by": current.replaced_by},
            )
        _, new = _correct(billing, write, current, request.reason, amend=request)
        return new

    return _correction(
        billing,
        caller,
        event,
        "usage-amend",
        request,
        change,
        active_only="The subscription is canceled; its usage can be voided, not amended.",
        pause=pause,
    )


def _correction(
    billing: Billing,
    caller: Caller,
    event: UsageEvent,
    scope: str,
    request: VoidUsageRequest | AmendUsageRequest,
    change,
    *,
    active_only: str | None = None,
    pause: Pause,
) -> tuple[UsageEvent, bool]:
    """One correction's credit write on the event's subscription, under the request's key (scoped
    to the event, so one key can correct two events)."""
    idempotency = Idempotency(
        scope_key(scope, event.event_id, request.idempotency_key), fingerprint(request, event.event_id), UsageEvent
    )
    return credit_write(
        billing,
        change,
        read=lambda: billing.subscriptions.get(event.subscription_id),
        actor=caller.principal,
        idempotency=idempotency,
        active_only=active_only,
        pause=pause,
    )


def correctable_event(billing: Billing, caller: Caller, event_id: str) -> UsageEvent:
    """The event a correction names, if the caller may correct it: an organization's own users
    get 403 (they read usage, they do not correct it), any other organization's event is the very
    404 of an unknown one; finance and staff need the subscription's residency."""
    hidden = NotFound(f"No usage event '{event_id[:128]}'.")
    event = billing.usage.event(event_id)
    if event is None:
        raise hidden
    caller.authorize_for(Permission.CORRECT_USAGE, event.organization_id, hidden_as=hidden)
    if not caller.holds(_SERVICE_ROLE):
        require_residency(caller, billing.subscriptions.get(event.subscription_id).residency)
    return event


def _still(billing: Billing, event_id: str) -> UsageEvent:
    """The event as stored now (each attempt reads it again: a concurrent void may have won)."""
    current = billing.usage.event(event_id)
    if current is None:  # events are never deleted
        raise NotFound(f"No usage event '{event_id[:128]}'.")
    return current


def _correct(
    billing: Billing,
    write: CreditWrite,
    event: UsageEvent,
    reason: str,
    *,
    amend: AmendUsageRequest | None = None,
) -> tuple[UsageEvent, UsageEvent | None]:
    """The change of a correction: the event's shares given back, an amend's new event charged,
    the event voided and its period's draft following, committed in one transaction. Returns
    (the voided event, the new one)."""
    subscription, book, now = write.subscription, write.book, write.now
    period = subscription.period_starting(event.period_start)
    invoice = billing.invoices.latest_for_period(subscription.subscription_id, period.start)
    if invoice is not None and invoice.status == "issued":
        raise PeriodInvoiced(
            f"The period of usage event '{event.event_id}' is invoiced ({invoice.number}); "
            "correct it with a credit note.",
            details={"invoice_id": invoice.invoice_id, "number": invoice.number},
        )
    shares = _shares(billing, event)
    live = {g.grant_id for g in book.grants}
    records = {
        s.grant_id: billing.subscriptions.grant(subscription, s.grant_id) for s in shares if s.grant_id not in live
    }
    if shares:  # an event all overage drew nothing: no credits go back, no entry (its overage leaves the period)
        book.give_back(shares, records, reference=f"usage:{event.event_id}", reason=f"Usage voided: {reason}")
    new = _charged_replacement(write, event, amend) if amend is not None else None
    changes: dict[str, Any] = {"status": "voided", "voided_at": now, "void_reason": reason}
    if new is not None:
        changes["replaced_by"] = new.event_id
    voided = event.model_copy(update=changes)
    draft = None
    if invoice is not None and invoice.status == "draft":
        # The new event is the open period's (recorded now): it joins this draft only when the
        # event it replaces was of the open period too.
        putting_in = new if new is not None and new.period_start == period.start else None
        draft = (_redrafted(billing, write, period, invoice, taking_out=voided, putting_in=putting_in), invoice)

    def through(posting: CreditPosting) -> None:
        posting = posting.reporting(
            outbox_event("UsageVoided", posting.subscription, occurred_at=now, usage_event=voided)
        )
        result = new if new is not None else voided
        replacement = (new, subscription.current_period) if new is not None else None
        billing.usage.correct(
            correction_write(posting, event, changes, period, replacement, draft), write.record_for(result)
        )

    write.commit(through=through)
    return voided, new


def _shares(billing: Billing, event: UsageEvent) -> list[GrantAllocation]:
    """What each grant paid of the event, from its chunk's usage entry (see ledger.shares_of)."""
    if event.debited_credits == 0:
        return []
    entry = billing.subscriptions.ledger_entry(event.subscription_id, event.ledger_seq)
    return shares_of(entry, event.balance_after, event.debited_credits)


def _charged_replacement(write: CreditWrite, old: UsageEvent, request: AmendUsageRequest) -> UsageEvent:
    """The amend's new event: usage recorded now, so, like any late event, billed in the open
    period (docs/decisions.md): priced at the subscription's plan version, charged once the old
    one's credits are back (under its overage policy: a `block` plan that cannot cover it is 402,
    nothing written), counted in the open period's aggregate. It keeps the old one's service, unit,
    source and occurred_at (the daily chart shows it on its day); its usage entry follows the reversal."""
    book, plan = write.book, write.plan
    rate = plan.usage_rates.get(old.service)
    if rate is None:
        raise unknown_service(plan, old.service)
    credits = price(request.quantity, rate)
    overage = charge(book, plan, credits)
    event = UsageEvent(
        event_id=new_id(write.now),
        subscription_id=old.subscription_id,
        organization_id=old.organization_id,
        service=old.service,
        quantity=request.quantity,
        unit=old.unit,
        credits=credits,
        debited_credits=credits - overage,
        overage_credits=overage,
        balance_after=book.balance,
        guardrail=request.guardrail if request.guardrail is not None else old.guardrail,
        source=old.source,
        metadata=request.metadata if request.metadata is not None else old.metadata,
        # Keyed apart from every producer's key (a key a request sends has no spaces): an event is
        # amended once, so its replacement's key is taken once.
        idempotency_key=f"amend of {old.event_id}",
        occurred_at=old.occurred_at,
        recorded_at=write.now,
        period_start=write.subscription.current_period_start,
        ledger_seq=book.seq + 1,
        replaces=old.event_id,
    )
    book.post_draws(
        "usage",
        reference=f"usage:{event.event_id}",
        reason=f"Usage of {old.service} ({format_decimal(request.quantity)}), amending {old.event_id}",
        overage=overage,
    )
    return event


def _redrafted(
    billing: Billing,
    write: CreditWrite,
    period: Period,
    draft: Invoice,
    *,
    taking_out: UsageEvent,
    putting_in: UsageEvent | None,
) -> Invoice:
    """The period's draft composed again as the correction leaves its aggregate and its grants,
    at the plan version it was composed at."""
    correcting = [PeriodUsage.of([taking_out]).negated(), *([PeriodUsage.of([putting_in])] if putting_in else [])]
    plan = billing.plans.version(draft.plan_id, draft.plan_version)
    return drafted(
        billing,
        write.subscription,
        plan,
        period,
        now=write.now,
        previous=draft,
        correcting=tuple(correcting),
        book=write.book,  # as this write leaves it: the share given back to the allowance included
    )
