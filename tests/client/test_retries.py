"""Retries: a write whose answer is lost is sent again with the same key and body and charged
once; 429, 5xx and the retryable 409s are sent again (honouring `Retry-After`), nothing else is;
a 401 asks `token_provider` for a fresh token once."""

from __future__ import annotations

import json
import socket
from decimal import Decimal

import pytest
from marketplace_billing import (
    AuthenticationFailed,
    Billing,
    Conflict,
    NetworkError,
    RateLimited,
    ServerError,
    planner_finalization,
)

from .conftest import SLA, new_org
from .proxy import Proxy

pytestmark = pytest.mark.client


@pytest.fixture
def proxy(server):
    running = Proxy(server.base_url)
    yield running
    running.close()


@pytest.fixture
def through(proxy, sign_in):
    """through(*roles) -> a `Billing` that reaches the stack through the proxy."""
    opened = []

    def client(*roles: str, **options) -> Billing:
        opened.append(Billing(proxy.base_url + "/api/billing", token_provider=lambda: sign_in(*roles), **options))
        return opened[-1]

    yield client
    for billing in opened:
        billing.close()


def error_body(code: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": "try again", "details": {}}}).encode()


def test_every_write_whose_answer_is_lost_is_sent_again_with_its_key_and_charged_once(proxy, through, admin):
    proxy.drop_first_answer_of_writes = True
    staff, service = through("marketplace:admin"), through("service")
    org = new_org()

    sub = staff.subscriptions.create(organization_id=org, plan_id="lab-standard", residency="us", sla_acceptance=SLA)
    event = service.usage.record(organization_id=org, service="planner", quantity=1)
    batch = service.usage.record_many([planner_finalization(org, f"fin-{n}") for n in range(3)])
    with service.holds.reserve(
        organization_id=org, service="instrumentation", quantity=2, idempotency_key="instrumentation_run:run-1"
    ) as run:
        run.settle(quantity=1)
    released = service.holds.release(service.holds.place(organization_id=org, service="planner", quantity=5).hold_id)
    topped = staff.credits.top_up(sub.subscription_id, amount=100, reason="PO 12")
    canceled = staff.subscriptions.cancel(sub.subscription_id)
    draft = staff.invoices.draft(sub.subscription_id)
    issued = staff.invoices.issue(sub.subscription_id, draft.invoice_id)
    voided = staff.invoices.void(sub.subscription_id, draft.invoice_id)

    # Each write reached the stack exactly twice: the lost first answer, then the retry with the
    # same key and the same body (the proxy counts by method, path, body and Idempotency-Key).
    writes = {w: n for w, n in proxy.forwarded.items() if w[0] == "POST"}
    assert len(writes) == 12 and set(writes.values()) == {2}
    assert [r.status for r in batch] == ["duplicate"] * 3  # the retry found the first attempt's events
    assert (released.status, canceled.status, issued.status, voided.status) == (
        "released",
        "canceled",
        "issued",
        "void",
    )
    assert issued.number is not None and topped.amount == Decimal(100)

    # Charged once: one subscription, each event once, the ledger adding up.
    assert [s.subscription_id for s in admin.subscriptions.list(organization_id=org)] == [sub.subscription_id]
    events = list(admin.usage.list(sub.subscription_id))
    assert sorted(e.idempotency_key for e in events) == sorted(
        [event.idempotency_key, "instrumentation_run:run-1"] + [f"planner_finalization:fin-{n}" for n in range(3)]
    )
    ledger = list(admin.ledger.list(sub.subscription_id))
    assert sum(e.amount for e in ledger) == ledger[-1].balance_after
    assert sum(e.amount for e in ledger if e.type == "usage") == -(2 + 3 * 2 + 5)
    assert [e.amount for e in ledger if e.type == "top_up"] == [100]


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "too_many_requests"), (502, "bad_gateway"), (503, "unavailable"), (409, "concurrent_update"),
     (409, "idempotency_in_progress")],
)  # fmt: skip
def test_retryable_answers_are_sent_again_after_the_wait_the_server_asks(proxy, through, subscribed, status, code):
    sub = subscribed()
    service = through("service")
    waits: list[float] = []
    service._http.sleep = waits.append  # what the client would sleep, without sleeping
    proxy.answer_next(status, error_body(code), **{"Retry-After": "2"})
    proxy.answer_next(status, error_body(code))

    event = service.usage.record(organization_id=sub.organization_id, service="planner", quantity=1)
    assert event.credits == Decimal(2) and proxy.received == 3
    assert waits[0] == 2 and 0 <= waits[1] <= 0.5  # Retry-After, then full jitter in [0, base x 2]


def test_retries_stop_after_max_retries_with_the_last_error(proxy, through):
    service = through("service", max_retries=2)
    service._http.sleep = lambda _: None
    for _ in range(3):
        proxy.answer_next(503, error_body("unavailable"))
    with pytest.raises(ServerError) as failed:
        service.entitlements.check(organization_id=new_org(), service="planner", quantity=1)
    assert (failed.value.status, failed.value.code, proxy.received) == (503, "unavailable", 3)

    proxy.answer_next(429, error_body("too_many_requests"), **{"Retry-After": "3600"})
    with pytest.raises(RateLimited):  # a wait longer than a caller should hang: the error now
        service.entitlements.check(organization_id=new_org(), service="planner", quantity=1)
    assert proxy.received == 4


def test_other_errors_are_never_sent_again(proxy, through, subscribed):
    sub = subscribed()
    staff = through("marketplace:admin")
    with pytest.raises(Conflict) as exists:
        staff.subscriptions.create(
            organization_id=sub.organization_id, plan_id="lab-standard", residency="us", sla_acceptance=SLA
        )
    assert exists.value.code == "subscription_exists" and proxy.received == 1
    assert exists.value.details["subscription_id"] == sub.subscription_id


def test_no_answer_at_all_is_a_network_error_after_the_retries():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    billing = Billing(f"http://127.0.0.1:{port}/api/billing", token="t", max_retries=2, timeout=2)
    waits: list[float] = []
    billing._http.sleep = waits.append
    with pytest.raises(NetworkError) as failed:
        billing.plans.get("lab-standard")
    assert failed.value.status is None and len(waits) == 2 and failed.value.retried


def test_a_401_asks_the_token_provider_for_a_fresh_token_once(base_url, sign_in, subscribed):
    sub = subscribed()
    handed: list[str] = []

    def expiring_then_fresh() -> str:  # the first token has expired by the time it is used
        handed.append("expired" if not handed else sign_in("service"))
        return handed[-1]

    billing = Billing(base_url, token_provider=expiring_then_fresh)
    event = billing.usage.record(organization_id=sub.organization_id, service="planner", quantity=1)
    assert event.credits == Decimal(2) and handed[0] == "expired" and len(handed) == 2
    billing.usage.record(organization_id=sub.organization_id, service="planner", quantity=1)
    assert len(handed) == 2  # the fresh token is kept

    always_bad = []
    refused = Billing(base_url, token_provider=lambda: always_bad.append(1) or "still-bad")
    with pytest.raises(AuthenticationFailed) as failed:
        refused.entitlements.check(organization_id=sub.organization_id, service="planner", quantity=1)
    assert failed.value.status == 401 and len(always_bad) == 2  # asked again once, then the error
