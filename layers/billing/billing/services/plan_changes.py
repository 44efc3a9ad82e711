"""Plan changes: an organization moves to another plan `now` (the current period closes as a
cancellation's final period does, and a new one starts on the new version, in one transaction) or
at `period_end` (a pending change the period's close applies); `preview` answers what the change
would draft and start, through the same code, without the commit. No guessing of upgrade vs
downgrade: the caller says when."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..domain.access import Caller, Permission
from ..domain.credits import PendingChange, PlanSwitch, check_switch
from ..domain.errors import Conflict, ValidationFailed
from ..domain.idempotency import IdempotencyKey, fingerprint, scope_key
from ..domain.invoices import Invoice
from ..domain.periods import Period, period_at
from ..domain.plans import Plan, PlanId
from ..domain.subscriptions import PendingPlanChange, SlaAcceptance, Subscription
from ..domain.values import Credits, Flag, UtcTimestamp, format_timestamp
from .credit_write import CreditWrite, Idempotency, closing, commit_closing, credit_write
from .invoice_reading import as_documents
from .ledger import Pause
from .reading import subscription_for
from .subscriptions import SlaAcceptanceRequest, auto_top_up_price_problem
from .unit_of_work import Billing


class PlanChangeRequest(BaseModel):
    """`POST /subscriptions/{id}/plan-change`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    plan_id: PlanId
    effective: Literal["now", "period_end"]
    idempotency_key: IdempotencyKey
    sla_acceptance: SlaAcceptanceRequest | None = None
    preview: Flag = False


class NextPeriod(BaseModel):
    """The period a plan change would start, on the new version."""

    model_config = ConfigDict(defer_build=True)

    period_start: UtcTimestamp
    period_end: UtcTimestamp
    plan_id: str
    plan_version: int
    base_fee_cents: int
    credit_allowance: Credits

    @classmethod
    def on(cls, plan: Plan, period: Period) -> NextPeriod:
        return cls(
            period_start=period.start,
            period_end=period.end,
            plan_id=plan.plan_id,
            plan_version=plan.version,
            base_fee_cents=plan.base_fee_cents,
            credit_allowance=plan.credit_allowance,
        )


class PlanChangePreview(BaseModel):
    """`preview: true`: the invoice the change would draft (null for `period_end`: the period bills
    whole, at its end) and the period it would start. Nothing is written."""

    model_config = ConfigDict(defer_build=True)

    closing_invoice: Invoice | None
    next_period: NextPeriod


class PlanUnchanged(Conflict):
    code = "plan_unchanged"


class NoPendingPlanChange(Conflict):
    code = "no_pending_plan_change"


def change_plan(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    request: PlanChangeRequest,
    *,
    pause: Pause = time.sleep,
) -> tuple[Subscription | PlanChangePreview, bool]:
    """Change the subscription's plan `now` or at `period_end` (or preview it). Returns (answer,
    replayed). The same key and body replay the first answer before any state check; a preview
    records no key. A concurrent change with another key that commits first is seen as the state
    this one meets on its retry (its target now current: 409 `plan_unchanged`)."""
    subscription_for(billing, caller, subscription_id, Permission.MANAGE_SUBSCRIPTION)
    now = billing.now().replace(microsecond=0)  # a period boundary is a whole second

    def change(write: CreditWrite) -> Subscription | PlanChangePreview:
        current = write.subscription
        target = _target_plan(billing, current, write.plan, request)
        acceptance = _sla_for(current, write.plan, target, request.sla_acceptance, now)
        _check_auto_top_up_price(current, target)
        if request.effective == "period_end":
            check_switch(write.book, target, current.current_period_end)
            return _at_period_end(write, target, acceptance, preview=request.preview)
        check_switch(write.book, target, now)
        if now <= current.current_period_start:
            raise Conflict(
                "The period started this second; a period never ends in the second it starts. Retry in a second.",
                code="period_open",
                details={"period_start": format_timestamp(current.current_period_start)},
            )
        made = closing(write, PlanSwitch(target, now, acceptance))
        if request.preview:
            write.discard()
            draft = as_documents(billing, [made.draft])[0] if made.draft else None
            return PlanChangePreview(closing_invoice=draft, next_period=NextPeriod.on(target, made.close.next_period))
        commit_closing(write, made)
        return write.posting.subscription

    key = scope_key("plan-change", subscription_id, request.idempotency_key)
    return credit_write(
        billing,
        change,
        read=lambda: billing.subscriptions.get(subscription_id),
        actor=caller.principal,
        idempotency=None if request.preview else Idempotency(key, fingerprint(request, subscription_id), Subscription),
        active_only="The subscription is canceled; it changes plan no more.",
        now=now,
        pause=pause,
    )


