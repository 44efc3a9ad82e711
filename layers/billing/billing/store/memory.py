"""In-memory stores with the DynamoDB stores' semantics (conditional writes, ordering, cursors),
for fast unit tests of the services."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, get_args

from ..domain.billing_profiles import BillingProfile, Issuer
from ..domain.closing import DueClose
from ..domain.credit_notes import CreditNote, CreditNoteFilters, credit_note_order
from ..domain.credits import CreditPosting
from ..domain.errors import Conflict, Forbidden, NotFound, RetryableConflict
from ..domain.events import OutboxEvent
from ..domain.grants import CreditGrant
from ..domain.hold_records import Hold
from ..domain.idempotency import IdempotencyRecord
from ..domain.invoices import Invoice, InvoiceFilters, invoice_id, invoice_order
from ..domain.ledger import LedgerEntry
from ..domain.paging import Page, not_a_cursor, open_cursor, seal_cursor
from ..domain.periods import Period
from ..domain.plans import Plan
from ..domain.subscriptions import Subscription, SubscriptionFilters, subscription_exists, subscription_order
from ..domain.usage import PeriodUsage, UsageChunk, UsageEvent, UsageFilters, UsageTotals
from . import writes
from .capacity import WriteUnits
from .writes import Add, Kind, Operation, Put, Update, WriteRefused


class InMemoryPlanStore:
    def __init__(self) -> None:
        self._current: dict[str, Plan] = {}
        self._versions: dict[tuple[str, int], Plan] = {}
        self._lock = threading.Lock()

    def current(self, plan_id: str) -> Plan | None:
        return self._current.get(plan_id)

    def version(self, plan_id: str, version: int) -> Plan | None:
        return self._versions.get((plan_id, version))

    def active_page(self, *, limit: int, cursor: str | None) -> Page[Plan]:
        ordered = sorted(
            (p for p in self._current.values() if p.is_active), key=lambda p: (p.base_fee_cents, p.plan_id)
        )
        return _page(ordered, limit, cursor, key=lambda p: p.plan_id)

    def versions_page(self, plan_id: str, *, limit: int, cursor: str | None) -> Page[Plan]:
        versions = sorted((p for (pid, _), p in self._versions.items() if pid == plan_id), key=lambda p: -p.version)
        return _page(versions, limit, cursor, key=lambda p: f"{p.version:06d}")

    def add(self, plan: Plan) -> None:
        with self._lock:
            if plan.plan_id in self._current:
                raise Conflict(f"Plan '{plan.plan_id}' already exists.", code="plan_exists")
            self._current[plan.plan_id] = plan
            self._versions[(plan.plan_id, plan.version)] = plan

    def replace(self, plan: Plan, *, expected_version: int) -> None:
        with self._lock:
            current = self._current.get(plan.plan_id)
            if current is None or current.version != expected_version or not current.is_active:
                raise RetryableConflict(f"Plan '{plan.plan_id}' changed while it was being revised; retry.")
            self._current[plan.plan_id] = plan
            self._versions[(plan.plan_id, plan.version)] = plan

    def archive(self, plan_id: str, now: datetime) -> Plan:
        with self._lock:
            current = self._current.get(plan_id)
            if current is None:
                raise NotFound(f"No plan '{plan_id}'.")
            if current.is_active:
                self._current[plan_id] = current.archived(now)
            return self._current[plan_id]


class Records:
    """The records of the in-memory stores, by kind and key (store/writes.py), and the one lock
    every write takes: the in-memory interpreter of a write. It applies a write whole or not at
    all, checking each operation's condition as the description states it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tables: dict[Kind, dict[Hashable, Any]] = {kind: {} for kind in get_args(Kind)}

    def apply(self, write: Sequence[Operation]) -> WriteUnits:
        with self.lock:
            self.apply_locked(write)
        return WriteUnits(table=0, indexes=0)  # nothing is billed in memory

    def apply_locked(self, write: Sequence[Operation]) -> None:
        failed = [position for position, operation in enumerate(write) if not self._holds(operation)]
        if failed:
            raise WriteRefused(failed)
        for operation in write:
            table = self.tables[operation.kind]
            if isinstance(operation, Put):
                table[operation.key] = operation.record
            elif isinstance(operation, Update):
                table[operation.key] = table[operation.key].model_copy(update=dict(operation.changes))
            else:
                found = table.get(operation.key)
                table[operation.key] = PeriodUsage.merged([found, operation.usage]) if found else operation.usage

    def _holds(self, operation: Operation) -> bool:
        found = self.tables[operation.kind].get(operation.key)
        if isinstance(operation, Add):
            return True
        expected = operation.expected
        if isinstance(operation, Put) and expected is None:
            lapsed = operation.lapsed_by is not None and found is not None and found.expires_at < operation.lapsed_by
            return found is None or lapsed
        return found is not None and all(getattr(found, name) == wanted for name, wanted in expected.items())

    @property
    def outbox(self) -> list[OutboxEvent]:
        """Every event written, in the order written."""
        return [event for events in self.tables["outbox"].values() for event in events]


