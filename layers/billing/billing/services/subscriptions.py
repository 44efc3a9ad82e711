"""Subscribing an organization to a plan, reading its subscriptions (with health), canceling."""

from __future__ import annotations

import time
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from ..domain.access import Caller, Permission
from ..domain.credits import allowance_grant, cancel_on
from ..domain.errors import Conflict, Forbidden, ValidationFailed
from ..domain.grants import priced_cents
from ..domain.idempotency import fingerprint, scope_key
from ..domain.ids import new_id
from ..domain.paging import Page
from ..domain.periods import period_at
from ..domain.plans import Plan, PlanId
from ..domain.subscriptions import (
    LOW_BALANCE_SHARE,
    AutoTopUp,
    Health,
    Residency,
    SlaAcceptance,
    Subscription,
    SubscriptionFilters,
    assess_health,
    subscription_order,
)
from ..domain.values import MAX_CENTS, NonNegativeDecimal, format_timestamp, free_text, round_credits
from .credit_write import CreditWrite, Idempotency, credit_write
from .ledger import Pause, with_retries
from .reading import across_residencies, subscription_for
from .unit_of_work import Billing

Name = free_text(max_length=200, min_length=1, strip=True)
SlaVersion = Annotated[
    free_text(max_length=64, min_length=1, strip=True),
    BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
]


class SlaAcceptanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    accepted_by: Name
    sla_version: SlaVersion


class ProvisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    plan_id: PlanId
    residency: Annotated[Residency, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)]
    sla_acceptance: SlaAcceptanceRequest


class SubscriptionWithHealth(Subscription):
    health: Health


def provision_subscription(
    billing: Billing,
    caller: Caller,
    organization_id: str,
    request: ProvisionRequest,
    *,
    idempotency_key: str | None,
    pause: Pause = time.sleep,
) -> tuple[Subscription, bool]:
    """Subscribe the organization: pin the plan's current version, start the period now, grant
    the allowance as ledger entry 1, record the SLA acceptance, all in one transaction."""
    caller.authorize_for(Permission.MANAGE_SUBSCRIPTION, organization_id)
    # Billing periods start on a whole second, so a client can name one in any RFC 3339 form.
    served_residencies, now = billing.residencies, billing.now().replace(microsecond=0)
    if request.residency not in served_residencies:
        raise Forbidden(
            f"This deployment does not serve residency '{request.residency}'.",
            code="residency_not_served",
            details={"served": list(served_residencies)},
        )
    if caller.organization_id and caller.residency and caller.residency != request.residency:
        raise Forbidden(
            f"Your organization's residency is '{caller.residency}', not '{request.residency}'.",
            code="residency_mismatch",
        )

    def unfunded() -> Subscription:
        """The new subscription on the plan's current version, before its allowance is granted."""
        plan = billing.plans.current(request.plan_id)
        if plan is None:
            raise ValidationFailed.of("plan_id", f"there is no plan '{request.plan_id}'")
        if not plan.is_active:
            raise Conflict(f"Plan '{plan.plan_id}' is archived and takes no new subscriptions.", code="plan_archived")
        period = period_at(now, plan.billing_cadence, 0)
        return Subscription(
            subscription_id=new_id(now),
            organization_id=organization_id,
            plan_id=plan.plan_id,
            plan_version=plan.version,
            status="active",
            residency=request.residency,
            billing_cadence=plan.billing_cadence,
            billing_cycle_anchor=now,
            sla_acceptance=SlaAcceptance(
                accepted_by=request.sla_acceptance.accepted_by,
                accepted_at=now,
                sla_tier=plan.sla.tier,
                sla_version=request.sla_acceptance.sla_version,
            ),
            current_period_start=period.start,
            current_period_end=period.end,
            credit_balance=0,
            allowance_balance=0,
            purchased_balance=0,
            ledger_seq=0,
            low_balance_threshold_credits=round_credits(plan.credit_allowance * LOW_BALANCE_SHARE),
            created_at=now,
        )

    def fund(write: CreditWrite) -> Subscription:
        """Grant the first period's allowance as ledger entry 1, in the transaction that provisions."""
        plan, new = write.plan, write.subscription
        if plan.credit_allowance > 0:
            write.book.add(
                allowance_grant(new, plan, new.current_period, now=now, actor=caller.principal),
                entry_type="grant",
                reference=f"period:{format_timestamp(new.current_period_start)}",
            )
        write.commit(
            through=lambda posting: billing.subscriptions.provision(
                posting, plan=plan, idempotency=write.record_for(posting.subscription)
            )
        )
        return write.posting.subscription

    scope = scope_key("provision", organization_id, idempotency_key) if idempotency_key else None
    return credit_write(
        billing,
        fund,
        read=unfunded,
        actor=caller.principal,
        idempotency=Idempotency(scope, fingerprint(request, organization_id), Subscription) if scope else None,
        close_ended_periods=False,
        now=now,
        pause=pause,
    )


def list_subscriptions(
    billing: Billing, caller: Caller, organization_id: str, *, limit: int, cursor: str | None
) -> Page[Subscription]:
    caller.authorize_for(Permission.READ_BILLING, organization_id)
    return billing.subscriptions.organization_page(organization_id, limit=limit, cursor=cursor)


