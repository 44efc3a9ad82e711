"""A write as data. Each write to a subscription's credits is described once, as operations on
records, each with the condition it needs; each store interprets the description. The DynamoDB
stores send it as one TransactWriteItems (store/dynamodb_items.py lays each record out as an
item); the in-memory stores apply it to their records under one lock, checking the same
conditions generically. A rule stated here is kept by both, so the two cannot drift apart.

Records are keyed by kind and a key of their own: a subscription by its id, a ledger entry by
(subscription, seq), a grant or a hold record by (subscription, its id), the outbox record of a
write's events by the first event's id, an idempotency record by its scope, a usage event by
(organization, idempotency key), a usage aggregate by (subscription, period start, day), an
invoice by (subscription, invoice id), a credit note by (subscription, invoice id, its id); each
number counter (invoices', credit notes') is the one record of its kind."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from msgspec import Struct

from ..domain.errors import Conflict, NotFound, RetryableConflict
from ..domain.idempotency import IdempotencyRecord, KeyAlreadyCommitted
from ..domain.periods import Period
from ..domain.subscriptions import Subscription
from .capacity import WriteUnits

if TYPE_CHECKING:
    # The invoice, credit-note and usage models are imported by the writes that make them: a credit
    # function's writes (a top-up, a hold, a plan's grant) load none of them (~10 ms of cold start).
    from ..domain.billing_profiles import BillingProfile, Issuer
    from ..domain.credit_notes import CreditNote
    from ..domain.credits import CreditPosting
    from ..domain.invoices import Invoice
    from ..domain.usage import PeriodUsage, UsageChunk, UsageEvent

# DynamoDB transactions hold 100 items; a usage chunk also writes the subscription, its ledger
# entries and grant records, and the aggregate.
MAX_TRANSACTION_ITEMS = 100

Kind = Literal[
    "subscription",
    "ledger",
    "grant",
    "hold",
    "outbox",
    "idempotency",
    "usage_event",
    "aggregate",
    "invoice",
    "invoice_counter",
    "credit_note",
    "credit_note_counter",
]


class Put(Struct, frozen=True):
    """A new record: its key must be free. With `expected`, it replaces the record there, which
    must hold those values; with `lapsed_by`, it may replace one whose `expires_at` is before then."""

    kind: Kind
    key: Hashable
    record: Any
    expected: Mapping[str, Any] | None = None
    lapsed_by: datetime | None = None


class Update(Struct, frozen=True):
    """Set `changes` on a record that exists and holds the `expected` values. `after`: the record
    as the update leaves it (a store may derive attributes of its own from it)."""

    kind: Kind
    key: Hashable
    changes: Mapping[str, Any]
    expected: Mapping[str, Any]
    after: Any = None


class Add(Struct, frozen=True):
    """Add usage to an aggregate, created when absent (no condition: counters commute)."""

    kind: Kind
    key: Hashable
    usage: PeriodUsage
    period_end: datetime  # kept on the aggregate when it is created


Operation = Put | Update | Add
COUNTER = "invoice-number"  # the key of the one invoice-number counter
CREDIT_NOTE_COUNTER = "credit-note-number"  # the key of the one credit-note-number counter


class InvoiceCounter(Struct, frozen=True):
    """The last number given of a gapless sequence (invoices', credit notes'): one a transaction
    that issues."""

    last_number: int


class DuplicateKeys(Exception):
    """A store signal: some events' keys were committed by a concurrent request (`positions` in the chunk)."""

    def __init__(self, positions: list[int]):
        super().__init__(positions)
        self.positions = positions


def counter_advance(kind: Kind, key: str, counter: InvoiceCounter | None) -> tuple[int, Put]:
    """The next number of a sequence (`counter` as read: None before the first), and the put that
    takes it if no one took it first."""
    last = counter.last_number if counter else 0
    expected = None if counter is None else {"last_number": last}
    return last + 1, Put(kind, key, InvoiceCounter(last + 1), expected=expected)


class WriteRefused(Exception):
    """A write whose conditions did not all hold: nothing of it was applied. `failed`: the
    positions of the operations whose condition failed (empty when the store lost a race it
    cannot attribute, such as a DynamoDB transaction conflict)."""

    def __init__(self, failed: list[int] | None = None) -> None:
        self.failed = failed if failed is not None else []
        super().__init__(self.failed)