class InMemorySubscriptionStore:
    """Same contract as DynamoSubscriptionStore: every credit write is a write description
    (store/writes.py) the records apply whole, checking its conditions."""

    def __init__(self, plans: InMemoryPlanStore, records: Records | None = None) -> None:
        self._plans = plans
        self.records = records or Records()
        self._active: dict[str, str] = {}
        tables = self.records.tables
        self._subscriptions: dict[str, Subscription] = tables["subscription"]
        self._idempotency: dict[str, IdempotencyRecord] = tables["idempotency"]
        self._grants: dict[tuple[str, str], CreditGrant] = tables["grant"]
        self.holds: dict[tuple[str, str], Hold] = tables["hold"]
        self._lock = self.records.lock

    @property
    def outbox(self) -> list[OutboxEvent]:
        return self.records.outbox

    def get(self, subscription_id: str) -> Subscription | None:
        return self._subscriptions.get(subscription_id)

    def organization_page(self, organization_id: str, *, limit: int, cursor: str | None) -> Page[Subscription]:
        mine = sorted(
            (s for s in self._subscriptions.values() if s.organization_id == organization_id),
            key=lambda s: s.subscription_id,
            reverse=True,
        )
        return _page(mine, limit, cursor, key=lambda s: s.subscription_id)

    def due(self, residency: str, now: datetime) -> Iterator[str]:
        due = [s for s in self._subscriptions.values() if s.residency == residency and s.due_at and s.due_at <= now]
        return iter([s.subscription_id for s in sorted(due, key=lambda s: (s.due_at, s.subscription_id))])

    def active_for(self, organization_id: str) -> Subscription | None:
        subscription_id = self._active.get(organization_id)
        return self._subscriptions.get(subscription_id) if subscription_id else None

    def residency_page(
        self, residency: str, filters: SubscriptionFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[Subscription]:
        chosen = [
            s
            for s in self._subscriptions.values()
            if s.residency == residency and filters.matches(s) and (before is None or subscription_order(s) < before)
        ]
        chosen.sort(key=lambda s: s.subscription_id, reverse=True)
        return _page(chosen, limit, cursor, key=lambda s: s.subscription_id)

    def ledger_page(self, subscription_id: str, *, limit: int, cursor: str | None) -> Page[LedgerEntry]:
        ledger = self.records.tables["ledger"]
        mine = [ledger[key] for key in sorted(key for key in ledger if key[0] == subscription_id)]
        return _page(mine, limit, cursor, key=lambda e: str(e.seq))

    def ledger_entry(self, subscription_id: str, seq: int) -> LedgerEntry | None:
        return self.records.tables["ledger"].get((subscription_id, seq))

    def idempotency_record(self, scope: str) -> IdempotencyRecord | None:
        return self._idempotency.get(scope)

    def provision(self, posting: CreditPosting, *, plan: Plan, idempotency: IdempotencyRecord | None) -> None:
        subscription = posting.subscription
        with self._lock:
            if subscription.organization_id in self._active:
                raise subscription_exists(subscription.organization_id, self._active[subscription.organization_id])
            current = self._plans.current(plan.plan_id)
            if current is None or not current.is_active or current.version != plan.version:
                raise RetryableConflict("The plan changed while subscribing; retry.")
            writes.post(self.records.apply_locked, posting, idempotency=idempotency, new=True)
            self._active[subscription.organization_id] = subscription.subscription_id

    def cancel(self, posting: CreditPosting) -> None:
        with self._lock:
            writes.post(self.records.apply_locked, posting)
            self._active.pop(posting.subscription.organization_id, None)

    def append(
        self, posting: CreditPosting, *, idempotency: IdempotencyRecord | None, require_active: bool = False
    ) -> None:
        writes.post(self.records.apply, posting, idempotency=idempotency, require_active=require_active)

    def save_settings(self, subscription: Subscription, changes: dict) -> None:
        writes.save_settings(self.records.apply, subscription, changes)

    def grants_page(
        self, subscription: Subscription, *, status: str | None, limit: int, cursor: str | None
    ) -> Page[CreditGrant]:
        live = {g.grant_id: g for g in subscription.grants}
        mine = sorted(
            (
                g.as_of(live.get(g.grant_id))
                for (sid, _), g in self._grants.items()
                if sid == subscription.subscription_id and (status is None or g.status == status)
            ),
            key=lambda g: g.grant_id,
            reverse=True,
        )
        return _page(mine, limit, cursor, key=lambda g: g.grant_id)

    def grant(self, subscription: Subscription, grant_id: str) -> CreditGrant:
        found = self._grants.get((subscription.subscription_id, grant_id))
        if found is None:
            raise NotFound(f"No grant '{grant_id[:128]}' on this subscription.")
        return found.as_of({g.grant_id: g for g in subscription.grants}.get(grant_id))

    def hold(self, subscription_id: str, hold_id: str):
        return self.holds.get((subscription_id, hold_id))

    def holds_page(self, subscription_id: str, *, limit: int, cursor: str | None):
        mine = sorted(
            (h for (sid, _), h in self.holds.items() if sid == subscription_id), key=lambda h: h.hold_id, reverse=True
        )
        return _page(mine, limit, cursor, key=lambda h: h.hold_id)

    def grants_made_in(self, subscription_id: str, period: Period) -> list[CreditGrant]:
        return sorted(
            (g for (sid, _), g in self._grants.items() if sid == subscription_id and g.period_start == period.start),
            key=lambda g: g.grant_id,
        )


def _newest_first(items: list, order: Callable, limit: int, cursor: str | None, *, key: Callable) -> Page:
    return _page(sorted(items, key=order, reverse=True), limit, cursor, key=key)


def _page(items: list, limit: int, cursor: str | None, *, key) -> Page:
    keys = [key(i) for i in items]
    start = 0
    if cursor is not None:
        after = open_cursor(cursor).get("after")
        if after not in keys:
            raise not_a_cursor()
        start = keys.index(after) + 1
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return Page(items=chunk, next_cursor=seal_cursor({"after": key(chunk[-1])}) if more and chunk else None)


class InMemoryUsageStore:
    """Usage events and their day aggregates, written by the same write descriptions as DynamoDB's."""

    def __init__(self, records: Records | None = None) -> None:
        self.records = records or Records()
        self.events: dict[tuple[str, str], UsageEvent] = self.records.tables["usage_event"]
        self.totals: dict[tuple[str, datetime], UsageTotals] = {}  # set directly by tests of health

    def find_events(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], UsageEvent]:
        return {k: self.events[k] for k in keys if k in self.events}

    def record(self, posting: CreditPosting, chunk: UsageChunk) -> WriteUnits:
        return writes.record_usage(self.records.apply, posting, chunk)

    def event(self, event_id: str) -> UsageEvent | None:
        return next((e for e in self.events.values() if e.event_id == event_id), None)

    def correct(self, write: list[writes.Operation], idempotency: IdempotencyRecord | None) -> None:
        writes.correct_usage(self.records.apply, write, idempotency)

    def events_page(
        self, subscription_id: str, filters: UsageFilters, *, limit: int, cursor: str | None
    ) -> Page[UsageEvent]:
        chosen = [e for e in self.events.values() if e.subscription_id == subscription_id and filters.matches(e)]
        return _newest_first(chosen, lambda e: (e.occurred_at, e.event_id), limit, cursor, key=lambda e: e.event_id)

    def period_usage(self, subscription_id: str, period_start: datetime) -> PeriodUsage:
        return PeriodUsage.merged(
            [u for start, _, u in self.day_aggregates(subscription_id, period_start, period_start)]
        )

    def period_usages(self, subscription_id: str, period_starts: list[datetime]) -> dict[datetime, PeriodUsage]:
        reached = {
            start for start, _, _ in self.day_aggregates(subscription_id, min(period_starts), max(period_starts))
        }
        return {s: self.period_usage(subscription_id, s) for s in period_starts if s in reached}

    def day_aggregates(
        self, subscription_id: str, first_period: datetime, last_period: datetime
    ) -> list[tuple[datetime, date, PeriodUsage]]:
        aggregates = self.records.tables["aggregate"]
        return [
            (start, day, aggregates[(sid, start, day)])
            for sid, start, day in sorted(aggregates)
            if sid == subscription_id and first_period <= start <= last_period
        ]

    def period_totals(self, subscription_id: str, period_start: datetime) -> UsageTotals:
        if (subscription_id, period_start) in self.totals:
            return self.totals[(subscription_id, period_start)]
        return self.period_usage(subscription_id, period_start).totals


