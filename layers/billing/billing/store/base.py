"""What the services need from persistence, as protocols the DynamoDB store and the in-memory
fake both satisfy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: a function loads the domain modules its own code uses (cold start)
    from collections.abc import Iterable, Iterator
    from datetime import date, datetime

    from ..domain.billing_profiles import BillingProfile, Issuer
    from ..domain.credit_notes import CreditNote, CreditNoteFilters
    from ..domain.credits import CreditPosting
    from ..domain.grants import CreditGrant, GrantStatus
    from ..domain.hold_records import Hold
    from ..domain.idempotency import IdempotencyRecord
    from ..domain.invoices import Invoice, InvoiceFilters
    from ..domain.ledger import LedgerEntry
    from ..domain.paging import Page
    from ..domain.periods import Period
    from ..domain.plans import Plan
    from ..domain.subscriptions import Subscription, SubscriptionFilters
    from ..domain.usage import PeriodUsage, UsageChunk, UsageEvent, UsageFilters, UsageTotals
    from .capacity import WriteUnits

if TYPE_CHECKING:
    from .writes import InvoiceCounter, Operation  # writes.py reads this module: no import at run time


class DueIndex(Protocol):
    def due(self, residency: str, now: datetime) -> Iterator[str]:
        """The ids of the residency's subscriptions due by `now` (`Subscription.due_at`), through the
        due index: what is not due is never read."""


class PlanStore(Protocol):
    def current(self, plan_id: str) -> Plan | None:
        """The latest version with the listing's status, read consistently."""

    def version(self, plan_id: str, version: int) -> Plan | None: ...

    def active_page(self, *, limit: int, cursor: str | None) -> Page[Plan]:
        """Active plans, cheapest base fee first (ties by plan id)."""

    def versions_page(self, plan_id: str, *, limit: int, cursor: str | None) -> Page[Plan]:
        """Every version of the plan, newest first."""

    def add(self, plan: Plan) -> None:
        """Write version 1. Raises Conflict(`plan_exists`) when the plan id is taken."""

    def replace(self, plan: Plan, *, expected_version: int) -> None:
        """Write `plan` as the next version. Raises RetryableConflict when the current version is no
        longer `expected_version` or the listing was archived meanwhile."""

    def archive(self, plan_id: str, now: datetime) -> Plan:
        """Mark the listing archived (idempotent). Raises NotFound."""


