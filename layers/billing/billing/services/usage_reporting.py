"""Reading usage back: a subscription's events (filtered, newest first), a period's summary, the
days' aggregates and the periods reached, each with its usage and invoice. Read from the
aggregates the recording writes (services/usage.py), never by scanning events; nothing here
loads the credit write path."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..domain.access import Caller, Permission
from ..domain.errors import ValidationFailed
from ..domain.invoice_status import InvoiceStatus
from ..domain.paging import Page, not_a_cursor, open_cursor, seal_cursor
from ..domain.periods import Period
from ..domain.subscriptions import billed_until
from ..domain.usage import LATE_ARRIVAL, PeriodUsage, ServiceUsage, UsageEvent, UsageFilters, UsageTotals
from ..domain.values import TotalCredits, UtcTimestamp
from .reading import subscription_for
from .unit_of_work import Billing

MAX_DAILY_WINDOW = timedelta(days=366)


class DailyUsage(BaseModel):
    """One UTC day's usage of a subscription (the day it occurred), per service."""

    model_config = ConfigDict(defer_build=True)

    day: str  # 2026-11-24
    services: dict[str, ServiceUsage]


class PeriodTotals(BaseModel):
    model_config = ConfigDict(defer_build=True)

    credits: TotalCredits
    overage_credits: TotalCredits
    events: int


class UsageSummary(BaseModel):
    model_config = ConfigDict(defer_build=True)

    subscription_id: str
    period_start: UtcTimestamp
    period_end: UtcTimestamp
    services: dict[str, ServiceUsage]
    guardrail_flags: dict[str, int]
    escalation_codes: dict[str, int]
    totals: PeriodTotals


def list_usage(
    billing: Billing,
    caller: Caller,
    subscription_id: str,
    filters: UsageFilters,
    *,
    limit: int,
    cursor: str | None,
) -> Page[UsageEvent]:
    subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    return billing.usage.events_page(subscription_id, filters, limit=limit, cursor=cursor)


def usage_summary(
    billing: Billing, caller: Caller, subscription_id: str, *, period_start: datetime | None
) -> UsageSummary:
    """A period's totals from its aggregate (never by scanning events). Default: the current period.
    It ends where its billing does (a plan change or a cancellation may have cut it short), as the
    periods list and its invoice say."""
    subscription = subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    period = subscription.current_period if period_start is None else subscription.period_starting(period_start)
    aggregate = billing.usage.period_usage(subscription_id, period.start)
    totals = aggregate.totals
    return UsageSummary(
        subscription_id=subscription_id,
        period_start=period.start,
        period_end=billed_until(subscription, period),
        services=aggregate.services,
        guardrail_flags=aggregate.guardrail_flags,
        escalation_codes=aggregate.escalation_codes,
        totals=PeriodTotals(
            credits=totals.credits,
            overage_credits=totals.overage_credits,
            events=sum(s.events for s in aggregate.services.values()),
        ),
    )


class BillingPeriod(BaseModel):
    """One period of a subscription, as `GET /subscriptions/{id}/periods` lists it."""

    model_config = ConfigDict(defer_build=True)

    period_start: UtcTimestamp
    period_end: UtcTimestamp
    status: Literal["open", "closed"]
    invoice_id: str | None
    invoice_status: InvoiceStatus | None
    usage_credits: TotalCredits
    overage_credits: TotalCredits


def list_periods(
    billing: Billing, caller: Caller, subscription_id: str, *, limit: int, cursor: str | None
) -> Page[BillingPeriod]:
    """The periods the subscription has reached, newest first, each with its usage (from the period
    aggregates, read together) and its latest invoice. The cursor is the index of the last period
    returned; its neighbours are computed, never scanned for."""
    subscription = subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    newest = subscription.newest_period_number  # numbered across the cycles plan changes ended
    top = newest if cursor is None else _period_cursor(cursor, subscription_id, newest) - 1
    indexes = list(range(top, max(top - limit, -1), -1))
    if not indexes:
        return Page(items=[])
    periods = [subscription.numbered_period(i) for i in indexes]
    usage = billing.usage.period_usages(subscription_id, [p.start for p in periods])
    invoices = billing.invoices.latest_for_periods(subscription_id, periods[-1].start, periods[0].start)
    items = []
    for index, period in zip(indexes, periods, strict=True):
        totals = usage[period.start].totals if period.start in usage else UsageTotals()
        invoice = invoices.get(period.start)
        is_open = index == newest and not subscription.final_period_closed
        items.append(
            BillingPeriod(
                period_start=period.start,
                period_end=billed_until(subscription, period),
                status="open" if is_open else "closed",
                invoice_id=invoice.invoice_id if invoice else None,
                invoice_status=invoice.status if invoice else None,
                usage_credits=totals.credits,
                overage_credits=totals.overage_credits,
            )
        )
    last = indexes[-1]
    return Page(items=items, next_cursor=seal_cursor({"periods": subscription_id, "index": last}) if last > 0 else None)


def _period_cursor(cursor: str, subscription_id: str, newest: int) -> int:
    """The index a periods cursor holds, when it is this subscription's list's cursor."""
    position = open_cursor(cursor)
    index = position.get("index")
    if position.get("periods") != subscription_id or type(index) is not int or not 0 < index <= newest:
        raise not_a_cursor()
    return index


def daily_usage(
    billing: Billing, caller: Caller, subscription_id: str, *, start: datetime | None, end: datetime | None
) -> list[DailyUsage]:
    """Usage per UTC day (the day it occurred) in [from, to), oldest first, from the day
    aggregates. Default: the 30 days up to now; at most 366 days at once."""
    subscription = subscription_for(billing, caller, subscription_id, Permission.READ_BILLING)
    end = end or billing.now() + timedelta(days=1)
    start = start or end - timedelta(days=31)
    if end - start > MAX_DAILY_WINDOW:
        raise ValidationFailed.naming(("from", "to"), "'from' and 'to' may be at most 366 days apart", location="query")
    first, last = start.date(), (end - timedelta(microseconds=1)).date()  # `to` itself is excluded
    # Only the periods the subscription has reached can have usage: clamping to them also keeps
    # period arithmetic away from year 9999.
    reached = Period(subscription.first_period_start, subscription.current_period_end)
    if end <= reached.start or start >= reached.end:
        return []
    first_period = subscription.period_containing(max(start, reached.start)).start
    # A late event is billed in the period it was recorded in, up to 35 days after the day it
    # occurred: that period's aggregates may hold the window's last days too.
    late_end = min(end + LATE_ARRIVAL, reached.end)
    last_period = subscription.period_containing(late_end - timedelta(microseconds=1)).start
    by_day: dict[date, list[PeriodUsage]] = {}
    for _, day, usage in billing.usage.day_aggregates(subscription_id, first_period, last_period):
        if day is not None and first <= day <= last:  # a day straddling two periods has an aggregate in each
            by_day.setdefault(day, []).append(usage)
    merged = {day: PeriodUsage.merged(parts).services for day, parts in by_day.items()}
    # A day whose every event was voided has no usage left.
    return [DailyUsage(day=day.isoformat(), services=merged[day]) for day in sorted(merged) if merged[day]]
