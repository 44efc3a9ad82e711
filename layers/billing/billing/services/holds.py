"""Entitlement checks and credit holds: a workload asks before it starts (`POST
/entitlements/check`, writing nothing) and reserves what a long run will cost (`POST /holds`);
at the end it settles (one usage charge the hold guarantees) or releases; a hold left alone
expires. Every change is one credit write (credit_write.py)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from ..domain.access import Caller, Permission
from ..domain.credits import as_of, charge_terms, hold_terms, rolled_forward
from ..domain.errors import Conflict, NotFound, ValidationFailed
from ..domain.hold_records import Hold
from ..domain.holds import DEFAULT_HOLD_SECONDS, HoldNotActive, HoldStatus, new_hold_id, subscription_of
from ..domain.idempotency import IdempotencyKey, fingerprint, scope_key
from ..domain.ids import OrganizationId
from ..domain.paging import Page, list_binding, not_a_cursor, open_cursor, seal_cursor
from ..domain.plans import ServiceName
from ..domain.subscriptions import Subscription
from ..domain.usage import (
    Guardrail,
    MetadataValue,
    UsageEvent,
    UsageRequest,
    UsageSource,
    insufficient_credits,
    price,
    unknown_service,
)
from ..domain.values import MAGNITUDE_LIMIT, Credits, PositiveDecimal, UtcTimestamp, WholeNumber
from .credit_write import CreditWrite, Idempotency, credit_write
from .ledger import Pause
from .reading import subscription_for
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
    # The subscription a charge now would find (ended periods closed, a pending plan change taking
    # effect), the book it would draw from (expiries written off), and the charge's own decision on
    # it: what POST /usage decides, without writing.
    now = billing.now()
    subscription = rolled_forward(subscription, billing.plans.version, now, caller.principal)
    book = as_of(subscription, billing.plans.version, now, caller.principal)
    plan = billing.plans.version(subscription.plan_id, subscription.plan_version)
    answer = {"subscription_id": subscription.subscription_id, "overage_policy": plan.overage_policy}
    rate = plan.usage_rates.get(request.service)
    if rate is None:
        return Entitlement(
            allowed=False, reason="unknown_service", credits_required=None, available_credits=None, **answer
        )
    terms = charge_terms(book, plan, price(request.quantity, rate))
    return Entitlement(
        allowed=not terms.refused,
        reason="insufficient_credits" if terms.refused else None,
        credits_required=terms.credits,
        available_credits=terms.spendable,
        **answer,
    )


# --- holds -------------------------------------------------------------------------------------


def place_hold(
    billing: Billing, caller: Caller, request: HoldRequest, *, pause: Pause = time.sleep
) -> tuple[Hold, bool]:
    """Reserve the run's credits. On a `block` plan a hold larger than the available credits is
    402 and writes nothing; on an `allow` plan it is placed (what it lacks is overage at settlement)."""
    caller.authorize(Permission.RECORD_USAGE)
    organization_id = request.organization_id

    def active() -> Subscription:
        found = billing.subscriptions.active_for(organization_id)
        if found is None:
            raise Conflict(
                f"Organization '{organization_id}' has no active subscription.", code="no_active_subscription"
            )
        return found

    def change(write: CreditWrite) -> Hold:
        plan, book, current = write.plan, write.book, write.subscription
        rate = plan.usage_rates.get(request.service)
        if rate is None:
            raise unknown_service(plan, request.service)
        credits = price(request.quantity, rate)
        expires_at = write.now + timedelta(seconds=request.expires_in_seconds)
        if book.held + credits >= MAGNITUDE_LIMIT:
            raise ValidationFailed.of("quantity", "would hold 10^12 credits or more on this subscription at once")
        terms = hold_terms(book, current, plan, billing.plans.version, credits, until=expires_at)
        if terms.refused:
            raise insufficient_credits(credits, terms.availability)
        hold = Hold(
            hold_id=new_hold_id(current.subscription_id, write.now),
            subscription_id=current.subscription_id,
            organization_id=organization_id,
            service=request.service,
            quantity=request.quantity,
            credits=credits,
            expires_at=expires_at,
            created_at=write.now,
            source=request.source,
            metadata=request.metadata,
            plan_id=plan.plan_id,
            plan_version=plan.version,
        )
        book.place(hold)
        return hold

    return credit_write(
        billing,
        change,
        read=active,
        actor=caller.principal,
        idempotency=Idempotency(
            scope_key("holds", organization_id, request.idempotency_key), fingerprint(request), Hold
        ),
        active_only=f"Organization '{organization_id}' has no active subscription.",
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
    # A hold settles at the rates of the plan version it was placed under (a plan change may have come since).
    placed_under = billing.plans.version(hold.plan_id, hold.plan_version) if hold.plan_version else None
    recorder = UsageRecorder(
        billing, caller, pause=pause, settling=hold_id, settled_at=placed_under, held_quantity=hold.quantity
    )
    [outcome] = recorder.record([usage])
    if outcome.status == "rejected":
        raise outcome.error
    return outcome.event, outcome.status == "duplicate"


def release_hold(billing: Billing, caller: Caller, hold_id: str, *, pause: Pause = time.sleep) -> Hold:
    """Nothing charged; the credits are available again. A hold no longer held is 409."""
    caller.authorize(Permission.RECORD_USAGE)
    hold = _hold(billing, caller, hold_id)

    def change(write: CreditWrite) -> Hold:
        write.book.end_hold(hold_id, "released")
        return hold.model_copy(update={"status": "released", "ended_at": write.now})

    released, _ = credit_write(
        billing,
        change,
        read=lambda: billing.subscriptions.get(hold.subscription_id),
        actor=caller.principal,
        close_ended_periods=False,  # a release moves no credits: it lands in no period
        pause=pause,
    )
    return released


def get_hold(billing: Billing, caller: Caller, hold_id: str) -> Hold:
    return _hold(billing, caller, hold_id).as_of(billing.now())


def list_holds(
    billing: Billing, caller: Caller, subscription_id: str, *, status: HoldStatus | None, limit: int, cursor: str | None
) -> Page[Hold]:
    """Newest first. A held hold past its expiry is listed as expired (it is, whether or not a
    change has written it off yet), and found under `status=expired`: so the status is decided
    here, as the records are read, and the page is filled from as many reads as it takes. Its
    cursor is bound to the subscription and the status asked for: another list's is refused."""
    _readable(billing, caller, subscription_id)
    now, binding = billing.now(), list_binding("holds", subscription_id, status)
    position = _holds_position(cursor, binding) if cursor else None
    holds: list[Hold] = []
    while True:
        page = billing.subscriptions.holds_page(subscription_id, limit=limit - len(holds), cursor=position)
        holds += [h for h in (hold.as_of(now) for hold in page.items) if status is None or h.status == status]
        position = page.next_cursor
        if position is None or len(holds) == limit:
            break
    return Page(items=holds, next_cursor=seal_cursor({"list": binding, "after": position}) if position else None)


def _holds_position(cursor: str, binding: str) -> str:
    position = open_cursor(cursor)
    if position.get("list") != binding or not isinstance(position.get("after"), str):
        raise not_a_cursor()
    return position["after"]


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