def _at_period_end(
    write: CreditWrite, target: Plan, acceptance: SlaAcceptance, *, preview: bool
) -> Subscription | PlanChangePreview:
    """Record the change as pending: the close at the period's end starts the next period on it."""
    current = write.subscription
    if preview:
        write.discard()
        next_period = period_at(current.current_period_end, target.billing_cadence, 0)
        return PlanChangePreview(closing_invoice=None, next_period=NextPeriod.on(target, next_period))
    pending = PendingPlanChange(
        plan_id=target.plan_id, plan_version=target.version, effective_at=current.current_period_end
    )
    write.book.pending = PendingChange(pending, acceptance)
    _commit_subscription(write)
    return write.posting.subscription


def cancel_pending_plan_change(
    billing: Billing, caller: Caller, subscription_id: str, *, pause: Pause = time.sleep
) -> Subscription:
    """`DELETE .../plan-change`: drop the pending change (409 `no_pending_plan_change` when there is
    none, also once the period's close has applied it)."""
    subscription_for(billing, caller, subscription_id, Permission.MANAGE_SUBSCRIPTION)

    def drop(write: CreditWrite) -> Subscription:
        if write.subscription.pending_plan_change is None:
            raise NoPendingPlanChange("The subscription has no pending plan change.")
        write.book.pending = PendingChange(None)
        _commit_subscription(write)
        return write.posting.subscription

    dropped, _ = credit_write(
        billing, drop, read=lambda: billing.subscriptions.get(subscription_id), actor=caller.principal, pause=pause
    )
    return dropped


def _commit_subscription(write: CreditWrite) -> None:
    """Commit, recording as the answer the subscription as the write leaves it."""
    write.commit(
        through=lambda posting: write.billing.subscriptions.append(
            posting, idempotency=write.record_for(posting.subscription), require_active=write.require_active
        )
    )


def _target_plan(billing: Billing, current: Subscription, on: Plan, request: PlanChangeRequest) -> Plan:
    """The plan's current version, if the subscription may move to it."""
    target = billing.plans.current(request.plan_id)
    if target is None:
        raise ValidationFailed.of("plan_id", f"there is no plan '{request.plan_id}'")
    if not target.is_active:
        raise Conflict(f"Plan '{target.plan_id}' is archived and takes no new subscriptions.", code="plan_archived")
    if (target.plan_id, target.version) == (current.plan_id, current.plan_version):
        raise PlanUnchanged(
            f"The subscription is already on {target.plan_id} version {target.version}.",
            details={"plan_id": target.plan_id, "plan_version": target.version},
        )
    if target.currency != on.currency:
        raise Conflict(
            f"Plan '{target.plan_id}' bills in {target.currency}, this subscription in {on.currency}; "
            "cancel and subscribe again to change currency.",
            code="currency_mismatch",
            details={"currency": on.currency, "plan_currency": target.currency},
        )
    return target


def _sla_for(
    current: Subscription, on: Plan, target: Plan, given: SlaAcceptanceRequest | None, now: datetime
) -> SlaAcceptance:
    """The SLA acceptance the subscription holds on the new version. Another SLA (another tier, or
    the same tier on other terms: a new version of it) must be accepted (422 without it); the
    same one carries over unless a new acceptance is given."""
    if given is not None:
        return SlaAcceptance(
            accepted_by=given.accepted_by, accepted_at=now, sla_tier=target.sla.tier, sla_version=given.sla_version
        )
    accepted_tier = current.sla_acceptance.sla_tier
    if target.sla.tier != accepted_tier:
        raise ValidationFailed.of(
            "sla_acceptance",
            f"is required: plan '{target.plan_id}' version {target.version} comes with the "
            f"{target.sla.tier} SLA tier, and the subscription accepted the {accepted_tier} tier",
        )
    if target.sla != on.sla:
        raise ValidationFailed.of(
            "sla_acceptance",
            f"is required: plan '{target.plan_id}' version {target.version} keeps the {accepted_tier} SLA "
            "tier but on different terms (uptime, response time or support) than the ones accepted",
        )
    return current.sla_acceptance


def _check_auto_top_up_price(current: Subscription, target: Plan) -> None:
    """The subscription's auto top-up is priced at the new version's credit price: a change to a
    version that cannot price it (it sells no credits, or the price is out of range) is refused as
    the settings refuse it (422 `plan_id`), writing nothing; changing or turning off the auto top-up
    first is the client's choice, not the change's."""
    problem = current.auto_top_up and auto_top_up_price_problem(current.auto_top_up, target)
    if not problem:
        return
    version = f"plan '{target.plan_id}' version {target.version}"
    why = (
        f"{version} sells no credits, so it cannot price the subscription's auto_top_up"
        if problem == "unpriced"
        else f"at the credit price of {version}, the subscription's auto_top_up {problem}"
    )
    raise ValidationFailed.of("plan_id", f"{why}; change or turn off auto_top_up in the settings first")
