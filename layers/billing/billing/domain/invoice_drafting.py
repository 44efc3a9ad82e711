"""Drafting a period's invoice: its base fee (prorated when a cancellation or a plan change cut the
period short) and overage, priced from the period aggregate at the subscription's plan version, and
its priced top-ups. Each line's amount is rounded half-even to whole cents once; the total is the
sum of the lines. Apart from invoices.py, so reading an invoice loads no subscription, plan, grant
or usage model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from msgspec import Struct

from .grants import AUTO_TOP_UP_ACTOR, CreditGrant
from .invoices import Invoice, LineItem, invoice_id
from .periods import Period
from .plans import Plan
from .subscriptions import Subscription, billed_until
from .usage import PeriodUsage, UsageTotals
from .values import format_decimal, round_credits


def whole_cents(amount: Decimal, *factors: Decimal) -> int:
    """The product, rounded half-even to whole cents once. Multiplied in a wide context: a period's
    overage times a rate reaches 10^38, which must round, never fail or lose digits first."""
    with localcontext() as wide:
        wide.prec = 80
        for factor in factors:
            amount *= factor
        return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def compose_invoice(
    subscription: Subscription,
    plan: Plan,
    period: Period,
    usage: PeriodUsage,
    *,
    now: datetime,
    grants: Sequence[CreditGrant] = (),
    previous: Invoice | None = None,
) -> Invoice:
    """The draft for a period: the base fee (prorated when a cancellation cut the period short),
    one overage line per service that ran over, priced at the subscription's plan version, and one
    line per priced grant made in the period (`grants`, the grants made in it: credits sold are
    billed once, here; its allowance grant says how much of the allowance was used).
    `previous` is the period's latest invoice: a draft is replaced in place, a void one is
    followed by the next revision (an issued one is final, and never redrafted)."""
    revision, created_at = 1, now
    if previous is not None:
        revision = previous.revision + 1 if previous.status == "void" else previous.revision
        created_at = now if previous.status == "void" else previous.created_at
    until = billed_until(subscription, period)
    used = allowance_used(subscription, plan, period, grants, usage.totals)
    lines = [_base_fee(plan, period, until, subscription.canceled_at, used)]
    for service in sorted(usage.services):
        overage = usage.services[service].overage_credits
        if overage > 0:
            lines.append(
                LineItem(
                    kind="overage",
                    description=f"{service} overage: {format_decimal(overage)} credits "
                    f"at {format_decimal(plan.overage_rate_cents)}¢ per credit",
                    service=service,
                    quantity=overage,
                    unit_amount_cents=plan.overage_rate_cents,
                    amount_cents=whole_cents(overage, plan.overage_rate_cents),
                )
            )
    lines += [_top_up(grant) for grant in grants if grant.price_cents > 0]
    subtotal = sum(line.amount_cents for line in lines)
    return Invoice(
        invoice_id=invoice_id(subscription.subscription_id, period.start, revision),
        subscription_id=subscription.subscription_id,
        organization_id=subscription.organization_id,
        residency=subscription.residency,
        status="draft",
        period_start=period.start,
        period_end=until,  # a canceled subscription's final period ends at its cancellation
        currency=plan.currency,
        plan_id=plan.plan_id,
        plan_version=plan.version,
        revision=revision,
        line_items=lines,
        subtotal_cents=subtotal,
        total_cents=subtotal,
        created_at=created_at,
        updated_at=now,
    )


def _top_up(grant: CreditGrant) -> LineItem:
    """The agreed price is the amount; the per-credit price it implies is shown to 6 places."""
    bought = "auto top-up" if grant.actor == AUTO_TOP_UP_ACTOR else f"{grant.kind} credits"
    return LineItem(
        kind="top_up",
        description=f"{bought}: {format_decimal(grant.amount)} credits on "
        f"{grant.created_at.date().isoformat()} (grant {grant.grant_id})",
        quantity=grant.amount,
        unit_amount_cents=round_credits(Decimal(grant.price_cents) / grant.amount),
        amount_cents=grant.price_cents,
    )


def _base_fee(
    plan: Plan, period: Period, until: datetime, canceled_at: datetime | None, allowance_used: Decimal
) -> LineItem:
    description = f"{plan.name} ({plan.billing_cadence}) base fee"
    fee = Decimal(plan.base_fee_cents)
    if until >= period.end:
        return LineItem(
            kind="base_fee",
            description=description,
            quantity=Decimal(1),
            unit_amount_cents=fee,
            amount_cents=plan.base_fee_cents,
        )
    share = final_period_share(plan, period, until, allowance_used)
    cut_by = "canceled" if until == canceled_at else "plan changed"  # what ended the period early
    description += (
        f", prorated at {format_decimal(share.billed * 100)}% ({cut_by} {until.date().isoformat()}): "
        f"the larger of {share.days_used:.1f} of {share.days_in_period:.1f} days and "
        f"{format_decimal(share.allowance_used)} of {format_decimal(plan.credit_allowance)} allowance credits used"
    )
    return LineItem(
        kind="base_fee",
        description=description,
        quantity=share.billed,
        unit_amount_cents=fee,
        amount_cents=whole_cents(fee, share.billed),
    )


class FinalPeriodShare(Struct, frozen=True):
    days_used: float
    days_in_period: float
    allowance_used: Decimal
    billed: Decimal  # the share of the base fee billed, 0..1 to 6 decimals


def final_period_share(plan: Plan, period: Period, until: datetime, allowance_used: Decimal) -> FinalPeriodShare:
    """A period cut short by cancellation bills the larger of the time it ran and the share of
    its allowance that was used, so subscribing, using the allowance and canceling is never free."""
    used, whole = Decimal((until - period.start).total_seconds()), Decimal((period.end - period.start).total_seconds())
    by_allowance = allowance_used / plan.credit_allowance if plan.credit_allowance > 0 else Decimal(0)
    billed = round_credits(min(max(used / whole, by_allowance), Decimal(1)))
    return FinalPeriodShare(
        days_used=float(used) / 86400, days_in_period=float(whole) / 86400, allowance_used=allowance_used, billed=billed
    )


def allowance_used(
    subscription: Subscription, plan: Plan, period: Period, grants: Sequence[CreditGrant], usage: UsageTotals
) -> Decimal:
    """What the period's allowance grant itself paid out: its amount less what it still holds (live
    on the subscription while active) or held when it ended. Read from the grant, never inferred
    from usage: a promotional grant drawn before the allowance may have paid for the usage while
    the allowance stayed whole. Where the period has no allowance grant of its own (a period closed
    late in a catch-up, made after it ended), the debited usage up to the allowance stands in."""
    allowance = next((g for g in grants if g.kind == "allowance" and g.period_start == period.start), None)
    if allowance is None:
        return min(usage.credits - usage.overage_credits, plan.credit_allowance)
    live = next((g for g in subscription.grants if g.grant_id == allowance.grant_id), None)
    left = live.remaining if live is not None else allowance.ended_amount or Decimal(0)
    return allowance.amount - left
