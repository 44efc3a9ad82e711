"""Entitlement checks and credit holds: a workload asks before it starts (`POST
/entitlements/check`, writing nothing) and reserves what a long run will cost (`POST /holds`);
at the end it settles (one usage charge the hold guarantees) or releases; a hold left alone
expires. Every change is one CreditPosting under the subscription's revision."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from ..domain.access import Caller, Permission
from ..domain.errors import Conflict, NotFound, ValidationFailed
from ..domain.hold_records import Hold
from ..domain.holds import DEFAULT_HOLD_SECONDS, HoldNotActive, HoldStatus, new_hold_id, subscription_of
from ..domain.idempotency import fingerprint, scope_key
from ..domain.paging import Page
from ..domain.plans import Plan, ServiceName
from ..domain.subscriptions import CreditPosting, OrganizationId, Subscription
from ..domain.usage import (
    Guardrail,
    IdempotencyKey,
    MetadataValue,
    UsageEvent,
    UsageRequest,
    UsageSource,
    insufficient_credits,
    price,
    unknown_service,
)
from ..domain.values import MAGNITUDE_LIMIT, Credits, PositiveDecimal, UtcTimestamp, WholeNumber
from .ledger import Pause, RecordFor, run_idempotently, with_retries
from .periods import closed_up_to, period_due
from .subscriptions import subscription_for
from .unit_of_work import Billing
from .usage import UsageRecorder

MetadataKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(default_factory=dict, max_length=16)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class EntitlementRequest(_Strict):
    organization_id: OrganizationId
    service: ServiceName
    quantity: PositiveDecimal


class Entitlement(BaseModel):
    model_config = ConfigDict(defer_build=True)

    allowed: bool
    reason: Literal["no_active_subscription", "unknown_service", "insufficient_credits"] | None
    subscription_id: str | None
    credits_required: Credits | None
    available_credits: Credits | None
    overage_policy: Literal["allow", "block"] | None


class HoldRequest(_Strict):
    """`POST /holds`."""

    organization_id: OrganizationId
    service: ServiceName
    quantity: PositiveDecimal
    idempotency_key: IdempotencyKey
    expires_in_seconds: Annotated[WholeNumber, Ge(60), Le(604_800)] = DEFAULT_HOLD_SECONDS
    source: UsageSource | None = None
    metadata: Metadata


class SettleRequest(_Strict):
    """`POST /holds/{id}/settle`: the usage the hold pays for (default: the quantity held)."""

    idempotency_key: IdempotencyKey
    quantity: PositiveDecimal | None = None
    occurred_at: UtcTimestamp | None = None
    guardrail: Guardrail = Field(default_factory=Guardrail)
    metadata: Metadata


# --- entitlement checks ------------------------------------------------------------------------


def check_entitlement(billing: Billing, caller: Caller, request: EntitlementRequest) -> Entitlement:
    """What `POST /usage` with this body would do now, reading only the organization's guard and
    subscription (the plan version is immutable, so a warm container has it)."""
    caller.authorize(Permission.RECORD_USAGE)
    subscription = billing.subscriptions.active_for(request.organization_id)
    if subscription is None:
        return Entitlement(
            allowed=False,
            reason="no_active_subscription",
            subscription_id=None,
            credits_required=None,
            available_credits=None,
            overage_policy=None,
        )
    plan = billing.plans.version(subscription.plan_id, subscription.plan_version)
    answer = {"subscription_id": subscription.subscription_id, "overage_policy": plan.overage_policy}
    rate = plan.usage_rates.get(request.service)
    if rate is None:
        return Entitlement(
            allowed=False, reason="unknown_service", credits_required=None, available_credits=None, **answer
        )
    credits = price(request.quantity, rate)
    spendable = _spendable(subscription, plan, billing.now())
    allowed = plan.overage_policy == "allow" or credits <= spendable
    return Entitlement(
        allowed=allowed,
        reason=None if allowed else "insufficient_credits",
        credits_required=credits,
        available_credits=spendable,
        **answer,
    )


def _spendable(subscription: Subscription, plan: Plan, now: datetime) -> Decimal:
    """The credits a charge could draw now. A period that has ended would be closed first: its
    allowance gone, the next one granted."""
    book = subscription.book(now, "entitlement-check")
    due = period_due(subscription, now)
    book.expire_due(also=lambda grant: due and grant.kind == "allowance")
    next_allowance = plan.credit_allowance if due and subscription.is_active else 0
    return max(book.available() + next_allowance - book.held, Decimal(0))


# --- holds -------------------------------------------------------------------------------------


def place_hold(
    billing: Billing, caller: Caller, request: HoldRequest, *, pause: Pause = time.sleep
) -> tuple[Hold, bool]:
    """Reserve the run's credits. On a `block` plan a hold larger than the available credits is
    402 and writes nothing; on an `allow` plan it is placed (what it lacks is overage at settlement)."""
    caller.authorize(Permission.RECORD_USAGE)
    now = billing.now()

    def attempt(record_for: RecordFor) -> Hold:
        found = billing.subscriptions.active_for(request.organization_id)
        if found is None:
            raise Conflict(
                f"Organization '{request.organization_id}' has no active subscription.", code="no_active_subscription"
            )
        current = closed_up_to(billing, found, now, pause=pause)
        plan = billing.plans.version(current.plan_id, current.plan_version)
        rate = plan.usage_rates.get(request.service)
        if rate is None:
            raise unknown_service(plan, request.service)
        credits = price(request.quantity, rate)
        book = current.book(now, caller.principal)
        book.expire_due()
        expires_at = now + timedelta(seconds=request.expires_in_seconds)
        if book.held + credits >= MAGNITUDE_LIMIT:
            raise ValidationFailed.of("quantity", "would hold 10^12 credits or more on this subscription at once")
        # On a `block` plan a hold counts only credits that outlive it: else an expiring grant
        # would leave it unbacked and the settlement billed as overage the plan forbids.
        backing = book.availability(until=expires_at, allowance_renews=current.is_active)
        if plan.overage_policy != "allow" and credits > backing.available:
            raise insufficient_credits(credits, backing)
        hold = Hold(
            hold_id=new_hold_id(current.subscription_id, now),
            subscription_id=current.subscription_id,
            organization_id=request.organization_id,
            service=request.service,
            quantity=request.quantity,
            credits=credits,
            expires_at=expires_at,
            created_at=now,
            source=request.source,
            metadata=request.metadata,
        )
        book.place(hold)
        billing.subscriptions.append(
            CreditPosting.of(current, current.after(book), book), idempotency=record_for(hold), require_active=True
        )
        return hold

    return run_idempotently(
        billing.subscriptions,
        scope=scope_key("holds", request.organization_id, request.idempotency_key),
        fingerprint=fingerprint(request),
        result_type=Hold,
        attempt=attempt,
        now=now,
        pause=pause,
    )


def settle_hold(
    billing: Billing, caller: Caller, hold_id: str, request: SettleRequest, *, pause: Pause = time.sleep
) -> tuple[UsageEvent, bool]:
    """One usage charge, as `POST /usage` would make it except that the hold's credits are
    guaranteed to it; the rest of the hold is released in the same transaction. Returns (event, replayed)."""
    caller.authorize(Permission.RECORD_USAGE)
    hold = _hold(billing, caller, hold_id)
    ended = hold.as_of(billing.now()).status != "held"
    if ended and not billing.usage.find_events([(hold.organization_id, request.idempotency_key)]):
        # Not a replay of this settle: say what the hold is, before what its subscription is.
        raise HoldNotActive(f"Hold '{hold_id}' is {hold.as_of(billing.now()).status}; only a held hold is settled.")
    usage = UsageRequest(
        organization_id=hold.organization_id,
        service=hold.service,
        quantity=request.quantity or hold.quantity,
        idempotency_key=request.idempotency_key,
        occurred_at=request.occurred_at,
        source=hold.source,
        guardrail=request.guardrail,
        metadata=request.metadata,
    )
    [outcome] = UsageRecorder(billing, caller, pause=pause, settling=hold_id).record([usage])
    if outcome.status == "rejected":
        raise outcome.error
    return outcome.event, outcome.status == "duplicate"


def release_hold(billing: Billing, caller: Caller, hold_id: str, *, pause: Pause = time.sleep) -> Hold:
    """Nothing charged; the credits are available again. A hold no longer held is 409."""
    caller.authorize(Permission.RECORD_USAGE)
    hold = _hold(billing, caller, hold_id)
    now = billing.now()

    def attempt() -> Hold:
        current = billing.subscriptions.get(hold.subscription_id)
        book = current.book(now, caller.principal)
        book.expire_due()
        book.end_hold(hold_id, "released")
        billing.subscriptions.append(CreditPosting.of(current, current.after(book), book), idempotency=None)
        return hold.model_copy(update={"status": "released", "ended_at": now})

    return with_retries(attempt, pause=pause)


def get_hold(billing: Billing, caller: Caller, hold_id: str) -> Hold:
    return _hold(billing, caller, hold_id).as_of(billing.now())


def list_holds(
    billing: Billing, caller: Caller, subscription_id: str, *, status: HoldStatus | None, limit: int, cursor: str | None
) -> Page[Hold]:
    """Newest first. A held hold past its expiry is listed as expired (it is, whether or not a
    change has written it off yet), and found under `status=expired`."""
    _readable(billing, caller, subscription_id)
    now = billing.now()
    page = billing.subscriptions.holds_page(subscription_id, limit=limit, cursor=cursor)
    holds = [hold.as_of(now) for hold in page.items]
    return Page(items=[h for h in holds if status is None or h.status == status], next_cursor=page.next_cursor)


def _hold(billing: Billing, caller: Caller, hold_id: str) -> Hold:
    subscription_id = subscription_of(hold_id)
    _readable(billing, caller, subscription_id, missing=f"No hold '{hold_id[:128]}'.")
    hold = billing.subscriptions.hold(subscription_id, hold_id)
    if hold is None:
        raise NotFound(f"No hold '{hold_id[:128]}'.")
    return hold


def _readable(billing: Billing, caller: Caller, subscription_id: str, *, missing: str | None = None) -> Subscription:
    """Services (and admins) reach any organization's holds; organization users their own."""
    try:
        if caller.holds(Permission.RECORD_USAGE.any_organization):
            subscription = billing.subscriptions.get(subscription_id)
            if subscription is None:
                raise NotFound(f"No subscription '{subscription_id[:128]}'.")
            return subscription
        return subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    except NotFound:
        raise NotFound(missing or f"No subscription '{subscription_id[:128]}'.") from None