def search_subscriptions(
    billing: Billing,
    caller: Caller,
    filters: SubscriptionFilters,
    *,
    residency: str | None,
    limit: int,
    cursor: str | None,
) -> Page[Subscription]:
    """Finance's list across organizations, newest first: the query's residency, or every residency
    served, each read from its own partition of the residency index and merged."""
    caller.authorize(Permission.LIST_ACROSS_ORGANIZATIONS)
    return across_residencies(
        billing,
        "subscriptions",
        billing.subscriptions.residency_page,
        subscription_order,
        filters,
        residency=residency,
        limit=limit,
        cursor=cursor,
    )


def subscription_health(billing: Billing, caller: Caller, subscription_id: str) -> SubscriptionWithHealth:
    subscription = subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    totals = billing.usage.period_totals(subscription.subscription_id, subscription.current_period_start)
    plan = billing.plans.version(subscription.plan_id, subscription.plan_version)
    allowance = plan.credit_allowance if plan else subscription.allowance_balance
    health = assess_health(
        subscription, usage=totals.credits, overage=totals.overage_credits, allowance=allowance, now=billing.now()
    )
    return SubscriptionWithHealth(**dict(subscription), health=health)


def cancel_subscription(
    billing: Billing, caller: Caller, subscription_id: str, *, pause: Pause = time.sleep
) -> Subscription:
    """Stop the subscription taking usage. Its open period is still invoiced; canceling twice is a
    no-op. Its held holds are released in the same write: no usage is accepted after a
    cancellation, so a hold could never be settled, and its credits must not stay reserved (or
    read as `held`) on a subscription that takes nothing more."""
    subscription_for(billing, caller, subscription_id, Permission.MANAGE_SUBSCRIPTION)

    def cancel(write: CreditWrite) -> Subscription:
        if not write.subscription.is_active:
            write.discard()
            return write.subscription
        # What was past due has ended as such (a hold past its expiry expired, it was not released).
        cancel_on(write.book)
        write.commit(through=billing.subscriptions.cancel)
        return write.posting.subscription

    canceled, _ = credit_write(
        billing,
        cancel,
        read=lambda: billing.subscriptions.get(subscription_id),
        actor=caller.principal,
        close_ended_periods=False,  # a cancellation cuts the period it is in short: the close comes after
        pause=pause,
    )
    return canceled


def _check_auto_top_up_price(settings: AutoTopUp, plan: Plan) -> None:
    """Credits an organization adds on its own are always sold: each auto top-up is priced at the
    plan version's credit price. A plan that sells no credits takes no auto top-up (it would mint
    them free); one too small to cost a cent would give credits away a top-up at a time, one too
    large could not be invoiced."""
    problem = auto_top_up_price_problem(settings, plan)
    if problem == "unpriced":
        raise ValidationFailed.of(
            "auto_top_up",
            f"cannot be enabled: plan '{plan.plan_id}' version {plan.version} sells no credits "
            "(it has no credit_price_cents); ask marketplace staff for a top-up instead",
        )
    if problem is not None:
        raise ValidationFailed.of("auto_top_up.amount", f"{problem} at the plan's credit price")


def auto_top_up_price_problem(settings: AutoTopUp, plan: Plan) -> str | None:
    """Why the plan version cannot price this enabled auto top-up ("unpriced": it sells no credits;
    else how far out of range its price is), or None when it can."""
    if not settings.enabled:
        return None
    if not plan.credit_price_cents:
        return "unpriced"
    price = priced_cents(settings.amount, plan.credit_price_cents)
    if price < 1:
        return "costs less than one cent"
    if price > MAX_CENTS:
        return "costs 10^12 cents or more"
    return None


class SettingsRequest(BaseModel):
    """`PUT .../settings`: a field left out stays as it is; `auto_top_up: null` turns it off and
    `low_balance_threshold_credits: null` goes back to the default (10% of the allowance)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    low_balance_threshold_credits: NonNegativeDecimal | None = None
    auto_top_up: AutoTopUp | None = None


def change_settings(
    billing: Billing, caller: Caller, subscription_id: str, request: SettingsRequest, *, pause: Pause = time.sleep
) -> SubscriptionWithHealth:
    subscription = subscription_for(billing, caller, subscription_id, Permission.MANAGE_SUBSCRIPTION)
    plan = billing.plans.version(subscription.plan_id, subscription.plan_version)
    given, changes = request.model_fields_set, {}
    if "low_balance_threshold_credits" in given:
        threshold = request.low_balance_threshold_credits  # 0 is a choice (never low); null the default
        default = round_credits(plan.credit_allowance * LOW_BALANCE_SHARE)
        changes["low_balance_threshold_credits"] = default if threshold is None else threshold
    if "auto_top_up" in given:
        if request.auto_top_up is not None:
            _check_auto_top_up_price(request.auto_top_up, plan)
        changes["auto_top_up"] = request.auto_top_up
    if changes:
        with_retries(
            lambda: billing.subscriptions.save_settings(billing.subscriptions.get(subscription_id), changes),
            pause=pause,
        )
    return subscription_health(billing, caller, subscription_id)
