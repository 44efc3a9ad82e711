"""A model-based, stateful test: random provision / top-up / adjust / replay / key reuse / cancel
sequences against the store, checking invariants 1-3 of DESIGN.md after every step. Runs against
the in-memory store and against the DynamoDB store on moto."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import boto3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule
from moto import mock_aws

from billing.domain.access import Caller
from billing.domain.clock import TestClock
from billing.domain.errors import Conflict
from billing.domain.idempotency import IdempotencyKeyReused
from billing.domain.ledger import CreditBalances, InsufficientCredits
from billing.services import catalog, credits, subscriptions
from billing.services.credits import CreditChangeRequest
from billing.services.subscriptions import ProvisionRequest
from billing.services.unit_of_work import Billing
from billing.store.dynamodb_plans import DynamoPlanStore
from billing.store.dynamodb_subscriptions import DynamoSubscriptionStore
from billing.store.memory import InMemoryPlanStore, InMemorySubscriptionStore
from local_stack.database import create_tables

from .conftest import STACK

ADMIN = Caller("admin", frozenset({"marketplace:admin"}), None, "us")
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PROVISION = ProvisionRequest.model_validate(
    {"plan_id": "lab-standard", "residency": "us", "sla_acceptance": {"accepted_by": "a", "sla_version": "1"}}
)
amounts = st.decimals(min_value=Decimal("-1500"), max_value=Decimal("1500"), places=3).filter(lambda d: d != 0)


def no_pause(_):
    return None


def whole_ledger(store, subscription_id):
    entries, cursor = [], None
    while True:
        page = store.ledger_page(subscription_id, limit=7, cursor=cursor)
        entries += page.items
        if not page.next_cursor:
            return entries
        cursor = page.next_cursor


class LedgerMachine(RuleBasedStateMachine):
    subscriptions = Bundle("subscriptions")

    def __init__(self):
        super().__init__()
        plans, self.store = self.make_stores()
        self.clock = TestClock(at=START)
        # This machine never records usage nor drafts invoices: those stores stay out of it.
        self.billing = Billing(
            plans=plans, subscriptions=self.store, usage=None, invoices=None, clock=self.clock, residencies=("us",)
        )
        catalog.seed_lab_standard(self.billing)
        self.run_id = uuid.uuid4().hex[:8]  # stores may be shared between examples: organizations are not
        self.expected: dict[str, CreditBalances] = {}
        self.active: dict[str, str] = {}
        self.canceled: set[str] = set()
        self.provisioned: dict[tuple[str, str], object] = {}
        self.credit_requests: dict[tuple[str, str], tuple] = {}

    def make_stores(self):
        raise NotImplementedError

    def tick(self):
        return self.clock.advance(1)

    @rule(target=subscriptions, org=st.sampled_from(["org-a", "org-b"]), key=st.sampled_from([None, "p1"]))
    def provision(self, org, key):
        org = f"{org}-{self.run_id}"
        prior = self.provisioned.get((org, key)) if key else None
        try:
            self.tick()
            subscription, replayed = subscriptions.provision_subscription(
                self.billing, ADMIN, org, PROVISION, idempotency_key=key, pause=no_pause
            )
        except Conflict as conflict:
            assert conflict.code == "subscription_exists" and org in self.active and prior is None
            return multiple()
        if prior is not None:
            assert replayed and subscription == prior
            return multiple()
        assert not replayed and org not in self.active
        self.active[org] = subscription.subscription_id
        self.expected[subscription.subscription_id] = CreditBalances(allowance=Decimal(1000))
        if key:
            self.provisioned[(org, key)] = subscription
        return subscription.subscription_id

    @rule(
        subscription_id=subscriptions,
        amount=amounts,
        top_up=st.booleans(),
        key=st.sampled_from(["k1", "k2", "k3", "k4", "k5"]),
    )
    def change_credits(self, subscription_id, amount, top_up, key):
        kind = "top_up" if top_up else "adjustment"
        request = CreditChangeRequest(
            amount=abs(amount) if top_up else amount, type=kind, reason="stateful", idempotency_key=key
        )
        prior = self.credit_requests.get((subscription_id, key))
        try:
            self.tick()
            entry, replayed = credits.change_credits(self.billing, ADMIN, subscription_id, request, pause=no_pause)
        except IdempotencyKeyReused:
            assert prior is not None and prior[0] != request
            return
        except InsufficientCredits:
            assert prior is None and self.expected[subscription_id].purchased + request.amount < 0
            return
        except Conflict as conflict:
            assert (
                conflict.code == "no_active_subscription"
                and top_up
                and subscription_id in self.canceled
                and prior is None
            )
            return
        if prior is not None:
            assert replayed and prior[0] == request and entry == prior[1]
            return
        assert not replayed
        self.expected[subscription_id] = self.expected[subscription_id].changed("purchased", request.amount)
        self.credit_requests[(subscription_id, key)] = (request, entry)

    @rule(subscription_id=subscriptions)
    def cancel(self, subscription_id):
        self.tick()
        canceled = subscriptions.cancel_subscription(self.billing, ADMIN, subscription_id, pause=no_pause)
        assert canceled.status == "canceled"
        self.canceled.add(subscription_id)
        self.active = {org: sid for org, sid in self.active.items() if sid != subscription_id}

    @invariant()
    def the_ledger_is_honest(self):
        for subscription_id, expected in self.expected.items():
            subscription = self.store.get(subscription_id)
            entries = whole_ledger(self.store, subscription_id)
            assert [e.seq for e in entries] == list(range(1, len(entries) + 1))  # invariant 2
            assert subscription.ledger_seq == len(entries)
            total = sum((e.amount for e in entries), Decimal(0))
            assert (
                subscription.credit_balance == subscription.allowance_balance + subscription.purchased_balance == total
            )  # invariant 1
            assert entries[-1].balance_after == subscription.credit_balance
            assert (
                min(subscription.allowance_balance, subscription.purchased_balance, *(e.balance_after for e in entries))
                >= 0
            )
            assert subscription.balances == expected
            references = [e.reference for e in entries if e.reference.startswith("request:")]
            assert len(references) == len(set(references))  # invariant 3: one key, one entry


class InMemoryLedgerMachine(LedgerMachine):
    def make_stores(self):
        plans = InMemoryPlanStore()
        return plans, InMemorySubscriptionStore(plans)


class DynamoLedgerMachine(LedgerMachine):
    """One moto for all examples (starting it costs seconds), fresh small tables for each (moto's
    transactions copy table state, so their cost grows with the table)."""

    client = None

    def make_stores(self):
        suffix = uuid.uuid4().hex[:8]
        specs = [t | {"TableName": f"{t['TableName']}-{suffix}"} for t in STACK.tables()]
        create_tables(self.client, specs)
        self.tables = {t["TableName"].split("-")[0]: t["TableName"] for t in specs}
        plans = DynamoPlanStore(self.client, self.tables["marketplace_pricing_plans"])
        store = DynamoSubscriptionStore(
            self.client,
            subscriptions_table=self.tables["marketplace_subscriptions"],
            ledger_table=self.tables["marketplace_credit_ledger"],
            idempotency_table=self.tables["marketplace_idempotency"],
            plans_table=self.tables["marketplace_pricing_plans"],
        )
        return plans, store

    def teardown(self):
        for name in self.tables.values():
            self.client.delete_table(TableName=name)


class TestDynamoLedger(DynamoLedgerMachine.TestCase):
    settings = settings(
        max_examples=30, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )

    @classmethod
    def setUpClass(cls):
        cls._mock = mock_aws()
        cls._mock.start()
        DynamoLedgerMachine.client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )

    @classmethod
    def tearDownClass(cls):
        cls._mock.stop()


TestInMemoryLedger = InMemoryLedgerMachine.TestCase
TestInMemoryLedger.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
