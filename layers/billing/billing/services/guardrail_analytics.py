"""Compliance analytics: folding recorded usage into guardrail rollups (the usage table's stream),
and reading reports from them (GET /analytics/guardrails and its CSV export).

The fold never touches the usage transaction: the event rows it reads are written anyway, and a
DynamoDB stream costs the writer nothing. A report reads rollups per (organization, day, service),
so its cost grows with the groups in its window, never with the events behind them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol

from msgspec import Struct

from ..domain.access import Caller, Permission
from ..domain.errors import Forbidden, NotFound, ValidationFailed
from ..domain.guardrail_analytics import (
    KEY_NAMES,
    Fold,
    GuardrailGroup,
    GuardrailReport,
    Position,
    ReportQuery,
    Rollup,
    decode_cursor,
    encode_cursor,
    fold_of,
    group_item,
    grouped,
    parse_group_by,
    report_window,
    time_bucket,
)
from ..domain.paging import MAX_PAGE_SIZE
from ..domain.values import spreadsheet_text
from ..store.dynamodb_guardrails import usage_changes
from .unit_of_work import Billing


class Rollups(Protocol):
    def fold(self, folds: list[Fold]) -> int: ...
    def as_of(self, residency: str): ...
    def rollups(
        self,
        residency: str,
        day: date,
        *,
        organization_id: str | None = None,
        service: str | None = None,
        from_organization: str | None = None,
    ) -> Iterable[Rollup]: ...


# --- folding ---------------------------------------------------------------------------------

_residencies: dict[str, str] = {}  # a subscription's residency never changes: kept per container


def fold_usage_stream(billing: Billing, rollups: Rollups, records: Iterable[dict[str, Any]]) -> int:
    """Fold a batch of the usage table's stream: a new event row adds its contribution, a row
    modified to `voided` takes it back (once each, by event id). Returns the changes applied."""
    folds: dict[tuple[str, str], Fold] = {}
    for usage, voided in usage_changes(records):
        fold = fold_of(usage, _residency_of(billing, usage.subscription_id), voided=voided)
        folds.setdefault((fold.event_id, fold.change), fold)  # a record delivered twice in one batch
    return rollups.fold(list(folds.values())) if folds else 0


def _residency_of(billing: Billing, subscription_id: str) -> str:
    if subscription_id not in _residencies:
        _residencies[subscription_id] = billing.subscriptions.get(subscription_id).residency
    return _residencies[subscription_id]


# --- reports ---------------------------------------------------------------------------------


class ReportRequest(Struct, frozen=True):
    """A report as asked for; the window defaults to the 30 days up to today."""

    first_day: date | None = None
    last_day: date | None = None
    group_by: str | None = None
    organization_id: str | None = None
    service: str | None = None
    flag: str | None = None
    residency: str | None = None


def guardrail_report(
    billing: Billing, rollups: Rollups, caller: Caller, request: ReportRequest, *, limit: int, cursor: str | None
) -> GuardrailReport:
    """One page of groups, in key order, and the newest recording the rollups include."""
    query = _scoped(billing, caller, request)
    items, next_cursor = _page(rollups, query, limit=limit, cursor=cursor)
    return GuardrailReport(items=items, next_cursor=next_cursor, as_of=rollups.as_of(query.residency))


def guardrail_csv(billing: Billing, rollups: Rollups, caller: Caller, request: ReportRequest) -> str:
    """Every group of the report as CSV rows, cells neutralised as in invoice exports."""
    query = _scoped(billing, caller, request)
    items, cursor = _page(rollups, query, limit=MAX_PAGE_SIZE, cursor=None)
    while cursor:
        more, cursor = _page(rollups, query, limit=MAX_PAGE_SIZE, cursor=cursor)
        items += more
    keys = [KEY_NAMES[grouping] for grouping in query.group_by]
    numbers = ["events", "flagged_events", "flag_rate", "credits", "flagged_credits"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*keys, *numbers, "flags", "escalation_codes"])
    for item in items:
        shown = item.model_dump()
        writer.writerow(
            [
                *(spreadsheet_text(shown[key]) for key in keys),
                *(shown[number] for number in numbers),
                spreadsheet_text(_counted(item.flags)),
                spreadsheet_text(_counted(item.escalation_codes)),
            ]
        )
    return out.getvalue()


def _counted(counts: dict[str, int]) -> str:
    return ";".join(f"{name}={count}" for name, count in counts.items())


def _scoped(billing: Billing, caller: Caller, request: ReportRequest) -> ReportQuery:
    """Staff and finance read every organization of a residency (default their own); an
    organization's users read their own only: another organization is the 404 of an unknown one."""
    caller.authorize(Permission.READ_BILLING)
    group_by = parse_group_by(request.group_by)
    first_day, last_day = report_window(request.first_day, request.last_day, billing.now().date())
    if caller.holds(Permission.READ_BILLING.any_organization):
        residency = request.residency or caller.residency
        if not residency:
            raise ValidationFailed.of("residency", "is required: your token carries none", location="query")
        if residency not in billing.residencies:
            raise Forbidden(f"This deployment does not serve residency '{residency}'.", code="residency_not_served")
        organization_id = request.organization_id
    else:
        if request.organization_id not in (None, caller.organization_id):
            raise NotFound("No such organization.")
        residency = caller.residency or ""
        if request.residency not in (None, residency):
            raise Forbidden(
                f"Your organization's residency is '{residency}', not '{request.residency}'.",
                code="residency_mismatch",
            )
        organization_id = caller.organization_id
    return ReportQuery(
        first_day=first_day,
        last_day=last_day,
        group_by=group_by,
        residency=residency,
        organization_id=organization_id,
        service=request.service,
        flag=request.flag,
    )


