"""Invoices: drafting a period from its aggregate, issuing with the next gapless number, voiding,
exporting; and the scheduled run that closes ended periods."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..domain.access import Caller, Permission, require_residency
from ..domain.errors import Conflict, NotFound, ValidationFailed
from ..domain.ids import new_id
from ..domain.invoice_export import as_csv, as_json, export_filename
from ..domain.invoices import Invoice, billed_until, compose_invoice, invoice_id
from ..domain.ledger import LedgerEntry
from ..domain.paging import Page
from ..domain.periods import Period, period_at, period_index
from ..domain.subscriptions import Subscription
from ..domain.values import UtcTimestamp, format_decimal, format_timestamp
from ..store.base import InvoiceStore, PlanStore, SubscriptionStore, UsageStore
from .ledger import Pause, with_retries
from .subscriptions import subscription_for

INVOICING_ACTOR = "invoicing-run"


class DraftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    period_start: UtcTimestamp | None = None


@dataclass
class InvoiceFile:
    content_type: str
    filename: str
    body: str


def _for_finance(subscriptions: SubscriptionStore, caller: Caller, subscription_id: str) -> Subscription:
    subscription = subscription_for(subscriptions, caller, subscription_id, Permission.MANAGE_INVOICES)
    require_residency(caller, subscription.residency)
    return subscription


def _period(subscription: Subscription, period_start: datetime | None) -> Period:
    if period_start is None:
        return subscription.current_period
    anchor, cadence = subscription.billing_cycle_anchor, subscription.billing_cadence
    index = period_index(anchor, cadence, period_start)
    period = period_at(anchor, cadence, index)
    if period.start != period_start:
        raise ValidationFailed.of("period_start", f"is not the start of a billing period (that one starts {format_timestamp(period.start)})")
    if index < 0 or period.start > subscription.current_period_start:
        raise ValidationFailed.of("period_start", "is not a period this subscription has reached")
    return period


def draft_invoice(plans: PlanStore, subscriptions: SubscriptionStore, usage: UsageStore, invoices: InvoiceStore, caller: Caller,
                  subscription_id: str, request: DraftRequest, *, now: datetime) -> tuple[Invoice, bool]:
    """Draft (or re-draft) a period's invoice from its aggregate. Returns (invoice, created)."""
    subscription = _for_finance(subscriptions, caller, subscription_id)
    period = _period(subscription, request.period_start)
    previous = invoices.get(subscription_id, invoice_id(subscription_id, period.start))
    if previous is not None and not previous.is_draft:
        raise Conflict(f"The invoice for this period is {previous.status}; only drafts are redrafted.", code="invoice_not_draft")
    plan = plans.version(subscription.plan_id, subscription.plan_version)
    draft = compose_invoice(subscription, plan, period, usage.period_usage(subscription_id, period.start), now=now, previous=previous)
    invoices.save_draft(draft)
    return draft, previous is None


def list_invoices(subscriptions: SubscriptionStore, invoices: InvoiceStore, caller: Caller, subscription_id: str, *, limit: int, cursor: str | None) -> Page[Invoice]:
    subscription_for(subscriptions, caller, subscription_id, Permission.READ_BILLING)
    return invoices.page(subscription_id, limit=limit, cursor=cursor)


def get_invoice(subscriptions: SubscriptionStore, invoices: InvoiceStore, caller: Caller, subscription_id: str, invoice_id_: str,
                *, permission: Permission = Permission.READ_BILLING) -> Invoice:
    subscription = subscription_for(subscriptions, caller, subscription_id, permission)
    if permission is Permission.MANAGE_INVOICES:
        require_residency(caller, subscription.residency)
    found = invoices.get(subscription_id, invoice_id_)
    if found is None:
        raise NotFound(f"No invoice '{invoice_id_}' for this subscription.")
    return found


def issue_invoice(subscriptions: SubscriptionStore, invoices: InvoiceStore, caller: Caller, subscription_id: str, invoice_id_: str,
                  *, now: datetime, pause: Pause = time.sleep) -> Invoice:
    draft = get_invoice(subscriptions, invoices, caller, subscription_id, invoice_id_, permission=Permission.MANAGE_INVOICES)
    if not draft.is_draft:
        raise Conflict(f"Invoice '{invoice_id_}' is {draft.status}; only drafts are issued.", code="invoice_not_draft")
    return with_retries(lambda: invoices.issue(draft, now), pause=pause)


def void_invoice(subscriptions: SubscriptionStore, invoices: InvoiceStore, caller: Caller, subscription_id: str, invoice_id_: str, *, now: datetime) -> Invoice:
    invoice = get_invoice(subscriptions, invoices, caller, subscription_id, invoice_id_, permission=Permission.MANAGE_INVOICES)
    return invoices.void(invoice, now)