class InMemoryClosingQueue:
    """What the run queued, for a test to deliver (`take`) as the queue's worker would."""

    def __init__(self) -> None:
        self.messages: list[DueClose] = []

    def send(self, subscription_ids: Iterable[str], now: datetime) -> int:
        queued = [DueClose(s, now) for s in subscription_ids]
        self.messages += queued
        return len(queued)

    def take(self) -> list[DueClose]:
        taken, self.messages = self.messages, []
        return taken


class InMemoryInvoiceStore:
    """Invoices and the invoice-number counter; a period's close is a write description the
    records apply whole, like DynamoDB's transaction."""

    def __init__(self, records: Records | None = None) -> None:
        self.records = records or Records()
        self.invoices: dict[tuple[str, str], Invoice] = self.records.tables["invoice"]
        self.credit_notes: dict[tuple[str, str, str], CreditNote] = self.records.tables["credit_note"]
        self.profiles: dict[str, BillingProfile] = {}

    def next_credit_note_number(self) -> tuple[str, writes.InvoiceCounter | None]:
        counter = self.records.tables["credit_note_counter"].get(writes.CREDIT_NOTE_COUNTER)
        return writes.next_credit_note_number(counter), counter

    def issue_credit_note(
        self,
        note: CreditNote,
        invoice: Invoice,
        *,
        counter: writes.InvoiceCounter | None,
        posting: CreditPosting | None,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        writes.issue_credit_note(
            self.records.apply, self._stored(invoice), note, invoice, counter, posting=posting, idempotency=idempotency
        )

    def credit_note(self, subscription_id: str, invoice_id: str, credit_note_id: str) -> CreditNote | None:
        return self.credit_notes.get((subscription_id, invoice_id, credit_note_id))

    def credit_notes_page(
        self, subscription_id: str, invoice_id: str, *, limit: int, cursor: str | None
    ) -> Page[CreditNote]:
        mine = [
            note for (sid, iid, _), note in self.credit_notes.items() if (sid, iid) == (subscription_id, invoice_id)
        ]
        return _newest_first(mine, lambda n: n.credit_note_id, limit, cursor, key=lambda n: n.credit_note_id)

    def residency_credit_notes_page(
        self, residency: str, filters: CreditNoteFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[CreditNote]:
        chosen = [
            note
            for note in self.credit_notes.values()
            if note.residency == residency
            and filters.matches(note)
            and (before is None or credit_note_order(note) < before)
        ]
        return _newest_first(chosen, credit_note_order, limit, cursor, key=lambda n: n.credit_note_id)

    def billing_profile(self, organization_id: str) -> BillingProfile | None:
        return self.profiles.get(organization_id)

    def save_billing_profile(self, profile: BillingProfile) -> None:
        with self.records.lock:
            kept = self.profiles.get(profile.organization_id)
            if kept is not None and kept.residency != profile.residency:
                raise Forbidden(
                    "This organization's billing profile is kept in another residency.", code="residency_mismatch"
                )
            self.profiles[profile.organization_id] = profile

    def get(self, subscription_id: str, invoice_id: str) -> Invoice | None:
        return self.invoices.get((subscription_id, invoice_id))

    def page(self, subscription_id: str, *, limit: int, cursor: str | None) -> Page[Invoice]:
        mine = sorted(
            (i for (sid, _), i in self.invoices.items() if sid == subscription_id),
            key=lambda i: i.invoice_id,
            reverse=True,
        )
        return _page(mine, limit, cursor, key=lambda i: i.invoice_id)

    def residency_page(
        self, residency: str, filters: InvoiceFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[Invoice]:
        chosen = [
            i
            for i in self.invoices.values()
            if i.residency == residency and filters.matches(i) and (before is None or invoice_order(i) < before)
        ]
        return _newest_first(
            chosen, lambda i: (i.period_start, i.invoice_id), limit, cursor, key=lambda i: i.invoice_id
        )

    def latest_for_periods(self, subscription_id: str, first: datetime, last: datetime) -> dict[datetime, Invoice]:
        starts = {i.period_start for (sid, _), i in self.invoices.items() if sid == subscription_id}
        return {s: self.latest_for_period(subscription_id, s) for s in starts if first <= s <= last}

    def latest_for_period(self, subscription_id: str, period_start: datetime) -> Invoice | None:
        prefix = invoice_id(subscription_id, period_start)
        revisions = [i for (sid, iid), i in self.invoices.items() if sid == subscription_id and iid.startswith(prefix)]
        return max(revisions, key=lambda i: i.revision) if revisions else None

    def save_draft(self, invoice: Invoice, previous: Invoice | None) -> None:
        writes.save_draft(self.records.apply, self._stored(invoice), invoice, previous)

    def issue(self, invoice: Invoice, now: datetime, *, profile: BillingProfile | None, issuer: Issuer) -> Invoice:
        counter = self.records.tables["invoice_counter"].get(writes.COUNTER)
        return writes.issue_invoice(
            self.records.apply, self._stored(invoice), counter, invoice, now, profile=profile, issuer=issuer
        )

    def void(self, invoice: Invoice, now: datetime) -> Invoice:
        return writes.void_invoice(self.records.apply, self._stored(invoice), invoice, now)

    def _stored(self, invoice: Invoice) -> Callable[[], Invoice | None]:
        return lambda: self.get(invoice.subscription_id, invoice.invoice_id)

    def close_period(
        self,
        posting: CreditPosting,
        draft: Invoice | None,
        previous: Invoice | None,
        *,
        idempotency: IdempotencyRecord | None = None,
        require_active: bool = False,
    ) -> None:
        writes.close_period(
            self.records.apply, posting, draft, previous, idempotency=idempotency, require_active=require_active
        )
