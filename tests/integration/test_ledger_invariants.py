"""A model-based, stateful test: random sequences of grants (purchased, promotional; priorities,
expiries), usage, holds (placed, settled below / at / above, released, expired), top-ups,
adjustments, voids, usage voided and amended, plan changes (now, at the period's end, previews,
dropped), replays, clock moves and the scheduled run, checking invariants 1, 2, 3, 9, 10, 11 and 13
of DESIGN.md after every step, on an `allow` plan and a `block` one. Runs against the in-memory
stores and against the DynamoDB stores on moto."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from moto import mock_aws

from billing.domain.access import Caller
from billing.domain.clock import TestClock
from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.holds import HoldNotActive
from billing.domain.idempotency import RETENTION, IdempotencyKeyReused
from billing.domain.lab_standard import lab_standard_terms
from billing.domain.ledger import InsufficientCredits
from billing.domain.usage import CreditLimitReached, UsageFilters, UsageRequest
from billing.domain.values import format_timestamp
from billing.services import (
    catalog,
    credits,
    holds,
    invoicing_run,
    period_closing,
    subscriptions,
    usage,
    usage_corrections,
)
from billing.services.credits import CreditChangeRequest, GrantRequest, VoidRequest
from billing.services.holds import HoldRequest, SettleRequest
from billing.services.plan_changes import PlanChangeRequest, cancel_pending_plan_change, change_plan
from billing.services.subscriptions import ProvisionRequest
from billing.services.unit_of_work import Billing
from billing.services.usage_corrections import AmendUsageRequest, EventVoided, VoidUsageRequest
from billing.store.dynamodb_invoices import DynamoInvoiceStore
from billing.store.dynamodb_plans import DynamoPlanStore
from billing.store.dynamodb_subscriptions import DynamoSubscriptionStore
from billing.store.dynamodb_usage import DynamoUsageStore
from billing.store.memory import InMemoryClosingQueue

from .conftest import TEMPLATE, create_tables

ADMIN = Caller("admin", frozenset({"marketplace:admin"}), None, "us")
SERVICE = Caller("producer", frozenset({"service"}), None, None)
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PROVISION = ProvisionRequest.model_validate(
    {"plan_id": "lab-standard", "residency": "us", "sla_acceptance": {"accepted_by": "a", "sla_version": "1"}}
)
amounts = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("400"), places=2)
keys = st.sampled_from(["k1", "k2", "k3", "k4"])


def no_pause(_):
    return None


def every(page_of):
    items, cursor = [], None
    while True:
        page = page_of(cursor)
        items += page.items
        if not page.next_cursor:
            return items
        cursor = page.next_cursor


class CreditsMachine(RuleBasedStateMachine):
    overage_policy = "allow"

    def __init__(self):
        super().__init__()
        self.clock = TestClock(at=START)
        self.billing = self.make_billing(self.clock)
        catalog.seed_lab_standard(self.billing)
        if self.overage_policy == "block":
            self.plan_id = f"lab-block-{uuid.uuid4().hex[:6]}"
            terms = lab_standard_terms().model_copy(update={"overage_policy": "block"})
            catalog.publish_plan(self.billing, self.plan_id, terms)
        else:
            self.plan_id = "lab-standard"
        # The plan changes move between the plan and another of the same currency, SLA and overage policy.
        self.other_plan_id = f"lab-other-{uuid.uuid4().hex[:6]}"
        other = {
            "overage_policy": self.overage_policy,
            "credit_allowance": Decimal(600),
            "billing_cadence": "quarterly",
        }
        catalog.publish_plan(self.billing, self.other_plan_id, lab_standard_terms().model_copy(update=other))
        self.org = f"org-{uuid.uuid4().hex[:8]}"  # stores may be shared between examples: organizations are not
        self.requests: dict[tuple[str, str], object] = {}  # (endpoint, key) -> the first request's body

    def make_billing(self, clock) -> Billing:
        raise NotImplementedError

    @initialize()
    def subscribe(self):
        provision = PROVISION.model_copy(update={"plan_id": self.plan_id})
        subscription, _ = subscriptions.provision_subscription(
            self.billing, ADMIN, self.org, provision, idempotency_key=None, pause=no_pause
        )
        self.sid = subscription.subscription_id

    def _keyed(self, endpoint, key, request, call):
        """Call; a key reused with another body must be refused, with the same body replayed (while
        the key is remembered: RETENTION after its first use; a usage event is its own record, kept)."""
        prior, first_used = self.requests.get((endpoint, key), (None, None))
        remembered_forever = endpoint in ("usage", "settle")
        if prior is not None and not remembered_forever and self.clock.now() >= first_used + RETENTION:
            prior = None
        try:
            result, replayed = call()
        except IdempotencyKeyReused:
            assert prior is not None and prior != request
            return None
        assert replayed == (prior is not None)
        if prior is None:
            self.requests[(endpoint, key)] = (request, self.clock.now())
        return result

    @rule(
        amount=amounts,
        kind=st.sampled_from(["purchased", "promotional"]),
        priority=st.sampled_from([None, 0, 50, 200]),
        expires_in_hours=st.sampled_from([None, 1, 30, 24 * 40]),
        key=keys,
    )
    def grant(self, amount, kind, priority, expires_in_hours, key):
        expires = self.clock.now() + timedelta(hours=expires_in_hours) if expires_in_hours else None
        request = GrantRequest(
            amount=amount,
            kind=kind,
            priority=priority,
            expires_at=format_timestamp(expires) if expires else None,
            reason="stateful",
            idempotency_key=key,
        )
        try:
            self._keyed(
                "grant",
                key,
                request,
                lambda: credits.create_grant(self.billing, ADMIN, self.sid, request, pause=no_pause),
            )
        except ValidationFailed as refused:  # a replayed body whose expiry has passed since
            assert refused.fields[0]["field"] == "expires_at"

    @rule(amount=amounts, negative=st.booleans(), key=keys)
    def change_credits(self, amount, negative, key):
        request = CreditChangeRequest(
            amount=-amount if negative else amount,
            type="adjustment" if negative else "top_up",
            reason="stateful",
            idempotency_key=key,
        )
        try:
            self._keyed(
                "credits",
                key,
                request,
                lambda: credits.change_credits(self.billing, ADMIN, self.sid, request, pause=no_pause),
            )
        except InsufficientCredits:  # more than the spendable credits (expired grants not counted)
            subscription, now = self.billing.subscriptions.get(self.sid), self.clock.now()
            effective = sum((g.remaining for g in subscription.grants if g.is_effective(now)), Decimal(0))
            assert negative and amount > effective - subscription.held_credits

    @rule(runs=st.integers(min_value=1, max_value=60), key=keys)
    def record_usage(self, runs, key):
        request = UsageRequest(organization_id=self.org, service="instrumentation", quantity=runs, idempotency_key=key)
        try:
            self._keyed(
                "usage", key, request, lambda: usage.record_usage(self.billing, SERVICE, request, pause=no_pause)
            )
        except CreditLimitReached:
            assert self.overage_policy == "block"

    @rule(runs=st.integers(min_value=1, max_value=80), minutes=st.sampled_from([1, 90, 60 * 30]), key=keys)
    def place_hold(self, runs, minutes, key):
        request = HoldRequest(
            organization_id=self.org,
            service="instrumentation",
            quantity=runs,
            idempotency_key=key,
            expires_in_seconds=minutes * 60,
        )
        try:
            self._keyed("hold", key, request, lambda: holds.place_hold(self.billing, SERVICE, request, pause=no_pause))
        except CreditLimitReached:
            assert self.overage_policy == "block"

    @rule(data=st.data(), fraction=st.sampled_from([Decimal("0.5"), Decimal(1), Decimal(2)]), key=keys)
    def settle_hold(self, data, fraction, key):
        held = self.billing.subscriptions.holds_page(self.sid, limit=50, cursor=None).items
        if not held:
            return
        chosen = data.draw(st.sampled_from(held))
        request = SettleRequest(idempotency_key=f"settle-{key}", quantity=chosen.quantity * fraction)
        try:
            self._keyed(  # settle keys are usage keys: one namespace for all the organization's holds
                "settle",
                key,
                (chosen.hold_id, request),
                lambda: holds.settle_hold(self.billing, SERVICE, chosen.hold_id, request, pause=no_pause),
            )
        except (HoldNotActive, CreditLimitReached):
            pass  # ended already, or beyond a block plan's credits
        except ValidationFailed as refused:
            # Beyond what it held, placed under a version the subscription has changed from since.
            assert [f["field"] for f in refused.fields] == ["quantity"] and fraction > 1
            subscription = self.billing.subscriptions.get(self.sid)
            assert (chosen.plan_id, chosen.plan_version) != (subscription.plan_id, subscription.plan_version)

    @rule(data=st.data())
    def release_hold(self, data):
        held = self.billing.subscriptions.holds_page(self.sid, limit=50, cursor=None).items
        if held:
            try:
                holds.release_hold(self.billing, SERVICE, data.draw(st.sampled_from(held)).hold_id, pause=no_pause)
            except HoldNotActive:
                pass

    @rule(data=st.data())
    def void(self, data):
        grants = every(
            lambda cursor: self.billing.subscriptions.grants_page(
                self.billing.subscriptions.get(self.sid), status=None, limit=20, cursor=cursor
            )
        )
        chosen = data.draw(st.sampled_from(grants))
        try:
            voided = credits.void_grant(self.billing, ADMIN, self.sid, chosen.grant_id, VoidRequest(), pause=no_pause)
        except Conflict as refused:
            if refused.code == "insufficient_credits":  # a block plan's held credits are not voided
                assert self.overage_policy == "block" and self.billing.subscriptions.get(self.sid).holds
                return
            assert refused.code == "grant_not_active"
            live = {g.grant_id for g in self.billing.subscriptions.get(self.sid).grants}
            assert chosen.grant_id not in live or chosen.has_expired(self.clock.now())
            return
        assert voided.status == "voided"

    @rule(
        other=st.booleans(),
        effective=st.sampled_from(["now", "period_end"]),
        preview=st.booleans(),
        key=keys,
    )
    def change_plan(self, other, effective, preview, key):
        plan_id = self.other_plan_id if other else self.plan_id
        request = PlanChangeRequest(plan_id=plan_id, effective=effective, idempotency_key=key, preview=preview)
        call = lambda: change_plan(self.billing, ADMIN, self.sid, request, pause=no_pause)  # noqa: E731
        try:
            if not preview:
                self._keyed("plan-change", key, request, call)
                return
            before = self.billing.subscriptions.get(self.sid)
            call()
            if not before.period_due(self.clock.now()):  # a preview writes nothing (an ended period closes first)
                assert self.billing.subscriptions.get(self.sid) == before
        except Conflict as refused:
            # The version it is on, or a change in the second its period started.
            assert refused.code in ("plan_unchanged", "period_open")
        except CreditLimitReached:
            # A block plan whose next period would not cover the holds outliving the switch.
            assert self.overage_policy == "block"

    @rule()
    def drop_pending_plan_change(self):
        try:
            dropped = cancel_pending_plan_change(self.billing, ADMIN, self.sid, pause=no_pause)
        except Conflict as refused:
            assert refused.code == "no_pending_plan_change"
            return
        assert dropped.pending_plan_change is None

    def _events(self):
        return every(lambda cursor: self.billing.usage.events_page(self.sid, UsageFilters(), limit=50, cursor=cursor))

    @rule(data=st.data(), key=keys)
    def void_usage(self, data, key):
        events = self._events()
        if not events:
            return
        chosen = data.draw(st.sampled_from(events))
        request = VoidUsageRequest(reason="stateful", idempotency_key=key)
        event = usage_corrections.correctable_event(self.billing, SERVICE, chosen.event_id)
        _, first_used = self.requests.get((f"void:{chosen.event_id}", key), (None, None))
        remembered = first_used is not None and self.clock.now() < first_used + RETENTION
        if event.status == "voided" and not remembered:
            # Voiding again under a new key: the event as it is, nothing written (not even the key).
            again, replayed = usage_corrections.void_usage(self.billing, SERVICE, event, request, pause=no_pause)
            assert again == event and not replayed  # (the invariants count one reversal per voided event)
            return
        voided = self._keyed(
            f"void:{chosen.event_id}",
            key,
            request,
            lambda: usage_corrections.void_usage(self.billing, SERVICE, event, request, pause=no_pause),
        )
        assert voided is None or voided.status == "voided"

    @rule(data=st.data(), runs=st.integers(min_value=1, max_value=60), key=keys)
    def amend_usage(self, data, runs, key):
        events = self._events()
        if not events:
            return
        chosen = data.draw(st.sampled_from(events))
        request = AmendUsageRequest(quantity=runs, reason="stateful", idempotency_key=key)
        event = usage_corrections.correctable_event(self.billing, SERVICE, chosen.event_id)
        try:
            new = self._keyed(
                f"amend:{chosen.event_id}",
                key,
                request,
                lambda: usage_corrections.amend_usage(self.billing, SERVICE, event, request, pause=no_pause),
            )
        except EventVoided:
            assert self.billing.usage.event(chosen.event_id).status == "voided"
            return
        except CreditLimitReached:
            assert self.overage_policy == "block"
            return
        assert new is None or new.replaces == chosen.event_id

    @rule(hours=st.sampled_from([1, 5, 26, 24 * 12]))
    def time_passes(self, hours):
        self.clock.advance(hours * 3600)

    @rule()
    def scheduled_run(self):
        """The run queues what is due; its workers close each (here, at once and in order)."""
        invoicing_run.run_invoicing(self.billing, scheduled_at=self.clock.now())
        for due in self.billing.period_closings.take():
            period_closing.close_due(self.billing, due, period_closing.ClosingReport(), pause=no_pause)

    @invariant()
    def every_credit_is_in_one_grant_and_the_ledger_adds_up(self):
        if not hasattr(self, "sid"):
            return
        store = self.billing.subscriptions
        subscription = store.get(self.sid)
        entries = every(lambda cursor: store.ledger_page(self.sid, limit=7, cursor=cursor))
        grants = every(lambda cursor: store.grants_page(subscription, status=None, limit=9, cursor=cursor))
        # Invariant 2: seq 1..n, no gaps.
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1)) and subscription.ledger_seq == len(entries)
        # Invariant 1: the balance is the sum of the entries, the last balance_after, the buckets' sum, never negative.
        total = sum((e.amount for e in entries), Decimal(0))
        balance = subscription.credit_balance
        assert balance == total == entries[-1].balance_after
        assert balance == subscription.allowance_balance + subscription.purchased_balance
        assert min(e.balance_after for e in entries) >= 0
        # Invariant 9: the active grants hold the balance, each within 0..amount; ended ones hold nothing live.
        active = [g for g in grants if g.status == "active"]
        assert {g.grant_id for g in active} == {g.grant_id for g in subscription.grants}
        assert sum((g.remaining for g in grants), Decimal(0)) == balance  # an ended grant's `remaining` is 0
        assert all(0 <= g.remaining <= g.amount for g in grants)
        # Each grant's ledger movements add up to what it holds (or held when it ended).
        moved = dict.fromkeys((g.grant_id for g in grants), Decimal(0))
        for entry in entries:
            for allocation in entry.allocation or ():
                moved[allocation.grant_id] += allocation.amount
            if entry.grant_id and not entry.allocation:
                moved[entry.grant_id] += entry.amount
        for g in grants:
            assert moved[g.grant_id] == g.remaining, (g, moved[g.grant_id])
        # An expired or voided grant was never drawn from after it ended; none was drawn before it began.
        ends = {g.grant_id: g.ended_at for g in grants if g.status in ("expired", "voided")}
        starts = {g.grant_id: g.effective_at for g in grants}
        for entry in entries:
            if entry.type == "reversal":  # it gives back (and what reaches an ended grant ends again: below)
                continue
            for allocation in entry.allocation or ():
                assert starts[allocation.grant_id] <= entry.created_at
                assert allocation.grant_id not in ends or entry.created_at <= ends[allocation.grant_id]
                expiry = next(g.expires_at for g in grants if g.grant_id == allocation.grant_id)
                assert expiry is None or entry.created_at < expiry
        # Invariant 10: held credits are the held holds' sum; a block plan never spends held credits;
        # each hold ended once, and a settled one was charged exactly once.
        records = every(lambda cursor: store.holds_page(self.sid, limit=11, cursor=cursor))
        held = [h for h in records if h.status == "held"]
        assert {h.hold_id for h in held} == {h.hold_id for h in subscription.holds}
        assert subscription.held_credits == sum((h.credits for h in held), Decimal(0))
        if self.overage_policy == "block" and held:
            # A hold guarantees its credits against other spending, not against its grants' expiry;
            # the allowance's expiry (at a close or a plan change) is renewed by at least as much.
            oldest = min(h.created_at for h in held)
            expired_since = any(
                e.type == "expiry" and e.bucket != "allowance" and e.created_at >= oldest for e in entries
            )
            assert subscription.available_credits >= 0 or expired_since
        settled = [h for h in records if h.status == "settled"]
        charged = [
            e
            for e in every(
                lambda cursor: self.billing.usage.events_page(self.sid, UsageFilters(), limit=50, cursor=cursor)
            )
            if e.hold_id
        ]
        assert sorted(e.event_id for e in charged) == sorted(h.settled_event_id for h in settled)
        # Invariant 13: a voided event is in no aggregate; its credits went back to the grants that
        # paid them (one reversal each that drew any), and a share of an ended grant ended again in
        # the same write.
        events = self._events()
        for period_start in {e.period_start for e in events}:
            recorded = [e for e in events if e.period_start == period_start and e.status == "recorded"]
            totals = self.billing.usage.period_usage(self.sid, period_start).totals
            assert totals.credits == sum((e.credits for e in recorded), Decimal(0))
            assert totals.overage_credits == sum((e.overage_credits for e in recorded), Decimal(0))
        voided = {e.event_id: e for e in events if e.status == "voided"}
        reversals = [e for e in entries if e.type == "reversal"]
        drew = [event_id for event_id, event in voided.items() if event.debited_credits > 0]
        assert sorted(e.reference for e in reversals) == sorted(f"usage:{event_id}" for event_id in drew)
        for reversal in reversals:
            assert reversal.amount == voided[reversal.reference.removeprefix("usage:")].debited_credits
        ended_at = {g.grant_id: g for g in grants if g.status in ("expired", "voided", "depleted")}
        for position, entry in enumerate(entries):
            if entry.type == "reversal":
                for share in entry.allocation or ():
                    still_ended = share.grant_id in ended_at and ended_at[share.grant_id].status != "depleted"
                    if still_ended and ended_at[share.grant_id].ended_at <= entry.created_at:
                        later = [e for e in entries[position + 1 :] if e.created_at == entry.created_at]
                        assert any(e.grant_id == share.grant_id and e.type in ("expiry", "void") for e in later)
        # Invariant 3: one key, one entry (while the key is remembered).
        first_seen: dict[str, datetime] = {}
        for entry in (e for e in entries if e.reference.startswith("request:")):
            seen = first_seen.get(entry.reference)
            assert seen is None or entry.created_at >= seen + RETENTION, entry
            first_seen[entry.reference] = entry.created_at
        # Invariant 11: one event in the outbox for each committed top-up entry and expired hold, no more.
        topped_up = sorted(e["ledger_entry"]["entry_id"] for e in self.outbox("CreditsToppedUp"))
        assert topped_up == sorted(e.entry_id for e in entries if e.type == "top_up")
        expired = sorted(e["hold"]["hold_id"] for e in self.outbox("HoldExpired"))
        assert expired == sorted(h.hold_id for h in records if h.status == "expired")
        # Every plan change that took effect ended a billing cycle and reported it once.
        assert len(self.outbox("SubscriptionPlanChanged")) == len(subscription.earlier_cycles)


class InMemoryCreditsMachine(CreditsMachine):
    def make_billing(self, clock):
        return Billing.in_memory(clock, residencies=("us",))

    def outbox(self, detail_type):
        return [e.document() for e in self.billing.subscriptions.outbox if e.detail_type == detail_type]


class DynamoCreditsMachine(CreditsMachine):
    """One moto for all examples (starting it costs seconds), fresh small tables for each (moto's
    transactions copy table state, so their cost grows with the table)."""

    client = None

    def make_billing(self, clock):
        suffix = uuid.uuid4().hex[:8]
        specs = [t | {"TableName": f"{t['TableName']}-{suffix}"} for t in TEMPLATE.tables()]
        create_tables(self.client, specs)
        self.tables = tables = {t["TableName"].split("-")[0]: t["TableName"] for t in specs}
        subscriptions_table, ledger_table = tables["marketplace_subscriptions"], tables["marketplace_credit_ledger"]
        return Billing(
            plans=DynamoPlanStore(self.client, tables["marketplace_pricing_plans"]),
            subscriptions=DynamoSubscriptionStore(
                self.client,
                subscriptions_table=subscriptions_table,
                ledger_table=ledger_table,
                idempotency_table=tables["marketplace_idempotency"],
                plans_table=tables["marketplace_pricing_plans"],
                outbox_table=tables["marketplace_billing_outbox"],
            ),
            usage=DynamoUsageStore(
                self.client,
                usage_table=tables["marketplace_usage_events"],
                subscriptions_table=subscriptions_table,
                ledger_table=ledger_table,
                outbox_table=tables["marketplace_billing_outbox"],
                invoices_table=tables["marketplace_invoices"],
                idempotency_table=tables["marketplace_idempotency"],
            ),
            invoices=DynamoInvoiceStore(
                self.client,
                invoices_table=tables["marketplace_invoices"],
                subscriptions_table=subscriptions_table,
                ledger_table=ledger_table,
                outbox_table=tables["marketplace_billing_outbox"],
                idempotency_table=tables["marketplace_idempotency"],  # a plan change now closes with its key
            ),
            clock=clock,
            residencies=("us",),
            period_closings=InMemoryClosingQueue(),
        )

    def outbox(self, detail_type):
        found = self.client.scan(TableName=self.tables["marketplace_billing_outbox"], ConsistentRead=True)["Items"]
        events = [e for item in found for e in json.loads(item["events"]["S"])]
        return [e["detail"] for e in events if e["detail_type"] == detail_type]

    def teardown(self):
        for name in self.tables.values():
            self.client.delete_table(TableName=name)


class TestDynamoCredits(DynamoCreditsMachine.TestCase):
    settings = settings(
        max_examples=20, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )

    @classmethod
    def setUpClass(cls):
        cls._mock = mock_aws()
        cls._mock.start()
        DynamoCreditsMachine.client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )

    @classmethod
    def tearDownClass(cls):
        cls._mock.stop()


class InMemoryBlockingCreditsMachine(InMemoryCreditsMachine):
    overage_policy = "block"


TestInMemoryBlockingCredits = InMemoryBlockingCreditsMachine.TestCase
TestInMemoryBlockingCredits.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TestInMemoryCredits = InMemoryCreditsMachine.TestCase
TestInMemoryCredits.settings = settings(
    max_examples=80, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