def export_invoice(subscriptions: SubscriptionStore, invoices: InvoiceStore, caller: Caller, subscription_id: str, invoice_id_: str,
                   *, file_format: Literal["csv", "json"]) -> InvoiceFile:
    invoice = get_invoice(subscriptions, invoices, caller, subscription_id, invoice_id_, permission=Permission.MANAGE_INVOICES)
    if file_format == "csv":
        return InvoiceFile("text/csv; charset=utf-8", export_filename(invoice, "csv"), as_csv(invoice))
    return InvoiceFile("application/json", export_filename(invoice, "json"), json.dumps(as_json(invoice), separators=(",", ":")))


# --- the scheduled run ----------------------------------------------------------------------

@dataclass
class InvoicingReport:
    now: datetime
    subscriptions_scanned: int = 0
    other_residency_skipped: int = 0
    periods_closed: int = 0
    invoices_drafted: int = 0
    issued_invoices_left_alone: int = 0
    allowances_expired: int = 0
    credits_expired: Decimal = Decimal(0)
    allowances_granted: int = 0
    final_periods_closed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        result = {k: v for k, v in self.__dict__.items() if k not in ("now", "credits_expired")}
        return {"now": format_timestamp(self.now), "credits_expired": format_decimal(self.credits_expired), **result}


def _due(subscription: Subscription, now: datetime) -> bool:
    return not subscription.final_period_closed and billed_until(subscription, subscription.current_period) <= now


def run_invoicing(plans: PlanStore, subscriptions: SubscriptionStore, usage: UsageStore, invoices: InvoiceStore, *,
                  now: datetime, served_residencies: tuple[str, ...], pause: Pause = time.sleep) -> InvoicingReport:
    """For every subscription of a served residency whose period has ended by `now`: draft that
    period's invoice, expire the unused allowance, grant the next one and move the period on (a
    canceled subscription's last period is drafted, expired and closed). Each period closes in one
    transaction conditioned on the subscription being as read, so a second run, or a concurrent
    one, finds nothing left to do."""
    report = InvoicingReport(now=now)
    for subscription in subscriptions.every_subscription():
        report.subscriptions_scanned += 1
        if subscription.residency not in served_residencies:
            report.other_residency_skipped += 1
            continue
        try:
            while _due(subscription, now):
                closed = with_retries(lambda: _close_period(plans, subscriptions, usage, invoices, subscription.subscription_id, now, report), pause=pause)
                if closed is None:
                    break
                subscription = closed
        except Exception as error:  # one subscription's trouble must not stop the run; it is retried next time
            report.failures.append({"subscription_id": subscription.subscription_id, "error": type(error).__name__, "message": str(error)})
    return report


def _close_period(plans: PlanStore, subscriptions: SubscriptionStore, usage: UsageStore, invoices: InvoiceStore,
                  subscription_id: str, now: datetime, report: InvoicingReport) -> Subscription | None:
    current = subscriptions.get(subscription_id)
    if current is None or not _due(current, now):
        return None  # a concurrent run closed it
    period = current.current_period
    final = current.canceled_at is not None and current.canceled_at < period.end
    plan = plans.version(current.plan_id, current.plan_version)
    existing = invoices.get(subscription_id, invoice_id(subscription_id, period.start))
    draft = None
    if existing is None or existing.is_draft:
        draft = compose_invoice(current, plan, period, usage.period_usage(subscription_id, period.start), now=now, previous=existing)
    balances, seq, entries = current.balances, current.ledger_seq, []
    reference = f"period:{format_timestamp(period.start)}"
    expired = balances.allowance
    if expired > 0:
        seq, balances = seq + 1, balances.changed("allowance", -expired)
        entries.append(LedgerEntry(subscription_id=subscription_id, seq=seq, entry_id=new_id(now), type="expiry", amount=-expired,
                                   bucket="allowance", balance_after=balances.total, reference=reference, actor=INVOICING_ACTOR,
                                   reason="Unused allowance expired at the end of the period", created_at=now))
    next_period = None if final else period_at(current.billing_cycle_anchor, current.billing_cadence,
                                               period_index(current.billing_cycle_anchor, current.billing_cadence, period.start) + 1)
    if next_period is not None:
        seq, balances = seq + 1, balances.changed("allowance", plan.credit_allowance)
        entries.append(LedgerEntry(subscription_id=subscription_id, seq=seq, entry_id=new_id(now), type="grant", amount=plan.credit_allowance,
                                   bucket="allowance", balance_after=balances.total, reference=f"period:{format_timestamp(next_period.start)}",
                                   actor=INVOICING_ACTOR, reason=f"Credit allowance of {plan.name} v{plan.version} for the period",
                                   created_at=now))
    closed = current.rolled_over(balances, seq, next_period)
    invoices.close_period(closed, entries, draft, previous_seq=current.ledger_seq, previous_period_start=period.start)
    report.periods_closed += 1
    report.invoices_drafted += draft is not None
    report.issued_invoices_left_alone += draft is None
    report.allowances_expired += expired > 0
    report.credits_expired += expired
    report.allowances_granted += next_period is not None
    report.final_periods_closed += next_period is None
    return closed