def posting_write(posting: CreditPosting, *, require_active: bool = False, new: bool = False) -> list[Operation]:
    """A credit posting: the subscription's credit fields (and a close's period), if it is still at
    the revision read (active, with `require_active`; a close: still in the period it closes); its
    ledger entries and the grant and hold records it starts (new) and ends (each still active, or
    held, as read); one outbox record for its events. `new`: the posting that provisions the
    subscription (its record is new)."""
    subscription = posting.subscription
    subscription_id = subscription.subscription_id
    expected: dict[str, Any] = {"revision": posting.previous_revision}
    if require_active or posting.cancels:
        expected["status"] = "active"
    if posting.closes_period is not None:
        expected |= {"current_period_start": posting.closes_period, "final_period_closed": False}
    changes = {name: getattr(subscription, name) for name in posting.fields}
    return [
        Put("subscription", subscription_id, subscription)
        if new
        else Update("subscription", subscription_id, changes, expected, subscription),
        *(Put("ledger", (subscription_id, entry.seq), entry) for entry in posting.entries),
        *(Put("grant", (subscription_id, grant.grant_id), grant) for grant in posting.started),
        *(
            Update(
                "grant",
                (subscription_id, end.grant_id),
                {name: setting for name, setting in end.record_changes().items() if setting is not None},
                {"status": "active"},
            )
            for end in posting.ended
        ),
        *(
            Update("grant", (subscription_id, grant_id), change.changes, change.expected)
            for grant_id, change in posting.regranted
        ),
        *(Put("hold", (subscription_id, hold.hold_id), hold) for hold in posting.holds_placed),
        *(
            Update(
                "hold",
                (subscription_id, end.hold_id),
                {"status": end.status, "ended_at": end.at}
                | ({"settled_event_id": end.settled_event_id} if end.settled_event_id else {}),
                {"status": "held"},
            )
            for end in posting.holds_ended
        ),
        *([Put("outbox", posting.events[0].event_id, posting.events)] if posting.events else []),
    ]


def save_settings(apply: Apply, subscription: Subscription, changes: Mapping[str, Any]) -> None:
    """Settings (`low_balance_threshold_credits`, `auto_top_up`), if the subscription is still at the
    revision read, advancing it: a charge that read the old settings (an auto top-up) must not
    commit after them. Raises RetryableConflict."""
    changes = {**changes, "revision": subscription.revision + 1}
    after = subscription.model_copy(update=changes)
    expected = {"revision": subscription.revision}
    try:
        apply([Update("subscription", subscription.subscription_id, changes, expected, after)])
    except WriteRefused:
        raise RetryableConflict("The subscription changed while its settings were saved; retry.") from None


def idempotency_put(record: IdempotencyRecord) -> Put:
    """The first result of a keyed request: the key may be taken again only once its record lapsed."""
    return Put("idempotency", record.scope, record, lapsed_by=record.created_at)


def usage_write(posting: CreditPosting, chunk: UsageChunk) -> list[Operation]:
    """A chunk of usage: its posting (the subscription must still be active), its aggregate of each
    day its events occurred on (one, as a rule), and its events, each also the record of its key
    (so each key must be free)."""
    return [
        *posting_write(posting, require_active=True),
        *aggregate_adds(posting.subscription.subscription_id, chunk),
        *(Put("usage_event", (event.organization_id, event.idempotency_key), event) for event in chunk.events),
    ]


def aggregate_adds(subscription_id: str, chunk: UsageChunk) -> list[Add]:
    """The chunk's usage added to its period's aggregate of each UTC day its events occurred on.
    Counters commute: no condition."""
    from ..domain.usage import PeriodUsage

    days: dict[date, list] = {}
    for event in chunk.events:
        days.setdefault(event.aggregate_day, []).append(event)
    adds = []
    for day, events in days.items():
        usage = chunk.usage if len(days) == 1 else PeriodUsage.of(events)
        adds.append(
            Add(
                "aggregate",
                (subscription_id, chunk.period.start, day),
                usage,
                chunk.period.end,
            )
        )
    return adds