class SubscriptionStore(Protocol):
    """Subscriptions, their credit ledger and the idempotency records of the changes to them.
    Every balance change is one atomic write of: the balances (guarded by the last ledger seq),
    the next ledger entry, the idempotency record when the request carried a key, and the outbox
    records of the events it reports (the posting's `events`; canceling: SubscriptionCanceled)."""

    def get(self, subscription_id: str) -> Subscription | None: ...

    def organization_page(self, organization_id: str, *, limit: int, cursor: str | None) -> Page[Subscription]:
        """Newest first."""

    def provision(self, posting: CreditPosting, *, plan: Plan, idempotency: IdempotencyRecord | None) -> None:
        """Write a new subscription with its first ledger entry and allowance grant. Raises
        Conflict(`subscription_exists`) when the organization has an active subscription,
        RetryableConflict when the plan changed meanwhile, KeyAlreadyCommitted when the
        idempotency key was used first."""

    def cancel(self, posting: CreditPosting) -> None:
        """Store the canceled subscription (`posting.subscription`: its status, `canceled_at` and
        the holds the cancellation released) with the posting's records and events
        (SubscriptionCanceled among them), and free the organization's active slot, in one write.
        Raises RetryableConflict when it is no longer active or no longer at the revision read."""

    def append(
        self, posting: CreditPosting, *, idempotency: IdempotencyRecord | None, require_active: bool = False
    ) -> None:
        """Write the posting's entries (seq n+1...), grants and the balances they leave, if the last
        seq is still n (and, with `require_active`, the subscription is still active). Raises
        RetryableConflict when another change came first, KeyAlreadyCommitted as above."""

    def active_for(self, organization_id: str) -> Subscription | None:
        """The organization's active subscription, if it has one."""

    def due(self, residency: str, now: datetime) -> Iterator[str]:
        """The ids of the residency's subscriptions due by `now` (`Subscription.due_at`), through the
        due index: what is not due is never read."""

    def residency_page(
        self, residency: str, filters: SubscriptionFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[Subscription]:
        """The residency's subscriptions matching `filters`, newest first (an index, no scan); with
        `before`, only those whose `subscription_order` sorts below it."""

    def ledger_page(self, subscription_id: str, *, limit: int, cursor: str | None) -> Page[LedgerEntry]:
        """Oldest first, by seq."""

    def idempotency_record(self, scope: str) -> IdempotencyRecord | None: ...

    def save_settings(self, subscription: Subscription, changes: dict[str, Any]) -> None:
        """Set each setting given (`low_balance_threshold_credits`, `auto_top_up`; None removes it)
        if the subscription is at the revision read, advancing it. Raises RetryableConflict."""

    def ledger_entry(self, subscription_id: str, seq: int) -> LedgerEntry | None: ...

    def grants_page(
        self, subscription: Subscription, *, status: GrantStatus | None, limit: int, cursor: str | None
    ) -> Page[CreditGrant]:
        """Newest first, active grants with the remaining credits the subscription holds for them."""

    def grant(self, subscription: Subscription, grant_id: str) -> CreditGrant:
        """One grant's record (live remaining while active). Raises NotFound."""

    def hold(self, subscription_id: str, hold_id: str) -> Hold | None: ...

    def holds_page(self, subscription_id: str, *, limit: int, cursor: str | None) -> Page[Hold]:
        """Newest first."""

    def grants_made_in(self, subscription_id: str, period: Period) -> list[CreditGrant]:
        """The grants made during the period, oldest first (its priced ones are invoice lines)."""


class UsageTotalsReader(Protocol):
    def period_totals(self, subscription_id: str, period_start: datetime) -> UsageTotals:
        """The period aggregate's totals (zero when nothing was recorded)."""


class UsageStore(UsageTotalsReader, Protocol):
    def find_events(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], UsageEvent]:
        """Recorded events by (organization, idempotency key)."""

    def record(self, posting: CreditPosting, chunk: UsageChunk) -> WriteUnits:
        """Commit a chunk of events for one subscription atomically with its credit posting (grants,
        balances, ledger entries) and period aggregate, in one transaction of at most 100 items.
        Raises RetryableConflict or DuplicateKeys."""

    def event(self, event_id: str) -> UsageEvent | None:
        """The event of that id (whatever its organization), as stored."""

    def correct(self, write: list[Operation], idempotency: IdempotencyRecord | None) -> None:
        """A usage correction (store/writes.py `correction_write`). Raises KeyAlreadyCommitted,
        RetryableConflict."""

    def events_page(
        self, subscription_id: str, filters: UsageFilters, *, limit: int, cursor: str | None
    ) -> Page[UsageEvent]:
        """Newest first (by occurrence)."""

    def period_usage(self, subscription_id: str, period_start: datetime) -> PeriodUsage: ...

    def period_usages(self, subscription_id: str, period_starts: list[datetime]) -> dict[datetime, PeriodUsage]:
        """The aggregates of several periods at once (a period without usage is absent)."""

    def day_aggregates(
        self, subscription_id: str, first_period: datetime, last_period: datetime
    ) -> list[tuple[datetime, date, PeriodUsage]]:
        """(period start, UTC day recorded, usage) of the periods starting in [first, last], oldest first."""


class PeriodClosingQueue(Protocol):
    def send(self, subscription_ids: Iterable[str], now: datetime) -> int:
        """Queue each subscription for its close as of `now`, one message each. Returns how many
        were sent; raises when some could not be."""


