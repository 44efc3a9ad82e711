"""Guardrail analytics' rules on plain data: contributions and their voids, grouping into days, ISO
weeks and months, flag rates, cursors tied to their report, and the CSV's neutralised cells."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.domain.access import Caller
from billing.domain.clock import TestClock
from billing.domain.errors import NotFound, ValidationFailed
from billing.domain.guardrail_analytics import (
    Counts,
    Position,
    RecordedUsage,
    ReportQuery,
    Rollup,
    contribution,
    decode_cursor,
    encode_cursor,
    flag_rate,
    fold_of,
    parse_group_by,
    report_window,
    time_bucket,
)
from billing.services.guardrail_analytics import ReportRequest, guardrail_csv, guardrail_report
from billing.services.unit_of_work import Billing


def usage(**changes) -> RecordedUsage:
    return RecordedUsage.model_validate(
        {
            "event_id": "e1",
            "subscription_id": "s1",
            "organization_id": "org-a",
            "service": "planner",
            "credits": "2.5",
            "guardrail": {"flags": ["door_open"], "escalation_codes": ["ESC-1"]},
            "occurred_at": "2026-11-24T23:59:59Z",
            "recorded_at": "2026-11-25T00:00:30Z",
        }
        | changes
    )


def test_an_event_counts_on_the_utc_day_it_occurred_and_a_void_subtracts_exactly_that():
    recorded = fold_of(usage(), "us", voided=False)
    voided = fold_of(usage(status="voided"), "us", voided=True)
    assert recorded.key.day == date(2026, 11, 24)  # occurred_at, not recorded_at
    total = Counts()
    total.add(recorded.counts)
    total.add(voided.counts)
    assert (total.events, total.flagged_events, total.credits, total.flagged_credits) == (0, 0, 0, 0)
    assert set(total.flags.values()) == set(total.escalation_codes.values()) == {0}


def test_an_event_without_flags_or_codes_is_not_flagged():
    counts = contribution(usage(guardrail={"flags": [], "escalation_codes": []}))
    assert (counts.events, counts.flagged_events, counts.flagged_credits) == (1, 0, Decimal(0))


@pytest.mark.parametrize(
    ("day", "week", "month"),
    [
        (date(2026, 11, 23), "2026-W48", "2026-11"),  # a Monday starts ISO week 48
        (date(2026, 11, 29), "2026-W48", "2026-11"),  # ... and the Sunday ends it
        (date(2027, 1, 1), "2026-W53", "2027-01"),  # a Friday still in 2026's last ISO week
    ],
)
def test_days_fall_in_iso_weeks_and_months(day, week, month):
    assert (time_bucket("week", day), time_bucket("month", day), time_bucket("day", day)) == (
        week,
        month,
        day.isoformat(),
    )


def test_flag_rates_are_exact_decimal_strings():
    assert [flag_rate(1, 3), flag_rate(2, 3), flag_rate(3, 3), flag_rate(0, 0)] == ["0.333333", "0.666667", "1", "0"]


def test_windows_hold_at_most_366_days_both_ends_included():
    assert report_window(date(2025, 1, 1), date(2026, 1, 2), date(2026, 6, 1)) == (date(2025, 1, 1), date(2026, 1, 2))
    with pytest.raises(ValidationFailed):
        report_window(date(2025, 1, 1), date(2026, 1, 3), date(2026, 6, 1))
    with pytest.raises(ValidationFailed):
        report_window(date(2026, 1, 3), date(2026, 1, 2), date(2026, 6, 1))
    with pytest.raises(ValidationFailed):
        parse_group_by("day,hour")


def test_a_cursor_only_continues_the_report_that_produced_it():
    query = ReportQuery(date(2026, 11, 1), date(2026, 11, 30), ("day",), "us")
    cursor = encode_cursor(query, Position(("2026-11-05",), date(2026, 11, 6)))
    assert decode_cursor(query, cursor) == Position(("2026-11-05",), date(2026, 11, 6))
    other = ReportQuery(date(2026, 11, 1), date(2026, 11, 30), ("day",), "us", service="planner")
    with pytest.raises(ValidationFailed):
        decode_cursor(other, cursor)


class Rollups:
    """An in-memory twin of the rollups table, for the service's reading rules."""

    def __init__(self, rollups: list[Rollup]):
        self._rollups = rollups
        self.days_read: list[date] = []

    def as_of(self, residency):
        return datetime(2026, 11, 30, tzinfo=UTC)

    def rollups(self, residency, day, *, organization_id=None, service=None, from_organization=None):
        self.days_read.append(day)
        return [
            r
            for r in self._rollups
            if r.day == day
            and organization_id in (None, r.organization_id)
            and service in (None, r.service)
            and (from_organization is None or r.organization_id >= from_organization)
        ]


def rollup(day: int, organization_id: str, service="planner", events=2, flagged=1, flags=None) -> Rollup:
    counts = Counts(events, flagged, Decimal(events), Decimal(flagged), flags or {"door_open": flagged})
    return Rollup(date(2026, 11, day), organization_id, service, counts)


FINANCE = Caller("fin", frozenset({"finance"}), None, "us")
BILLING = Billing.in_memory(TestClock(datetime(2026, 12, 1, tzinfo=UTC)))


def test_pages_of_days_read_each_day_once_and_end_with_no_cursor():
    store = Rollups([rollup(day, org) for day in range(1, 11) for org in ("org-a", "org-b")])
    request = ReportRequest(first_day=date(2026, 11, 1), last_day=date(2026, 11, 10))
    pages, cursor = [], None
    while True:
        page = guardrail_report(BILLING, store, FINANCE, request, limit=3, cursor=cursor)
        pages.append([item.day for item in page.items])
        cursor = page.next_cursor
        if not cursor:
            break
    assert [day for page in pages for day in page] == [f"2026-11-{d:02d}" for d in range(1, 11)]
    assert sorted(store.days_read) == [date(2026, 11, d) for d in range(1, 11)]


def test_an_organization_user_asking_for_another_organization_gets_not_found():
    member = Caller("m", frozenset({"org:member"}), "org-a", "us")
    store = Rollups([rollup(1, "org-a"), rollup(1, "org-b")])
    request = ReportRequest(first_day=date(2026, 11, 1), last_day=date(2026, 11, 1), group_by="organization")
    [own] = guardrail_report(BILLING, store, member, request, limit=50, cursor=None).items
    assert own.organization_id == "org-a"
    with pytest.raises(NotFound):
        guardrail_report(
            BILLING,
            store,
            member,
            ReportRequest(organization_id="org-b", group_by="organization"),
            limit=50,
            cursor=None,
        )


def test_the_csv_neutralises_text_cells_a_spreadsheet_would_run_and_keeps_numbers():
    hostile = '=HYPERLINK("http://x")'
    store = Rollups([rollup(1, hostile, flags={"-cmd": 1}), rollup(1, "org-b", service="analytics")])
    request = ReportRequest(first_day=date(2026, 11, 1), last_day=date(2026, 11, 1), group_by="organization,service")
    rows = list(csv.reader(io.StringIO(guardrail_csv(BILLING, store, FINANCE, request))))
    assert rows[0] == [
        "organization_id",
        "service",
        "events",
        "flagged_events",
        "flag_rate",
        "credits",
        "flagged_credits",
        "flags",
        "escalation_codes",
    ]
    by_org = {row[0]: row for row in rows[1:]}
    assert set(by_org) == {"'" + hostile, "org-b"}
    assert by_org["'" + hostile][2:8] == ["2", "1", "0.5", "2", "1", "'-cmd=1"]