def correction_write(
    posting: CreditPosting,
    voided: UsageEvent,
    void_changes: Mapping[str, Any],
    period: Period,
    replacement: tuple[UsageEvent, Period] | None,
    draft: tuple[Invoice, Invoice | None] | None,
) -> list[Operation]:
    """A usage correction (void or amend) of an event of `period`: its posting (the reversal, any
    share ended again, the replacement's charge, UsageVoided); the voided event marked, if it is
    still recorded, and taken out of its day's aggregate of `period`; an amend's new event (its key
    must be free) added to its day's aggregate of its own period (the open one); and, when the
    voided event's period has a draft, that draft composed again, if it is still the draft read (an
    issue racing the correction refuses the write, which is retried and then finds the invoice issued)."""
    from ..domain.invoices import invoice_event
    from ..domain.usage import PeriodUsage

    subscription_id = posting.subscription.subscription_id
    # What the aggregates change by, one Add an aggregate (a transaction touches an item once).
    changes: dict[tuple[Period, date], list[PeriodUsage]] = {
        (period, voided.aggregate_day): [PeriodUsage.of([voided]).negated()]
    }
    if replacement is not None:
        new, new_period = replacement
        changes.setdefault((new_period, new.aggregate_day), []).append(PeriodUsage.of([new]))
    write: list[Operation] = [
        *posting_write(posting),
        Update(
            "usage_event",
            (voided.organization_id, voided.idempotency_key),
            void_changes,
            {"voided_at": None, "event_id": voided.event_id},
            voided.model_copy(update=dict(void_changes)),
        ),
        *(
            Add("aggregate", (subscription_id, at.start, day), PeriodUsage.merged(parts, changes=True), at.end)
            for (at, day), parts in changes.items()
        ),
    ]
    if replacement is not None:
        new, _ = replacement
        write.append(Put("usage_event", (new.organization_id, new.idempotency_key), new))
    if draft is not None:
        composed, previous = draft
        drafted = invoice_event("InvoiceDrafted", composed, at=composed.updated_at)
        write += [draft_put(composed, previous), Put("outbox", drafted.event_id, (drafted,))]
    return write


def draft_put(draft: Invoice, previous: Invoice | None) -> Put:
    """A draft, if the period's invoice is still as read: absent (a first draft, or a new
    revision), or the very draft read (so a draft built from older usage never overwrites a newer one)."""
    if previous is None or previous.invoice_id != draft.invoice_id:
        return Put("invoice", (draft.subscription_id, draft.invoice_id), draft)
    expected = {"status": "draft", "updated_at": previous.updated_at}
    return Put("invoice", (draft.subscription_id, draft.invoice_id), draft, expected=expected)


# --- the writes every store makes, whichever interprets them -------------------------------------

Apply = Callable[[Sequence[Operation]], WriteUnits]  # a store's interpreter


def post(
    apply: Apply,
    posting: CreditPosting,
    *,
    idempotency: IdempotencyRecord | None = None,
    require_active: bool = False,
    new: bool = False,
) -> None:
    """A credit posting, with the idempotency record of the request it answers. Raises
    KeyAlreadyCommitted when the key committed first, RetryableConflict otherwise."""
    try:
        keyed(apply, posting_write(posting, require_active=require_active, new=new), idempotency)
    except WriteRefused:
        raise RetryableConflict("The balance changed meanwhile; retry.") from None


def keyed(apply: Apply, write: list[Operation], idempotency: IdempotencyRecord | None) -> None:
    """The write with the idempotency record of the request it answers, last. Raises
    KeyAlreadyCommitted when the key committed first, WriteRefused when another condition failed."""
    if idempotency is not None:
        write = [*write, idempotency_put(idempotency)]
    try:
        apply(write)
    except WriteRefused as refused:
        if idempotency is not None and len(write) - 1 in refused.failed:
            raise KeyAlreadyCommitted() from None
        raise


def record_usage(apply: Apply, posting: CreditPosting, chunk: UsageChunk) -> WriteUnits:
    """A chunk of usage. Raises DuplicateKeys when some events' keys were committed concurrently,
    RetryableConflict when the balances moved or the subscription was canceled meanwhile."""
    write = usage_write(posting, chunk)
    try:
        return apply(write)
    except WriteRefused as refused:
        first_event = len(write) - len(chunk.events)
        taken = [position - first_event for position in refused.failed if position >= first_event]
        if taken:
            raise DuplicateKeys(taken) from None
        raise RetryableConflict("The balance changed while recording usage; retry.") from None


