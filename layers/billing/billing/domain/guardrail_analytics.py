"""Compliance analytics (API.md, "Compliance analytics"): guardrail flags and escalation codes of
recorded usage, counted per (organization, UTC day, service) in rollups, and read back grouped by
day, ISO week, month, organization and service.

A rollup is folded from the usage table's stream, off the usage transaction: each recorded event
adds its `Contribution` once (by event id), and a voided event subtracts exactly the same
contribution, computed again from the same stored row. The day is the UTC day of `occurred_at`,
the moment the usage history and its daily chart show (a late event is counted on the day it
happened, not the day it was recorded)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from msgspec import Struct, field
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from .errors import ValidationFailed
from .usage_labels import Guardrail
from .values import UtcTimestamp, exact_sums, format_decimal

Grouping = Literal["day", "week", "month", "organization", "service"]
GROUPINGS: tuple[Grouping, ...] = ("day", "week", "month", "organization", "service")
TIME_GROUPINGS = ("day", "week", "month")
# What an item calls each grouping's key: weeks are ISO 8601 weeks (Monday to Sunday) named by
# their ISO year and number ("2026-W48"), months "2026-11"; both sort as text in time order.
KEY_NAMES: dict[str, str] = {
    "day": "day",
    "week": "week",
    "month": "month",
    "organization": "organization_id",
    "service": "service",
}
MAX_WINDOW = timedelta(days=366)
INCLUDED_WITHIN = timedelta(seconds=60)  # invariant 15: what was recorded earlier is in every report


class RecordedUsage(BaseModel):
    """What analytics reads of a usage event row (the usage table's stream image)."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    event_id: str
    subscription_id: str
    organization_id: str
    service: str
    credits: Decimal
    guardrail: Guardrail = Field(default_factory=Guardrail)
    occurred_at: UtcTimestamp
    recorded_at: UtcTimestamp
    status: str = "recorded"

    @property
    def voided(self) -> bool:
        return self.status == "voided"

    @property
    def day(self) -> date:
        return self.occurred_at.date()


class Counts(Struct):
    """A rollup's counters (or a group's, or what one event adds: then `events` is 1 or -1)."""

    events: int = 0
    flagged_events: int = 0
    credits: Decimal = Decimal(0)
    flagged_credits: Decimal = Decimal(0)
    flags: dict[str, int] = field(default_factory=dict)
    escalation_codes: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        with exact_sums():
            self.events += other.events
            self.flagged_events += other.flagged_events
            self.credits += other.credits
            self.flagged_credits += other.flagged_credits
        for mine, theirs in ((self.flags, other.flags), (self.escalation_codes, other.escalation_codes)):
            for name, count in theirs.items():
                mine[name] = mine.get(name, 0) + count

    def negated(self) -> Counts:
        return Counts(
            events=-self.events,
            flagged_events=-self.flagged_events,
            credits=-self.credits,
            flagged_credits=-self.flagged_credits,
            flags={name: -count for name, count in self.flags.items()},
            escalation_codes={code: -count for code, count in self.escalation_codes.items()},
        )


def contribution(usage: RecordedUsage) -> Counts:
    """What one recorded event adds to its rollup; a void subtracts exactly this (`negated`)."""
    flagged = bool(usage.guardrail.flags or usage.guardrail.escalation_codes)
    return Counts(
        events=1,
        flagged_events=1 if flagged else 0,
        credits=usage.credits,
        flagged_credits=usage.credits if flagged else Decimal(0),
        flags=dict.fromkeys(usage.guardrail.flags, 1),
        escalation_codes=dict.fromkeys(usage.guardrail.escalation_codes, 1),
    )


class RollupKey(Struct, frozen=True):
    residency: str
    day: date
    organization_id: str
    service: str


class Fold(Struct, frozen=True):
    """One change to the rollups: an event's contribution added (`recorded`) or taken back
    (`voided`), applied once per (event, change) however often the stream delivers it."""

    event_id: str
    change: Literal["recorded", "voided"]
    key: RollupKey
    counts: Counts
    recorded_at: datetime


def fold_of(usage: RecordedUsage, residency: str, *, voided: bool) -> Fold:
    counts = contribution(usage)
    return Fold(
        event_id=usage.event_id,
        change="voided" if voided else "recorded",
        key=RollupKey(residency, usage.day, usage.organization_id, usage.service),
        counts=counts.negated() if voided else counts,
        recorded_at=usage.recorded_at,
    )


# --- reports ---------------------------------------------------------------------------------


class Rollup(Struct, frozen=True):
    """One stored rollup, as a report reads it."""

    day: date
    organization_id: str
    service: str
    counts: Counts


class ReportQuery(Struct, frozen=True):
    """A validated report request: the window's days (both included), the groupings in key order,
    the filters, the residency and the organization it is scoped to (None: all of the residency)."""

    first_day: date
    last_day: date
    group_by: tuple[Grouping, ...]
    residency: str
    organization_id: str | None = None
    service: str | None = None
    flag: str | None = None

    @property
    def by_time_first(self) -> bool:
        """Groups ordered by a time key first can be read bucket by bucket, in day order."""
        return self.group_by[0] in TIME_GROUPINGS

    def days(self, start: date | None = None) -> list[date]:
        day, days = start or self.first_day, []
        while day <= self.last_day:
            days.append(day)
            day += timedelta(days=1)
        return days

    def tag(self) -> str:
        """Ties a cursor to the report (window, groupings, filters) that produced it."""
        text = json.dumps(
            [
                self.first_day.isoformat(),
                self.last_day.isoformat(),
                self.group_by,
                self.residency,
                self.organization_id,
                self.service,
                self.flag,
            ]
        )
        return hashlib.sha256(("guardrails:" + text).encode()).hexdigest()[:16]


def report_window(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """`from`/`to` (both included): default the 30 days up to today; at most 366 days apart."""
    last = last or today
    first = first or last - timedelta(days=29)
    if first > last:
        raise ValidationFailed.naming(("from", "to"), "'from' must not be after 'to'", location="query")
    if last - first > MAX_WINDOW:
        raise ValidationFailed.naming(("from", "to"), "'from' and 'to' may be at most 366 days apart", location="query")
    return first, last


def parse_group_by(raw: str | None) -> tuple[Grouping, ...]:
    names = [part.strip() for part in (raw or "day").split(",")]
    unknown = [name for name in names if name not in GROUPINGS]
    if unknown or not names:
        raise ValidationFailed.of(
            "group_by", f"is a comma list of {', '.join(GROUPINGS)}; not {', '.join(unknown)}", location="query"
        )
    if len(set(names)) != len(names):
        raise ValidationFailed.of("group_by", "must not repeat a grouping", location="query")
    return tuple(names)  # type: ignore[return-value]


def time_bucket(grouping: str, day: date) -> str:
    if grouping == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if grouping == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return day.isoformat()


def group_key(group_by: tuple[Grouping, ...], rollup: Rollup) -> tuple[str, ...]:
    parts = []
    for grouping in group_by:
        if grouping == "organization":
            parts.append(rollup.organization_id)
        elif grouping == "service":
            parts.append(rollup.service)
        else:
            parts.append(time_bucket(grouping, rollup.day))
    return tuple(parts)


def grouped(query: ReportQuery, rollups: Iterable[Rollup]) -> dict[tuple[str, ...], Counts]:
    """The groups the rollups fall in, with their sums; a group left without events (its events
    voided) or without the wanted flag is no group."""
    groups: dict[tuple[str, ...], Counts] = {}
    for rollup in rollups:
        groups.setdefault(group_key(query.group_by, rollup), Counts()).add(rollup.counts)
    return {
        key: counts
        for key, counts in groups.items()
        if counts.events > 0 and (query.flag is None or counts.flags.get(query.flag, 0) > 0)
    }


class GuardrailGroup(BaseModel):
    """One item of the report: the group's keys (only those grouped by), then its counts (credits
    as decimal strings)."""

    model_config = ConfigDict(defer_build=True)

    day: str | None = Field(default=None, description="UTC day, 2026-11-24 (group_by day)")
    week: str | None = Field(default=None, description="ISO 8601 week, Monday to Sunday: 2026-W48 (group_by week)")
    month: str | None = Field(default=None, description="2026-11 (group_by month)")
    organization_id: str | None = Field(default=None, description="group_by organization")
    service: str | None = Field(default=None, description="group_by service")
    events: int
    flagged_events: int
    flag_rate: str
    flags: dict[str, int]
    escalation_codes: dict[str, int]
    credits: str
    flagged_credits: str

    @model_serializer(mode="wrap")
    def _only_grouped_keys(self, handler):
        return {name: part for name, part in handler(self).items() if part is not None}


def group_item(group_by: tuple[Grouping, ...], key: tuple[str, ...], counts: Counts) -> GuardrailGroup:
    keys = {KEY_NAMES[grouping]: part for grouping, part in zip(group_by, key, strict=True)}
    return GuardrailGroup(
        **keys,
        events=counts.events,
        flagged_events=counts.flagged_events,
        flag_rate=flag_rate(counts.flagged_events, counts.events),
        flags={name: n for name, n in sorted(counts.flags.items()) if n > 0},
        escalation_codes={code: n for code, n in sorted(counts.escalation_codes.items()) if n > 0},
        credits=format_decimal(counts.credits),
        flagged_credits=format_decimal(counts.flagged_credits),
    )


RATE_DIGITS = Decimal("0.000001")


def flag_rate(flagged: int, events: int) -> str:
    """flagged ÷ events to 6 decimals, half-even ("0.333333"); "0" for no events."""
    if events <= 0:
        return "0"
    return format_decimal((Decimal(flagged) / Decimal(events)).quantize(RATE_DIGITS))


class GuardrailReport(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[GuardrailGroup]
    next_cursor: str | None = None
    as_of: UtcTimestamp | None = None


# --- cursors: the last group answered, where to read on, tied to its report -------------------


class Position(Struct, frozen=True):
    """Where a page ended: the last group answered and, for a time-first report, the first day the
    next page reads (the bucket it stopped in, when that bucket holds more groups; else the next)."""

    after: tuple[str, ...]
    resume: date | None = None


def encode_cursor(query: ReportQuery, position: Position) -> str:
    document = {
        "after": list(position.after),
        "resume": position.resume.isoformat() if position.resume else None,
        "report": query.tag(),
    }
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(query: ReportQuery, cursor: str | None) -> Position | None:
    if cursor is None:
        return None
    refused = ValidationFailed.of("cursor", "is not a cursor this report returned", location="query")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after, resume, report = decoded["after"], decoded["resume"], decoded["report"]
        resume = date.fromisoformat(resume) if resume is not None else None
    except (ValueError, TypeError, KeyError, AttributeError):
        raise refused from None
    if report != query.tag() or not isinstance(after, list) or len(after) != len(query.group_by):
        raise refused
    if not all(isinstance(part, str) for part in after):
        raise refused
    if resume is not None and not query.first_day <= resume <= query.last_day:
        raise refused
    return Position(tuple(after), resume)