class InvoiceStore(Protocol):
    """Invoices; each write of one (draft, issue, void) also writes its event's outbox record."""

    def get(self, subscription_id: str, invoice_id: str) -> Invoice | None: ...

    def latest_for_period(self, subscription_id: str, period_start: datetime) -> Invoice | None:
        """The period's latest invoice revision."""

    def residency_page(
        self, residency: str, filters: InvoiceFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[Invoice]:
        """The residency's invoices matching `filters`, newest period first (an index, no scan);
        with `before`, only those whose `invoice_order` sorts below it."""

    def latest_for_periods(self, subscription_id: str, first: datetime, last: datetime) -> dict[datetime, Invoice]:
        """The latest revision of each period's invoice, for periods starting in [first, last]."""

    def page(self, subscription_id: str, *, limit: int, cursor: str | None) -> Page[Invoice]:
        """Newest period first."""

    def save_draft(self, invoice: Invoice, previous: Invoice | None) -> None:
        """Write (or replace) a draft, if the period's invoice is still `previous` as read. Raises
        Conflict(`invoice_not_draft`) when it was issued or voided, RetryableConflict when it changed."""

    def billing_profile(self, organization_id: str) -> BillingProfile | None:
        """The organization's billing profile (kept with the invoices: what they are addressed to)."""

    def save_billing_profile(self, profile: BillingProfile) -> None:
        """Write the profile. Raises Forbidden(`residency_mismatch`) when it is kept in another residency."""

    def issue(self, invoice: Invoice, now: datetime, *, profile: BillingProfile | None, issuer: Issuer) -> Invoice:
        """Give the draft (as read) the next gapless number and freeze it, addressed to `profile`
        (copied) from `issuer`, due after the profile's net terms. Raises
        Conflict(`invoice_not_draft`), or RetryableConflict when the number or the draft moved."""

    def void(self, invoice: Invoice, now: datetime) -> Invoice:
        """Void the invoice as read (draft or issued). Returns it as stored when it is void already;
        raises RetryableConflict when it changed since it was read."""

    def next_credit_note_number(self) -> tuple[str, InvoiceCounter | None]:
        """The number the next credit note takes, and the counter as read (the write's condition)."""

    def issue_credit_note(
        self,
        note: CreditNote,
        invoice: Invoice,
        *,
        counter: InvoiceCounter | None,
        posting: CreditPosting | None,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        """In one transaction (store/writes.py issue_credit_note): advance the credit note counter
        (if still as read), add the note's amounts to the invoice's credited lines (if it is still
        issued and as read), the
        note, its CreditNoteIssued event, `posting` (credits it grants, on an active subscription)
        and the idempotency record. Raises KeyAlreadyCommitted, Conflict(`invoice_not_issued`) or
        RetryableConflict."""

    def credit_note(self, subscription_id: str, invoice_id: str, credit_note_id: str) -> CreditNote | None: ...

    def credit_notes_page(
        self, subscription_id: str, invoice_id: str, *, limit: int, cursor: str | None
    ) -> Page[CreditNote]:
        """The invoice's credit notes, newest first."""

    def residency_credit_notes_page(
        self, residency: str, filters: CreditNoteFilters, *, limit: int, cursor: str | None, before: str | None = None
    ) -> Page[CreditNote]:
        """The residency's credit notes matching `filters`, newest first (an index, no scan); with
        `before`, only those that sort below it (`credit_note_order`)."""

    def close_period(
        self,
        posting: CreditPosting,
        draft: Invoice | None,
        previous: Invoice | None,
        *,
        idempotency: IdempotencyRecord | None = None,
        require_active: bool = False,
    ) -> None:
        """In one transaction: the period's draft, the posting (expiries, the next allowance grant) and
        the subscription's next period, if nothing changed the subscription since it was read (and it
        is still active, with `require_active`), with the idempotency record of the request that
        closes it (a plan change now). Raises KeyAlreadyCommitted when that key committed first,
        RetryableConflict otherwise, and when the draft's invoice was issued or voided meanwhile."""