def correct_usage(apply: Apply, write: list[Operation], idempotency: IdempotencyRecord | None) -> None:
    """A usage correction (correction_write) with the idempotency record of the request it answers.
    Raises KeyAlreadyCommitted when the key committed first, RetryableConflict otherwise (the
    credits moved, the event was voided, or the draft changed or was issued meanwhile)."""
    try:
        keyed(apply, write, idempotency)
    except WriteRefused:
        raise RetryableConflict("The event, its credits or its period's draft changed meanwhile; retry.") from None


def close_period(
    apply: Apply,
    posting: CreditPosting,
    draft: Invoice | None,
    previous_draft: Invoice | None,
    *,
    idempotency: IdempotencyRecord | None = None,
    require_active: bool = False,
) -> None:
    """A period's close: its posting, and the period's draft with its InvoiceDrafted event (and the
    idempotency record of the request that closes it: a plan change now). Raises
    KeyAlreadyCommitted when that key committed first."""
    from ..domain.invoices import invoice_event

    write = posting_write(posting, require_active=require_active)
    if draft is not None:
        drafted = invoice_event("InvoiceDrafted", draft, at=draft.updated_at)
        write += [draft_put(draft, previous_draft), Put("outbox", drafted.event_id, (drafted,))]
    try:
        keyed(apply, write, idempotency)
    except WriteRefused:
        raise RetryableConflict("The subscription or its invoice changed while closing the period; retry.") from None


def save_draft(apply: Apply, stored: Callable[[], Invoice | None], draft: Invoice, previous: Invoice | None) -> None:
    """A draft (first, redrafted or a new revision) with its InvoiceDrafted event. Raises
    Conflict(`invoice_not_draft`) when the invoice was issued or voided, RetryableConflict when
    it changed since it was read. `stored`: reads the invoice as it stands, to say which."""
    from ..domain.invoices import invoice_event

    drafted = invoice_event("InvoiceDrafted", draft, at=draft.updated_at)
    try:
        apply([draft_put(draft, previous), Put("outbox", drafted.event_id, (drafted,))])
    except WriteRefused:
        current = stored()
        if current is not None and not current.is_draft:
            raise Conflict(f"Invoice '{draft.invoice_id}' is no longer a draft.", code="invoice_not_draft") from None
        raise RetryableConflict("The draft changed while it was being redrafted; retry.") from None


def issue_invoice(
    apply: Apply,
    stored: Callable[[], Invoice | None],
    counter: InvoiceCounter | None,
    draft: Invoice,
    now: datetime,
    *,
    profile: BillingProfile | None,
    issuer: Issuer,
) -> Invoice:
    """Freeze the draft as read under the next number (`counter` as read: None before the first),
    addressed to the organization's profile as read (copied: later changes to it do not reach it)
    from `issuer`, due after the profile's net terms, with its InvoiceIssued event. Raises
    Conflict(`invoice_not_draft`) when it was issued or voided, RetryableConflict when another
    invoice took the number or the draft changed."""
    from ..domain.invoices import invoice_event

    number, advance = counter_advance("invoice_counter", COUNTER, counter)
    issued = draft.issued(f"INV-{number:06d}", now, profile, issuer)
    frozen = {name: getattr(issued, name) for name in FROZEN_AT_ISSUE}
    event = invoice_event("InvoiceIssued", issued, at=now)
    key = (draft.subscription_id, draft.invoice_id)
    try:
        apply(
            [
                advance,
                # What is frozen is exactly the draft read: the condition holds `updated_at`.
                Update("invoice", key, frozen, {"status": "draft", "updated_at": draft.updated_at}),
                Put("outbox", event.event_id, (event,)),
            ]
        )
    except WriteRefused as refused:
        current = stored() if 1 in refused.failed else None
        if current is not None and not current.is_draft:
            raise Conflict(f"Invoice '{draft.invoice_id}' is no longer a draft.", code="invoice_not_draft") from None
        raise RetryableConflict("Another invoice took that number, or the draft changed; retry.") from None
    return issued


FROZEN_AT_ISSUE = ("status", "number", "issued_at", "updated_at", "bill_to", "issuer", "due_at")