def _page(
    rollups: Rollups, query: ReportQuery, *, limit: int, cursor: str | None
) -> tuple[list[GuardrailGroup], str | None]:
    position = decode_cursor(query, cursor)
    after = position.after if position else None
    if query.by_time_first:
        found, bucket_start, resume = _time_first(rollups, query, position.resume if position else None, after, limit)
    else:
        # Organization- or service-first groups gather every day of the window; a page after the
        # first skips the organizations answered already (their sort keys come first).
        from_organization = after[0] if after and query.group_by[0] == "organization" else None
        groups = grouped(query, _read(rollups, query, query.days(), from_organization))
        found = [(key, groups[key]) for key in sorted(groups) if after is None or key > after]
        bucket_start = resume = None
    page = found[:limit]
    items = [group_item(query.group_by, key, counts) for key, counts in page]
    if len(found) > limit:  # the last bucket read holds more groups: the next page reads it again
        return items, encode_cursor(query, Position(page[-1][0], bucket_start))
    if resume is not None:  # days left to read
        return items, encode_cursor(query, Position(page[-1][0], resume))
    return items, None


def _time_first(
    rollups: Rollups, query: ReportQuery, start: date | None, after: tuple[str, ...] | None, limit: int
) -> tuple[list, date | None, date | None]:
    """Read bucket by bucket (a day, an ISO week, a month) from where the last page ended until the
    page is full. Returns the groups found, the first day of the last bucket read, and the first
    day not read yet (None: the window is done)."""
    grouping = query.group_by[0]
    days = query.days(start)
    found: list = []
    first = 0
    while first < len(days):
        end = first
        while end < len(days) and time_bucket(grouping, days[end]) == time_bucket(grouping, days[first]):
            end += 1
        groups = grouped(query, _read(rollups, query, days[first:end], None))
        found += [(key, groups[key]) for key in sorted(groups) if after is None or key > after]
        bucket_start, first = days[first], end
        if len(found) >= limit:
            return found, bucket_start, days[first] if first < len(days) else None
    return found, None, None


def _read(rollups: Rollups, query: ReportQuery, days: list[date], from_organization: str | None) -> Iterable[Rollup]:
    for day in days:
        yield from rollups.rollups(
            query.residency,
            day,
            organization_id=query.organization_id,
            service=query.service,
            from_organization=from_organization,
        )
