"""Recording usage as credit debits (single, batch, and from the usage bus).

Every event is priced at its subscription's pinned plan version, drawn from the allowance, then
purchased credits, then overage (or refused whole when the plan blocks overage). Events for one
subscription are committed in chunks: one transaction per chunk writes the balances once, one
ledger entry, the period aggregate and the event rows, which double as idempotency records.
Reading it back (lists, summaries, days, periods) is services/usage_reporting.py: the reporting
function loads no credit write."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from msgspec import Struct
from pydantic import BaseModel, ConfigDict, ValidationError

from ..domain.access import Caller, Permission
from ..domain.credits import CreditBook, auto_top_up, charge
from ..domain.errors import BillingError, Conflict, PayloadTooLarge, RetryableConflict, ValidationFailed
from ..domain.events import OUTBOX_ITEMS
from ..domain.holds import HoldNotActive
from ..domain.idempotency import IdempotencyKeyReused, fingerprint
from ..domain.ids import new_id
from ..domain.plans import Plan
from ..domain.subscriptions import Subscription
from ..domain.usage import (
    BatchStatus,
    CreditLimitReached,
    PeriodUsage,
    UsageChunk,
    UsageEvent,
    UsageRequest,
    occurred_at_problem,
    price,
    unknown_service,
)
from ..domain.values import format_decimal
from ..store.writes import MAX_TRANSACTION_ITEMS, DuplicateKeys
from .credit_write import CreditWrite, NoActiveSubscription, credit_write
from .ledger import Pause
from .unit_of_work import Billing

MAX_BATCH_EVENTS = 100
COUNTERS_PER_TRANSACTION = 200  # one ADD a counter: ~13 characters each, under the 4 KB expression limit


class Outcome(Struct):
    status: BatchStatus
    event: UsageEvent | None = None
    error: BillingError | None = None
    write_units: dict[str, float] | None = None


class BatchReport(BaseModel):
    model_config = ConfigDict(defer_build=True)

    results: list[dict[str, Any]]
    write_units: dict[str, Any]


def record_usage(
    billing: Billing, caller: Caller, request: UsageRequest, *, pause: Pause = time.sleep
) -> tuple[UsageEvent, bool]:
    """Record one event. Returns (event, replayed); a refused event raises and writes nothing."""
    [outcome] = UsageRecorder(billing, caller, pause=pause).record([request])
    if outcome.status == "rejected":
        raise outcome.error
    return outcome.event, outcome.status == "duplicate"


def record_usage_batch(
    billing: Billing, caller: Caller, raw_events: list[Any], *, pause: Pause = time.sleep
) -> BatchReport:
    """Up to 100 events; each gets its own result, so one bad event never sinks the others."""
    caller.authorize(Permission.RECORD_USAGE)
    if len(raw_events) > MAX_BATCH_EVENTS:
        raise PayloadTooLarge(f"A batch holds at most {MAX_BATCH_EVENTS} events; this one has {len(raw_events)}.")
    parsed: list[UsageRequest | BillingError] = []
    for position, raw in enumerate(raw_events):
        try:
            parsed.append(UsageRequest.model_validate(raw))
        except ValidationError as error:
            failed = ValidationFailed.from_pydantic(error, location="body")
            for field in failed.fields:
                field["field"] = f"events.{position}.{field['field']}"
            parsed.append(failed)
    valid = [p for p in parsed if isinstance(p, UsageRequest)]
    recorded = iter(UsageRecorder(billing, caller, pause=pause).record(valid))
    outcomes = [next(recorded) if isinstance(p, UsageRequest) else Outcome("rejected", error=p) for p in parsed]
    return _report(outcomes)


def record_usage_deliveries(
    billing: Billing, deliveries: list[tuple[Caller, UsageRequest]], *, pause: Pause = time.sleep
) -> list[Outcome]:
    """Events delivered together (a batch of the usage queue), each charged exactly as POST /usage
    would charge it: grouped by producer (the ledger's actor), then per subscription in chunks,
    one transaction a chunk. An outcome per delivery, in order; a duplicate key, inside the batch
    or from an earlier one, is a `duplicate` of the event first recorded under it."""
    outcomes: list[Outcome | None] = [None] * len(deliveries)
    by_producer: dict[str, list[int]] = {}
    for position, (producer, _) in enumerate(deliveries):
        by_producer.setdefault(producer.principal, []).append(position)
    for positions in by_producer.values():
        recorder = UsageRecorder(billing, deliveries[positions[0]][0], pause=pause)
        for position, outcome in zip(positions, recorder.record([deliveries[p][1] for p in positions]), strict=True):
            outcomes[position] = outcome
    return outcomes


def _report(outcomes: list[Outcome]) -> BatchReport:
    results = []
    for position, outcome in enumerate(outcomes):
        result: dict[str, Any] = {"index": position}
        if outcome.event is not None:
            result |= outcome.event.model_dump(mode="json")
        result["status"] = outcome.status  # a batch result's status is the outcome's, not the event's
        if outcome.error is not None:
            result["error"] = {
                "code": outcome.error.code,
                "message": outcome.error.message,
                "details": outcome.error.details,
            }
        if outcome.write_units is not None:
            result["write_units"] = outcome.write_units
        results.append(result)
    accepted = [o for o in outcomes if o.status == "accepted"]
    total = round(sum(o.write_units["total"] for o in accepted if o.write_units), 3)
    return BatchReport(
        results=results,
        write_units={
            "total": total,
            "accepted_events": len(accepted),
            "per_accepted_event": round(total / len(accepted), 3) if accepted else 0,
            "basis": "estimated from item sizes: 1 KB rounding, x2 for transactional writes, +1 per index entry",
        },
    )


class UsageRecorder:
    """One recording request: replays first, then each organization's events charged in chunks."""

    def __init__(
        self,
        billing: Billing,
        caller: Caller,
        *,
        pause: Pause,
        settling: str | None = None,
        settled_at: Plan | None = None,
        held_quantity: Decimal | None = None,
    ):
        """`settling`: the hold the (single) request settles: its credits are guaranteed to it.
        `settled_at`: the plan version whose rates price it (the one the hold was placed under), and
        `held_quantity` what it held."""
        caller.authorize(Permission.RECORD_USAGE)
        self.settling, self.settled_at, self.held_quantity = settling, settled_at, held_quantity
        self.billing, self.plans, self.subscriptions, self.usage = (
            billing,
            billing.plans,
            billing.subscriptions,
            billing.usage,
        )
        self.caller, self.now, self.pause = caller, billing.now(), pause

    def record(self, requests: list[UsageRequest]) -> list[Outcome]:
        self.requests = requests
        self.fingerprints = [fingerprint(r, *([self.settling] if self.settling else [])) for r in requests]
        # Event ids this request tried to commit, by position: finding one of them under its key
        # means our own commit landed (a retry after a lost answer), not a twin's.
        self.attempted_ids: dict[int, set[str]] = {}
        self.outcomes: list[Outcome | None] = [None] * len(requests)
        keys = [(r.organization_id, r.idempotency_key) for r in requests]
        recorded = self.usage.find_events(keys)
        first_of: dict[tuple[str, str], int] = {}
        by_organization: dict[str, list[int]] = {}
        for position, key in enumerate(keys):
            if key in recorded:
                self.outcomes[position] = self._replay(recorded[key], position)
            elif key not in first_of:  # a later twin inside this batch follows its first occurrence
                first_of[key] = position
                by_organization.setdefault(key[0], []).append(position)
        for organization_id, positions in by_organization.items():
            self._charge_organization(organization_id, positions)
        self._replay_twins_of_refusals(keys)
        for position, key in enumerate(keys):
            if self.outcomes[position] is None:
                first = self.outcomes[first_of[key]]
                self.outcomes[position] = (
                    self._replay(first.event, position) if first.event else Outcome("rejected", error=first.error)
                )
        return self.outcomes

    def _replay_twins_of_refusals(self, keys: list[tuple[str, str]]) -> None:
        """An event refused for the state it found (balance floor, canceled, contention) may have a
        concurrent twin that committed its key meanwhile, and caused that state: answer as the twin did."""
        refused = [
            p
            for p, o in enumerate(self.outcomes)
            if o is not None and isinstance(o.error, (Conflict, CreditLimitReached, RetryableConflict))
        ]
        if refused:
            found = self.usage.find_events([keys[p] for p in refused])
            for position in refused:
                if keys[position] in found:
                    self.outcomes[position] = self._replay(found[keys[position]], position)

    def _replay(self, event: UsageEvent, position: int) -> Outcome:
        if event.event_id in self.attempted_ids.get(position, ()):
            return Outcome("accepted", event=event)  # our own commit: a first request is never a replay
        if event.fingerprint != self.fingerprints[position]:
            return Outcome(
                "rejected",
                error=IdempotencyKeyReused(
                    "This idempotency key was already used with a different usage event.",
                    field="idempotency_key",
                    details={"event_id": event.event_id},
                ),
            )
        return Outcome("duplicate", event=event)

    def _reject(self, positions: list[int], error: BillingError) -> None:
        for position in positions:
            self.outcomes[position] = Outcome("rejected", error=error)

    def _charge_organization(self, organization_id: str, positions: list[int]) -> None:
        subscription = self.subscriptions.active_for(organization_id)
        if subscription is None:
            return self._reject(
                positions,
                Conflict(
                    f"Organization '{organization_id}' has no active subscription.", code="no_active_subscription"
                ),
            )
        plan = self.plans.version(subscription.plan_id, subscription.plan_version)
        chargeable = []
        for position in positions:
            problem = self._unchargeable(self.requests[position], plan)
            if problem:
                self._reject([position], problem)
            else:
                chargeable.append(position)
        self._known = subscription  # the first attempt may use it; the commit's revision condition checks it is current
        for chunk in self._chunks(chargeable):
            # A commit settles at least one event (an auto top-up or a full transaction may leave
            # the rest of the chunk for the next one).
            while any(self.outcomes[p] is None for p in chunk):
                try:
                    credit_write(
                        self.billing,
                        lambda write, chunk=chunk: self._charge_chunk(write, chunk),
                        read=lambda: self._read(subscription.subscription_id),
                        actor=self.caller.principal,
                        active_only="The subscription was canceled; it takes no more usage.",
                        now=self.now,
                        pause=self.pause,
                    )
                except (NoActiveSubscription, RetryableConflict) as refused:
                    self._reject([p for p in chunk if self.outcomes[p] is None], refused)

    def _read(self, subscription_id: str) -> Subscription:
        """The subscription as the last commit left it (or as first found), else as stored now."""
        known, self._known = self._known, None
        return known or self.subscriptions.get(subscription_id)

    def _chunks(self, positions: list[int]) -> list[list[int]]:
        """As few transactions as the limits allow: few enough distinct aggregate counters (4 a
        service, 1 a guardrail flag or escalation code) for one update expression. The item limit
        is decided as events are drawn (`_room_for_one_more`): a chunk may take two transactions."""
        chunks: list[list[int]] = []
        counters: set[str] = set()
        for position in positions:
            request = self.requests[position]
            touched = (
                {f"svc:{request.service}"}
                | {f"flag:{f}" for f in request.guardrail.flags}
                | {f"esc:{c}" for c in request.guardrail.escalation_codes}
            )
            weight = lambda names: sum(4 if n.startswith("svc:") else 1 for n in names)  # noqa: E731
            if (
                not chunks
                or len(chunks[-1]) == MAX_TRANSACTION_ITEMS
                or weight(counters | touched) > COUNTERS_PER_TRANSACTION
            ):
                chunks.append([])
                counters = set()
            chunks[-1].append(position)
            counters |= touched
        return chunks

    def _rates(self, plan: Plan) -> Plan:
        """The plan version whose rates price the events: the subscription's, or a settled hold's own."""
        return self.settled_at or plan

    def _unchargeable(self, request: UsageRequest, plan: Plan) -> BillingError | None:
        plan = self._rates(plan)
        rate = plan.usage_rates.get(request.service)
        if rate is None:
            return unknown_service(plan, request.service)
        if request.unit is not None and request.unit != rate.unit:
            return ValidationFailed.of("unit", f"the plan bills '{request.service}' per '{rate.unit}'")
        late_or_early = occurred_at_problem(request.occurred_at, self.now)
        if late_or_early:
            return ValidationFailed.of("occurred_at", late_or_early)
        return None

    def _charge_chunk(self, write: CreditWrite, chunk: list[int]) -> None:
        """One attempt: price and charge pending events in draw-down order, then commit them
        together. An auto top-up ends the chunk (its grant and entry follow the usage entry); what
        did not fit stays pending for the next transaction."""
        pending = [p for p in chunk if self.outcomes[p] is None]
        current, plan, book = write.subscription, write.plan, write.book
        usage_seq = book.seq + 1  # expiries come first; the chunk's usage entry follows them
        charged: list[tuple[int, UsageEvent]] = []
        top_up = None
        for position in pending:
            request = self.requests[position]
            days = {event.aggregate_day for _, event in charged} | {(request.occurred_at or self.now).date()}
            if not self._room_for_one_more(book, charged, current, days=len(days)):
                break
            rate = self._rates(plan).usage_rates.get(request.service)
            if rate is None:  # the plan changed since the events were checked (a close applied a pending change)
                self._reject([position], unknown_service(self._rates(plan), request.service))
                continue
            beyond = self._beyond_the_hold(request, current)
            if beyond is not None:
                self._reject([position], beyond)
                continue
            credits = price(request.quantity, rate)
            event_id = self._new_event_id(position)
            try:
                guaranteed = self._release_settled_hold(book, credits, event_id)
                # Decided on these balances: a retry decides again. (A refused settlement's hold stays held.)
                overage = charge(book, plan, credits, guaranteed=guaranteed)
            except (HoldNotActive, CreditLimitReached) as refused:
                self._reject([position], refused)
                continue
            unit = request.unit or rate.unit
            event = self._event(
                request, position, event_id, current, unit, credits, credits - overage, overage, book.balance, usage_seq
            )
            charged.append((position, event))
            top_up = auto_top_up(current, plan, book)
            if top_up is not None:
                break
        if not charged:
            return write.discard()
        events = [event for _, event in charged]
        usage = PeriodUsage.of(events)
        book.post_draws(
            "usage",
            reference=f"usage:{events[0].event_id}"
            if len(events) == 1
            else f"usage-batch:{events[0].event_id}..{events[-1].event_id}",
            reason=_usage_reason(events),
            overage=usage.totals.overage_credits,
        )
        if top_up is not None:
            book.add(top_up, entry_type="top_up", reference=f"usage:{events[-1].event_id}")
        try:
            units = write.commit(
                through=lambda posting: self.usage.record(posting, UsageChunk(events, usage, current.current_period))
            )
        except DuplicateKeys as taken:
            # Concurrent twins committed these keys first: answer as they did, then retry the rest.
            positions = [charged[i][0] for i in taken.positions]
            found = self.usage.find_events(
                [(self.requests[p].organization_id, self.requests[p].idempotency_key) for p in positions]
            )
            for position in positions:
                request = self.requests[position]
                self.outcomes[position] = self._replay(
                    found[(request.organization_id, request.idempotency_key)], position
                )
            self._clear_refusals(pending)
            raise RetryableConflict("Some events were recorded concurrently; retrying the rest.") from None
        except RetryableConflict:
            self._clear_refusals(pending)
            raise
        self._known = write.posting.subscription  # what this commit left, for the next chunk
        share = units.per(len(events))
        for position, event in charged:
            self.outcomes[position] = Outcome("accepted", event=event, write_units=share)

    def _beyond_the_hold(self, request: UsageRequest, subscription: Subscription) -> ValidationFailed | None:
        """A hold placed under an earlier plan version settles at that version's rates, and so only
        what it held: more would be new usage priced at rates (or for services) the subscription no
        longer has. Decided in the write, on the version the subscription is on then."""
        rates, held = self.settled_at, self.held_quantity
        if rates is None or held is None or request.quantity <= held:
            return None
        if (rates.plan_id, rates.version) == (subscription.plan_id, subscription.plan_version):
            return None
        return ValidationFailed.of(
            "quantity",
            f"is more than the {format_decimal(held)} the hold held: it was placed under plan '{rates.plan_id}' "
            f"version {rates.version}, and the subscription has changed plan since, so it settles at most "
            "its held quantity (at that version's rates); record the rest as usage",
        )

    def _release_settled_hold(self, book: CreditBook, credits: Decimal, event_id: str) -> Decimal:
        """When settling, take the hold out of the held set (its credits become this event's to
        draw) and return how much of the charge it guarantees; 0 for plain usage."""
        if self.settling is None:
            return Decimal(0)
        hold = book.end_hold(self.settling, "settled", settled_event_id=event_id)
        return min(credits, hold.credits)

    @staticmethod
    def _room_for_one_more(book: CreditBook, charged: list, subscription: Subscription, *, days: int) -> bool:
        """A transaction holds 100 items: the subscription, the entries, grant and hold records so far,
        the usage entry and the aggregates to come (one a day the events occurred on), an auto
        top-up's two items, the outbox item of its events, and the events, each of which might
        deplete every grant it draws from."""
        auto_top_up_items = 2 if subscription.auto_top_up and subscription.auto_top_up.enabled else 0
        reserved = 2 + days + OUTBOX_ITEMS + auto_top_up_items
        records = len(book.started) + len(book.ended) + len(book.holds_placed) + len(book.holds_ended)
        used = reserved + len(book.entries) + records + len(charged)
        return used + 1 + len(book.grants) <= MAX_TRANSACTION_ITEMS

    def _clear_refusals(self, pending: list[int]) -> None:
        """Refusals for lack of credit were decided on balances that have moved: decide again."""
        for position in pending:
            outcome = self.outcomes[position]
            if outcome is not None and isinstance(outcome.error, CreditLimitReached):
                self.outcomes[position] = None

    def _new_event_id(self, position: int) -> str:
        event_id = new_id(self.now)
        self.attempted_ids.setdefault(position, set()).add(event_id)
        return event_id

    def _event(
        self,
        request: UsageRequest,
        position: int,
        event_id: str,
        subscription: Subscription,
        unit: str,
        credits: Decimal,
        debited: Decimal,
        overage: Decimal,
        balance_after: Decimal,
        seq: int,
    ) -> UsageEvent:
        return UsageEvent(
            event_id=event_id,
            subscription_id=subscription.subscription_id,
            organization_id=request.organization_id,
            service=request.service,
            quantity=request.quantity,
            unit=unit,
            credits=credits,
            debited_credits=debited,
            overage_credits=overage,
            balance_after=balance_after,
            guardrail=request.guardrail,
            source=request.source,
            metadata=request.metadata,
            idempotency_key=request.idempotency_key,
            occurred_at=request.occurred_at or self.now,
            recorded_at=self.now,
            period_start=subscription.current_period_start,
            ledger_seq=seq,
            hold_id=self.settling,
            fingerprint=self.fingerprints[position],
        )


def _usage_reason(events: list[UsageEvent]) -> str:
    services = ", ".join(sorted({e.service for e in events}))
    return f"Usage of {services}" if len(events) == 1 else f"{len(events)} usage events ({services})"
