"""Subscriptions and credits: the use cases against the in-memory stores."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from msgspec.structs import replace

from billing.domain.access import Caller
from billing.domain.clock import TestClock
from billing.domain.credits import CreditBook, CreditPosting
from billing.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from billing.domain.idempotency import IdempotencyKeyReused
from billing.domain.ledger import InsufficientCredits
from billing.domain.usage import UsageTotals
from billing.services import catalog, credits, subscriptions
from billing.services.credits import CreditChangeRequest
from billing.services.subscriptions import ProvisionRequest
from billing.services.unit_of_work import Billing
from billing.store.memory import InMemoryUsageStore

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ADMIN = Caller("admin", frozenset({"marketplace:admin"}), None, "us")
SERVED = ("us", "eu")


def org_admin(org="org-1", residency="us"):
    return Caller(f"grace@{org}", frozenset({"org:admin"}), org, residency)


def no_pause(_):
    return None


@pytest.fixture
def stores():
    """An in-memory deployment on a test clock at NOW, with Lab Standard in its catalog."""
    billing = Billing.in_memory(TestClock(at=NOW), residencies=SERVED)
    catalog.seed_lab_standard(billing)
    return billing


def request(**changes):
    return ProvisionRequest.model_validate(
        {"plan_id": "lab-standard", "residency": "us", "sla_acceptance": {"accepted_by": "grace", "sla_version": 1}}
        | changes
    )


def provision(stores, who=None, org="org-1", key=None, **changes):
    return subscriptions.provision_subscription(
        stores, who or org_admin(org), org, request(**changes), idempotency_key=key, pause=no_pause
    )


def change(stores, subscription_id, amount, kind="top_up", key="k1", who=ADMIN, now=NOW):
    if now > stores.now():
        stores.clock.freeze(now)
    body = CreditChangeRequest(amount=amount, type=kind, reason="test", idempotency_key=key)
    return credits.change_credits(stores, who, subscription_id, body, pause=no_pause)


def test_provisioning_pins_the_plan_starts_the_period_and_grants_the_allowance(stores):
    subscription, replayed = provision(stores)
    assert not replayed and subscription.plan_version == 1 and subscription.status == "active"
    assert subscription.current_period_start == NOW and subscription.current_period_end == datetime(
        2026, 12, 24, 10, tzinfo=UTC
    )
    assert (
        subscription.allowance_balance == subscription.credit_balance == Decimal(1000)
        and subscription.purchased_balance == 0
    )
    assert subscription.sla_acceptance.accepted_by == "grace" and subscription.sla_acceptance.sla_tier == "standard"
    assert subscription.sla_acceptance.sla_version == "1" and subscription.sla_acceptance.accepted_at == NOW
    [grant] = stores.subscriptions.ledger_page(subscription.subscription_id, limit=10, cursor=None).items
    assert (grant.seq, grant.type, grant.amount, grant.bucket, grant.balance_after) == (
        1,
        "grant",
        Decimal(1000),
        "allowance",
        Decimal(1000),
    )


def test_one_active_subscription_per_organization_until_it_is_canceled(stores):
    first, _ = provision(stores)
    with pytest.raises(Conflict) as raised:
        provision(stores)
    assert raised.value.code == "subscription_exists"
    subscriptions.cancel_subscription(stores, org_admin(), first.subscription_id)
    second, _ = provision(stores)
    assert second.subscription_id != first.subscription_id
    page = subscriptions.list_subscriptions(stores, org_admin(), "org-1", limit=10, cursor=None)
    assert [s.subscription_id for s in page.items] == [second.subscription_id, first.subscription_id]


def test_an_idempotency_key_replays_the_first_subscription_and_refuses_another_body(stores):
    first, _ = provision(stores, key="abc")
    again, replayed = provision(stores, key="abc")
    assert replayed and again == first
    with pytest.raises(IdempotencyKeyReused):
        provision(stores, key="abc", sla_acceptance={"accepted_by": "someone else", "sla_version": "1"})


def test_provisioning_refuses_unknown_archived_and_unserved(stores):
    with pytest.raises(ValidationFailed) as raised:
        provision(stores, plan_id="nope")
    assert raised.value.fields[0]["field"] == "plan_id"
    catalog.archive_plan(stores, "lab-standard")
    with pytest.raises(Conflict) as archived:
        provision(stores)
    assert archived.value.code == "plan_archived"
    with pytest.raises(Forbidden) as unserved:
        provision(stores, residency="ap")
    assert unserved.value.code == "residency_not_served"
    with pytest.raises(Forbidden) as mismatch:
        provision(stores, who=org_admin(residency="eu"))
    assert mismatch.value.code == "residency_mismatch"


def test_organization_callers_see_only_their_own(stores):
    mine, _ = provision(stores)
    with pytest.raises(NotFound):
        subscriptions.subscription_health(stores, org_admin("org-2"), mine.subscription_id)
    with pytest.raises(NotFound):
        subscriptions.list_subscriptions(stores, org_admin("org-2"), "org-1", limit=10, cursor=None)
    with pytest.raises(NotFound):
        provision(stores, who=org_admin("org-2"), org="org-1")
    with pytest.raises(Forbidden):
        subscriptions.cancel_subscription(
            stores, Caller("m", frozenset({"org:member"}), "org-1", "us"), mine.subscription_id
        )


def test_top_ups_are_purchased_grants_and_adjustments_never_take_the_balance_below_zero(stores):
    subscription, _ = provision(stores)
    entry, replayed = change(stores, subscription.subscription_id, Decimal("250.5"))
    assert not replayed and (entry.seq, entry.bucket, entry.balance_after) == (2, "purchased", Decimal("1250.5"))
    assert entry.grant_id is not None
    with pytest.raises(InsufficientCredits):
        change(stores, subscription.subscription_id, Decimal("-1250.6"), kind="adjustment", key="k2")
    entry, _ = change(stores, subscription.subscription_id, Decimal("-1000.5"), kind="adjustment", key="k3")
    after = stores.subscriptions.get(subscription.subscription_id)
    # Draw-down order: the allowance (priority 0) first, then the purchased grant.
    assert entry.balance_after == Decimal(250) and (after.allowance_balance, after.purchased_balance) == (0, 250)
    assert [a.amount for a in entry.allocation] == [Decimal(-1000), Decimal("-0.5")]


def test_credit_replays_and_key_reuse(stores):
    subscription, _ = provision(stores)
    first, _ = change(stores, subscription.subscription_id, Decimal("10"))
    again, replayed = change(stores, subscription.subscription_id, Decimal("10.000"), now=NOW + timedelta(days=3))
    assert replayed and again == first
    with pytest.raises(IdempotencyKeyReused):
        change(stores, subscription.subscription_id, Decimal("11"))
    assert stores.subscriptions.get(subscription.subscription_id).ledger_seq == 2


def test_credit_changes_need_matching_residency_and_top_ups_an_active_subscription(stores):
    subscription, _ = provision(stores)
    with pytest.raises(Forbidden) as raised:
        change(
            stores,
            subscription.subscription_id,
            Decimal(1),
            who=Caller("admin", frozenset({"marketplace:admin"}), None, "eu"),
        )
    assert raised.value.code == "residency_mismatch"
    subscriptions.cancel_subscription(stores, ADMIN, subscription.subscription_id)
    with pytest.raises(Conflict) as canceled:
        change(stores, subscription.subscription_id, Decimal(1), key="k9")
    assert canceled.value.code == "no_active_subscription"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "0", "type": "adjustment"},
        {"amount": "-1", "type": "top_up"},
        {"amount": "1.0000001", "type": "top_up"},
    ],
)
def test_credit_requests_refuse_meaningless_amounts(body):
    with pytest.raises(ValueError):
        CreditChangeRequest.model_validate(body | {"reason": "r", "idempotency_key": "k"})


@pytest.mark.parametrize(
    "usage, balance_change, status",
    [
        (Decimal(0), Decimal(0), "healthy"),
        (Decimal(300), Decimal(-300), "healthy"),
        (Decimal(700), Decimal(-950), "low"),
        (Decimal(1000), Decimal(-1000), "depleted"),
    ],
)
def test_health_from_usage_and_balance(stores, usage, balance_change, status):
    subscription, _ = provision(stores)
    usage_store = InMemoryUsageStore()
    usage_store.totals[(subscription.subscription_id, NOW)] = UsageTotals(credits=usage, overage_credits=Decimal(0))
    subs = stores.subscriptions
    book = CreditBook.open(subscription, NOW, "test")
    book.draw(-balance_change)
    drained = CreditPosting.of(subscription, book).subscription
    subs._subscriptions[subscription.subscription_id] = drained  # a balance as usage would leave it
    stores.clock.freeze(NOW + timedelta(days=10))
    found = subscriptions.subscription_health(replace(stores, usage=usage_store), ADMIN, subscription.subscription_id)
    assert found.health.status == status
    assert found.health.period_usage_credits == usage
    assert found.health.burn_rate_credits_per_day == usage / 10
    assert (found.health.projected_depletion_at is None) == (usage == 0 or drained.credit_balance == 0)