def void_invoice(apply: Apply, stored: Callable[[], Invoice | None], invoice: Invoice, now: datetime) -> Invoice:
    """Void the invoice as read (a draft or an issued one), with its InvoiceVoided event. Already
    void: returned as it is, and no event (voiding is idempotent). Changed since it was read:
    RetryableConflict."""
    from ..domain.invoices import invoice_event

    if invoice.status == "void":
        return invoice
    if invoice.credit_notes:
        raise _credited(invoice)
    changes = {"status": "void", "voided_at": now, "updated_at": now}
    voided = invoice.model_copy(update=changes)
    event = invoice_event("InvoiceVoided", voided, at=now)
    expected = {"status": invoice.status, "updated_at": invoice.updated_at}  # so the event carries what was voided
    try:
        apply(
            [
                Update("invoice", (invoice.subscription_id, invoice.invoice_id), changes, expected),
                Put("outbox", event.event_id, (event,)),
            ]
        )
    except WriteRefused:
        current = stored()
        if current is None:
            raise NotFound(f"No invoice '{invoice.invoice_id}'.") from None
        if current.status == "void":
            return current
        if current.credit_notes:
            raise _credited(current) from None
        raise RetryableConflict("The invoice changed while it was being voided; retry.") from None
    return voided


def _credited(invoice: Invoice) -> Conflict:
    return Conflict(
        f"Invoice '{invoice.invoice_id}' has credit notes; it is corrected by them, not voided.",
        code="invoice_credited",
    )


def next_credit_note_number(counter: InvoiceCounter | None) -> str:
    """The number the next credit note takes, the credit-note counter as read."""
    from ..domain.credit_notes import credit_note_number

    return credit_note_number((counter.last_number if counter else 0) + 1)


def credit_note_write(
    note: CreditNote, invoice: Invoice, counter: InvoiceCounter | None, posting: CreditPosting | None
) -> list[Operation]:
    """A credit note: its number (if the counter is still as read, so numbers stay gapless), the
    invoice's credited amounts (if it is still issued and as read: a note moves `updated_at`, so
    two notes never both count against the same credited lines, and a void never misses one), the
    note (its key must be free), its CreditNoteIssued event, and the credits it grants (`posting`,
    on an active subscription)."""
    from ..domain.credit_notes import credit_note_issued, credited_after

    _, advance = counter_advance("credit_note_counter", CREDIT_NOTE_COUNTER, counter)
    credited = credited_after(invoice, note)
    changes = {
        "credited_by_line": credited,
        "credited_cents": sum(credited),
        "credit_notes": invoice.credit_notes + 1,
        "updated_at": note.created_at,
    }
    event = credit_note_issued(note)
    return [
        advance,
        Update(
            "invoice",
            (invoice.subscription_id, invoice.invoice_id),
            changes,
            {"status": "issued", "updated_at": invoice.updated_at},
            invoice.model_copy(update=changes),
        ),
        Put("credit_note", (note.subscription_id, note.invoice_id, note.credit_note_id), note),
        Put("outbox", event.event_id, (event,)),
        *(posting_write(posting, require_active=True) if posting is not None else []),
    ]


def issue_credit_note(
    apply: Apply,
    stored: Callable[[], Invoice | None],
    note: CreditNote,
    invoice: Invoice,
    counter: InvoiceCounter | None,
    *,
    posting: CreditPosting | None = None,
    idempotency: IdempotencyRecord | None = None,
) -> None:
    """A credit note (credit_note_write) with the idempotency record of the request it answers, in
    one transaction. Raises KeyAlreadyCommitted when the key committed first,
    Conflict(`invoice_not_issued`) when the invoice was voided meanwhile, RetryableConflict
    otherwise (another note took the number or credited the invoice, or the credits moved)."""
    try:
        keyed(apply, credit_note_write(note, invoice, counter, posting), idempotency)
    except WriteRefused as refused:
        current = stored() if 1 in refused.failed else None
        if current is not None and current.status != "issued":
            raise Conflict(
                f"Invoice '{invoice.invoice_id}' is {current.status}; only issued invoices take credit notes.",
                code="invoice_not_issued",
            ) from None
        raise RetryableConflict("Another credit note, or a change to the credits, came first; retry.") from None
