"""In-memory stores with the DynamoDB stores' semantics (conditional writes, ordering, cursors),
for fast unit tests of the services."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from ..domain.billing_profiles import BillingProfile, Issuer
from ..domain.closing import DueClose
from ..domain.credit_notes import (
    CreditNote,
    CreditNoteFilters,
    credit_note_number,
    credit_note_order,
    credited_after,
)
from ..domain.errors import Conflict, Forbidden, NotFound, RetryableConflict
from ..domain.events import OutboxEvent, credit_note_issued, invoice_event
from ..domain.grants import CreditGrant
from ..domain.idempotency import IdempotencyRecord, KeyAlreadyCommitted
from ..domain.invoices import Invoice, InvoiceFilters, invoice_id, invoice_order
from ..domain.ledger import LedgerEntry
from ..domain.paging import Page, not_a_cursor, open_cursor, seal_cursor
from ..domain.periods import Period
from ..domain.plans import Plan
from ..domain.subscriptions import (
    CREDIT_FIELDS,
    PERIOD_FIELDS,
    CreditPosting,
    Subscription,
    SubscriptionFilters,
    subscription_exists,
    subscription_order,
)
from ..domain.usage import PeriodUsage, UsageEvent, UsageTotals
from .base import DuplicateKeys
from .capacity import WriteUnits


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


class InMemorySubscriptionStore:
    """Same contract as DynamoSubscriptionStore: every write checks its conditions and lands whole."""

    def __init__(self, plans: InMemoryPlanStore) -> None:
        self._plans = plans
        self._subscriptions: dict[str, Subscription] = {}
        self._active: dict[str, str] = {}
        self._ledger: dict[str, list[LedgerEntry]] = {}
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._grants: dict[tuple[str, str], CreditGrant] = {}
        self.holds: dict[tuple[str, str], object] = {}  # hold records, by (subscription, hold id)
        self.outbox: list[OutboxEvent] = []  # every store's events, appended under the lock with their change
        self._lock = threading.Lock()

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
        return _page(self._ledger.get(subscription_id, []), limit, cursor, key=lambda e: str(e.seq))

    def idempotency_record(self, scope: str) -> IdempotencyRecord | None:
        return self._idempotency.get(scope)

    def _claim_key(self, record: IdempotencyRecord | None) -> None:
        if record is None:
            return
        existing = self._idempotency.get(record.scope)
        if existing is not None and existing.is_live(record.created_at):
            raise KeyAlreadyCommitted()

    def provision(self, posting: CreditPosting, *, plan: Plan, idempotency: IdempotencyRecord | None) -> None:
        subscription = posting.subscription
        with self._lock:
            self._claim_key(idempotency)
            if subscription.organization_id in self._active:
                raise subscription_exists(subscription.organization_id, self._active[subscription.organization_id])
            current = self._plans.current(plan.plan_id)
            if current is None or not current.is_active or current.version != plan.version:
                raise RetryableConflict("The plan changed while subscribing; retry.")
            self._active[subscription.organization_id] = subscription.subscription_id
            self._subscriptions[subscription.subscription_id] = subscription
            self._ledger[subscription.subscription_id] = []
            self.post(posting, subscription)
            if idempotency:
                self._idempotency[idempotency.scope] = idempotency

    def cancel(self, posting: CreditPosting) -> None:
        subscription = posting.subscription
        with self._lock:
            stored = self.stored_for(posting, require_active=True)
            self.post(posting, stored.taking(subscription, (*CREDIT_FIELDS, "status", "canceled_at")))
            self._active.pop(subscription.organization_id, None)

    def append(
        self, posting: CreditPosting, *, idempotency: IdempotencyRecord | None, require_active: bool = False
    ) -> None:
        with self._lock:
            self._claim_key(idempotency)
            stored = self.stored_for(posting, require_active=require_active)
            self.post(posting, stored.taking(posting.subscription, CREDIT_FIELDS))
            if idempotency:
                self._idempotency[idempotency.scope] = idempotency

    def save_settings(self, subscription: Subscription, changes: dict) -> None:
        with self._lock:
            stored = self._subscriptions[subscription.subscription_id]
            if stored.revision != subscription.revision:
                raise RetryableConflict("The subscription changed while its settings were saved; retry.")
            update = changes | {"revision": stored.revision + 1}
            self._subscriptions[subscription.subscription_id] = stored.model_copy(update=update)

    def stored_for(self, posting: CreditPosting, *, require_active: bool) -> Subscription:
        """The stored subscription, if the posting's conditions hold (call under the lock)."""
        stored = self._subscriptions.get(posting.subscription.subscription_id)
        if stored is None or stored.revision != posting.previous_revision or (require_active and not stored.is_active):
            raise RetryableConflict("The balance changed meanwhile; retry.")
        ended = [self._grants.get((stored.subscription_id, end.grant_id)) for end in posting.ended]
        if any(grant is None or grant.status != "active" for grant in ended):
            raise RetryableConflict("A grant changed meanwhile; retry.")
        holds = [self.holds.get((stored.subscription_id, end.hold_id)) for end in posting.holds_ended]
        if any(hold is None or hold.status != "held" for hold in holds):
            raise RetryableConflict("A hold changed meanwhile; retry.")
        return stored

    def post(self, posting: CreditPosting, subscription: Subscription) -> None:
        """Apply a posting whose conditions were checked (call under the lock)."""
        subscription_id = subscription.subscription_id
        self._subscriptions[subscription_id] = subscription
        self._ledger[subscription_id].extend(posting.entries)
        self.outbox.extend(posting.events)
        for grant in posting.started:
            self._grants[(subscription_id, grant.grant_id)] = grant
        for hold in posting.holds_placed:
            self.holds[(subscription_id, hold.hold_id)] = hold
        for end in posting.holds_ended:
            self.holds[(subscription_id, end.hold_id)] = self.holds[(subscription_id, end.hold_id)].model_copy(
                update={"status": end.status, "ended_at": end.at, "settled_event_id": end.settled_event_id}
            )
        for end in posting.ended:
            grant = self._grants[(subscription_id, end.grant_id)]
            self._grants[(subscription_id, end.grant_id)] = grant.model_copy(update=end.record_changes())

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
    """Usage rows and period aggregates; `record` checks the subscription store's seq like the
    DynamoDB transaction does, under the same lock."""

    def __init__(self, subscriptions: InMemorySubscriptionStore | None = None) -> None:
        self._subscriptions = subscriptions
        self.events: dict[tuple[str, str], UsageEvent] = {}
        self.aggregates: dict[tuple[str, datetime], list[UsageEvent]] = {}
        self.totals: dict[tuple[str, datetime], UsageTotals] = {}  # set directly by tests of health

    def find_events(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], UsageEvent]:
        return {k: self.events[k] for k in keys if k in self.events}

    def record(
        self,
        posting: CreditPosting,
        events: list[UsageEvent],
        usage: PeriodUsage,
        *,
        period_start: datetime,
        period_end: datetime,
    ) -> WriteUnits:
        store, subscription = self._subscriptions, posting.subscription
        with store._lock:
            stored = store.stored_for(posting, require_active=True)
            taken = [i for i, e in enumerate(events) if (e.organization_id, e.idempotency_key) in self.events]
            if taken:
                raise DuplicateKeys(taken)
            store.post(posting, stored.taking(subscription, CREDIT_FIELDS))
            for event in events:
                self.events[(event.organization_id, event.idempotency_key)] = event
            self.aggregates.setdefault((subscription.subscription_id, period_start), []).extend(events)
        return WriteUnits(table=0, indexes=0)

    def events_page(
        self, subscription_id: str, *, start, end, service, guardrail_flag, limit: int, cursor: str | None
    ) -> Page[UsageEvent]:
        chosen = [
            e
            for e in self.events.values()
            if e.subscription_id == subscription_id
            and (start is None or e.occurred_at >= start)
            and (end is None or e.occurred_at < end)
            and (service is None or e.service == service)
            and (guardrail_flag is None or guardrail_flag in e.guardrail.flags)
        ]
        chosen.sort(key=lambda e: (e.occurred_at, e.event_id), reverse=True)
        return _page(chosen, limit, cursor, key=lambda e: e.event_id)

    def period_usage(self, subscription_id: str, period_start: datetime) -> PeriodUsage:
        return PeriodUsage.of(self.aggregates.get((subscription_id, period_start), []))

    def period_usages(self, subscription_id: str, period_starts: list[datetime]) -> dict[datetime, PeriodUsage]:
        return {
            s: self.period_usage(subscription_id, s) for s in period_starts if (subscription_id, s) in self.aggregates
        }

    def day_aggregates(
        self, subscription_id: str, first_period: datetime, last_period: datetime
    ) -> list[tuple[datetime, date, PeriodUsage]]:
        by_day: dict[tuple[datetime, date], list[UsageEvent]] = {}
        for (sid, start), events in self.aggregates.items():
            if sid == subscription_id and first_period <= start <= last_period:
                for event in events:
                    by_day.setdefault((start, event.recorded_at.date()), []).append(event)
        return [(start, day, PeriodUsage.of(by_day[(start, day)])) for start, day in sorted(by_day)]

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
    """Invoices and the invoice-number counter; `close_period` writes through the subscription store
    under its lock, with the same conditions as the DynamoDB transaction."""

    def __init__(self, subscriptions: InMemorySubscriptionStore) -> None:
        self._subscriptions = subscriptions
        self.invoices: dict[tuple[str, str], Invoice] = {}
        self.last_number = 0
        self.profiles: dict[str, BillingProfile] = {}
        self.credit_notes: dict[tuple[str, str], list[CreditNote]] = {}  # (subscription, invoice) -> oldest first
        self.last_credit_note_number = 0

    def next_credit_note_number(self) -> tuple[str, int]:
        return credit_note_number(self.last_credit_note_number + 1), self.last_credit_note_number

    def issue_credit_note(
        self,
        note: CreditNote,
        invoice: Invoice,
        *,
        counter: int,
        posting: CreditPosting | None,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        store = self._subscriptions
        with store._lock:
            store._claim_key(idempotency)
            stored = self.invoices[(invoice.subscription_id, invoice.invoice_id)]
            if stored.status != "issued":
                raise Conflict(
                    f"Invoice '{invoice.invoice_id}' is {stored.status}; only issued invoices take credit notes.",
                    code="invoice_not_issued",
                )
            if counter != self.last_credit_note_number or stored.credit_notes != invoice.credit_notes:
                raise RetryableConflict("Another credit note came first; retry.")
            if posting is not None:
                kept = store.stored_for(posting, require_active=True)
                store.post(posting, kept.taking(posting.subscription, CREDIT_FIELDS))
            credited = credited_after(stored, note)
            self.invoices[(invoice.subscription_id, invoice.invoice_id)] = stored.model_copy(
                update={
                    "credited_by_line": credited,
                    "credited_cents": sum(credited),
                    "credit_notes": stored.credit_notes + 1,
                }
            )
            self.last_credit_note_number += 1
            self.credit_notes.setdefault((note.subscription_id, note.invoice_id), []).append(note)
            store.outbox.append(credit_note_issued(note))
            if idempotency:
                store._idempotency[idempotency.scope] = idempotency

    def credit_note(self, subscription_id: str, invoice_id: str, credit_note_id: str) -> CreditNote | None:
        notes = self.credit_notes.get((subscription_id, invoice_id), [])
        return next((note for note in notes if note.credit_note_id == credit_note_id), None)

    def credit_notes_page(
        self, subscription_id: str, invoice_id: str, *, limit: int, cursor: str | None
    ) -> Page[CreditNote]:
        newest = sorted(
            self.credit_notes.get((subscription_id, invoice_id), []), key=lambda n: n.credit_note_id, reverse=True
        )
        return _page(newest, limit, cursor, key=lambda n: n.credit_note_id)

    def residency_credit_notes_page(
        self, residency: str, filters: CreditNoteFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[CreditNote]:
        chosen = [
            note
            for notes in self.credit_notes.values()
            for note in notes
            if note.residency == residency
            and filters.matches(note)
            and (before is None or credit_note_order(note) < before)
        ]
        chosen.sort(key=credit_note_order, reverse=True)
        return _page(chosen, limit, cursor, key=lambda n: n.credit_note_id)

    def billing_profile(self, organization_id: str) -> BillingProfile | None:
        return self.profiles.get(organization_id)

    def save_billing_profile(self, profile: BillingProfile) -> None:
        with self._subscriptions._lock:
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
        chosen.sort(key=lambda i: (i.period_start, i.invoice_id), reverse=True)
        return _page(chosen, limit, cursor, key=lambda i: i.invoice_id)

    def latest_for_periods(self, subscription_id: str, first: datetime, last: datetime) -> dict[datetime, Invoice]:
        starts = {i.period_start for (sid, _), i in self.invoices.items() if sid == subscription_id}
        return {s: self.latest_for_period(subscription_id, s) for s in starts if first <= s <= last}

    def latest_for_period(self, subscription_id: str, period_start: datetime) -> Invoice | None:
        prefix = invoice_id(subscription_id, period_start)
        revisions = [i for (sid, iid), i in self.invoices.items() if sid == subscription_id and iid.startswith(prefix)]
        return max(revisions, key=lambda i: i.revision) if revisions else None

    def _check_draft(self, invoice: Invoice, previous: Invoice | None) -> None:
        stored = self.invoices.get((invoice.subscription_id, invoice.invoice_id))
        if stored is not None and not stored.is_draft:
            raise Conflict(f"Invoice '{invoice.invoice_id}' is no longer a draft.", code="invoice_not_draft")
        replacing = previous is not None and previous.invoice_id == invoice.invoice_id
        if (stored is not None) != replacing or (stored is not None and stored.updated_at != previous.updated_at):
            raise RetryableConflict("The draft changed while it was being redrafted; retry.")

    def save_draft(self, invoice: Invoice, previous: Invoice | None) -> None:
        with self._subscriptions._lock:
            self._check_draft(invoice, previous)
            self._write(invoice, "InvoiceDrafted", invoice.updated_at)

    def _write(self, invoice: Invoice, detail_type, at: datetime) -> None:
        """Store the invoice with its event (call under the lock)."""
        self.invoices[(invoice.subscription_id, invoice.invoice_id)] = invoice
        self._subscriptions.outbox.append(invoice_event(detail_type, invoice, at=at))

    def issue(self, invoice: Invoice, now: datetime, *, profile: BillingProfile | None, issuer: Issuer) -> Invoice:
        with self._subscriptions._lock:
            stored = self.invoices[(invoice.subscription_id, invoice.invoice_id)]
            if not stored.is_draft:
                raise Conflict(f"Invoice '{invoice.invoice_id}' is no longer a draft.", code="invoice_not_draft")
            if stored.updated_at != invoice.updated_at:
                raise RetryableConflict("The draft changed; retry.")
            self.last_number += 1
            issued = stored.issued(f"INV-{self.last_number:06d}", now, profile, issuer)
            self._write(issued, "InvoiceIssued", now)
            return issued

    def void(self, invoice: Invoice, now: datetime) -> Invoice:
        with self._subscriptions._lock:
            stored = self.invoices[(invoice.subscription_id, invoice.invoice_id)]
            if stored.status == "void":
                return stored
            if stored.credit_notes:
                raise Conflict(
                    f"Invoice '{invoice.invoice_id}' has credit notes; it is corrected by them, not voided.",
                    code="invoice_credited",
                )
            if stored.updated_at != invoice.updated_at:
                raise RetryableConflict("The invoice changed while it was being voided; retry.")
            voided = stored.model_copy(update={"status": "void", "voided_at": now, "updated_at": now})
            self._write(voided, "InvoiceVoided", now)
            return voided

    def close_period(
        self,
        posting: CreditPosting,
        draft: Invoice | None,
        *,
        previous_period_start: datetime,
        previous_draft: Invoice | None = None,
    ) -> None:
        store = self._subscriptions
        with store._lock:
            stored = store.stored_for(posting, require_active=False)
            if stored.current_period_start != previous_period_start or stored.final_period_closed:
                raise RetryableConflict("The subscription changed while closing the period; retry.")
            if draft is not None:
                try:
                    self._check_draft(draft, previous_draft)
                except Conflict:
                    raise RetryableConflict("The period's invoice changed while closing it; retry.") from None
                self._write(draft, "InvoiceDrafted", draft.updated_at)
            store.post(posting, stored.taking(posting.subscription, CREDIT_FIELDS + PERIOD_FIELDS))
