"""Subscriptions, credits and the ledger over HTTP: every status and error code of API.md,
and the concurrency guarantees of DESIGN.md (invariants 1-3, 8)."""

import json
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from .test_plans_http import TERMS, error_of, new_plan_id


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def provision_body(**changes):
    return {
        "plan_id": "lab-standard",
        "residency": "us",
        "sla_acceptance": {"accepted_by": "grace@lab.example", "sla_version": "1"},
    } | changes


def subscribe(server, token, org, **changes):
    server.request("GET", "/plans")  # the sandbox seeds Lab Standard
    response = server.request(
        "POST", f"/organizations/{org}/subscriptions", token=token("org:admin", org=org), json=provision_body(**changes)
    )
    assert response.status_code == 201, response.text
    return response.json()


def ledger(server, token, subscription_id):
    entries, cursor = [], None
    while True:
        params = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        page = server.request(
            "GET", f"/subscriptions/{subscription_id}/ledger", token=token("finance"), params=params
        ).json()
        entries += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return entries


def assert_ledger_is_honest(server, token, subscription_id):
    subscription = server.request("GET", f"/subscriptions/{subscription_id}", token=token("finance")).json()
    entries = ledger(server, token, subscription_id)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    total = sum(Decimal(e["amount"]) for e in entries)
    balance = Decimal(subscription["credit_balance"])
    assert balance == Decimal(subscription["allowance_balance"]) + Decimal(subscription["purchased_balance"]) == total
    assert Decimal(entries[-1]["balance_after"]) == balance
    assert all(Decimal(e["balance_after"]) >= 0 for e in entries)
    assert min(Decimal(subscription["allowance_balance"]), Decimal(subscription["purchased_balance"])) >= 0
    # Invariant 9: every credit belongs to a grant.
    grants = server.request("GET", f"/subscriptions/{subscription_id}/grants?limit=200", token=token("finance")).json()
    # The contract's words: the sum of every grant's `remaining` is the balance (an ended grant holds 0).
    assert sum((Decimal(g["remaining"]) for g in grants["items"]), Decimal(0)) == balance
    assert all(0 <= Decimal(g["remaining"]) <= Decimal(g["amount"]) for g in grants["items"])
    assert all(Decimal(g["remaining"]) == 0 for g in grants["items"] if g["status"] != "active")
    return subscription, entries


# --- provisioning ---------------------------------------------------------------------------


def test_an_org_admin_subscribes_with_sla_acceptance_and_gets_the_allowance(server, token):
    org = new_org()
    subscription = subscribe(server, token, org)
    assert (
        subscription["status"] == "active"
        and subscription["plan_id"] == "lab-standard"
        and subscription["plan_version"] == 1
    )
    assert (
        subscription["allowance_balance"] == subscription["credit_balance"] == "1000"
        and subscription["purchased_balance"] == "0"
    )
    assert subscription["sla_acceptance"] | {"accepted_at": None} == {
        "accepted_by": "grace@lab.example",
        "accepted_at": None,
        "sla_tier": "standard",
        "sla_version": "1",
    }
    assert subscription["current_period_start"] < subscription["current_period_end"]
    [grant] = ledger(server, token, subscription["subscription_id"])
    assert (grant["seq"], grant["type"], grant["amount"], grant["bucket"], grant["balance_after"]) == (
        1,
        "grant",
        "1000",
        "allowance",
        "1000",
    )


def test_a_marketplace_admin_may_subscribe_any_organization(server, token):
    org = new_org()
    server.request("GET", "/plans")
    response = server.request(
        "POST",
        f"/organizations/{org}/subscriptions",
        token=token("marketplace:admin"),
        json=provision_body(residency="eu"),
    )
    assert response.status_code == 201 and response.json()["residency"] == "eu"


def test_a_second_active_subscription_is_409_and_writes_nothing(server, token):
    org = new_org()
    first = subscribe(server, token, org)
    response = server.request(
        "POST", f"/organizations/{org}/subscriptions", token=token("org:admin", org=org), json=provision_body()
    )
    assert response.status_code == 409 and error_of(response)["code"] == "subscription_exists"
    assert error_of(response)["details"] == {"subscription_id": first["subscription_id"]}
    listed = server.request("GET", f"/organizations/{org}/subscriptions", token=token("org:member", org=org)).json()
    assert [s["subscription_id"] for s in listed["items"]] == [first["subscription_id"]]


def test_an_idempotency_key_replays_the_first_response_and_refuses_another_body(server, token):
    org = new_org()
    server.request("GET", "/plans")
    admin = token("org:admin", org=org)
    path = f"/organizations/{org}/subscriptions"
    first = server.request("POST", path, token=admin, json=provision_body(), headers={"Idempotency-Key": "sub-1"})
    again = server.request("POST", path, token=admin, json=provision_body(), headers={"Idempotency-Key": "sub-1"})
    assert first.status_code == 201 and again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = server.request(
        "POST",
        path,
        token=admin,
        headers={"Idempotency-Key": "sub-1"},
        json=provision_body(sla_acceptance={"accepted_by": "someone-else", "sla_version": "1"}),
    )
    assert other.status_code == 422 and error_of(other)["code"] == "idempotency_key_reused"
    bad_key = server.request("POST", path, token=admin, json=provision_body(), headers={"Idempotency-Key": "x" * 300})
    assert bad_key.status_code == 422 and error_of(bad_key)["details"]["fields"][0]["field"] == "Idempotency-Key"


def test_an_archived_plan_takes_no_new_subscriptions(server, token):
    admin = token("marketplace:admin")
    plan_id = new_plan_id()
    assert server.request("POST", "/plans", token=admin, json={"plan_id": plan_id, **TERMS}).status_code == 201
    assert server.request("POST", f"/plans/{plan_id}/archive", token=admin).status_code == 200
    org = new_org()
    response = server.request(
        "POST",
        f"/organizations/{org}/subscriptions",
        token=token("org:admin", org=org),
        json=provision_body(plan_id=plan_id),
    )
    assert response.status_code == 409 and error_of(response)["code"] == "plan_archived"
    assert server.request("GET", f"/organizations/{org}/subscriptions", token=admin).json()["items"] == []


def test_subscriptions_pin_the_plan_version_they_signed_up_to(server, token):
    admin = token("marketplace:admin")
    plan_id = new_plan_id()
    server.request("POST", "/plans", token=admin, json={"plan_id": plan_id, **TERMS, "overage_policy": "allow"})
    early = subscribe(server, token, new_org(), plan_id=plan_id)
    server.request("PUT", f"/plans/{plan_id}", token=admin, json={**TERMS, "credit_allowance": "7"})
    late = subscribe(server, token, new_org(), plan_id=plan_id)
    assert (early["plan_version"], early["allowance_balance"]) == (1, "5000")
    assert (late["plan_version"], late["allowance_balance"]) == (2, "7")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"plan_id": "lab-standard", "residency": "us"}, "sla_acceptance"),
        (provision_body(sla_acceptance={"sla_version": "1"}), "sla_acceptance.accepted_by"),
        (provision_body(sla_acceptance={"accepted_by": "", "sla_version": "1"}), "sla_acceptance.accepted_by"),
        (provision_body(plan_id="no-such-plan"), "plan_id"),
        (provision_body(residency="U S"), "residency"),
        (provision_body(surprise=True), "surprise"),
    ],
)
def test_invalid_provisioning_is_422_naming_the_field(server, token, body, field):
    org = new_org()
    server.request("GET", "/plans")
    response = server.request(
        "POST", f"/organizations/{org}/subscriptions", token=token("org:admin", org=org), json=body
    )
    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in error_of(response)["details"]["fields"]]
    assert server.request("GET", f"/organizations/{org}/subscriptions", token=token("finance")).json()["items"] == []


def test_an_invalid_organization_id_in_the_path_is_422(server, token):
    response = server.request(
        "POST", "/organizations/bad%20org!/subscriptions", token=token("marketplace:admin"), json=provision_body()
    )
    assert response.status_code == 422 and error_of(response)["details"]["fields"][0]["location"] == "path"


def test_residency_must_be_served_and_match_the_organization(server, token):
    org = new_org()
    admin = token("org:admin", org=org, residency="us")
    unserved = server.request(
        "POST", f"/organizations/{org}/subscriptions", token=admin, json=provision_body(residency="ap")
    )
    assert unserved.status_code == 403 and error_of(unserved)["code"] == "residency_not_served"
    mismatch = server.request(
        "POST", f"/organizations/{org}/subscriptions", token=admin, json=provision_body(residency="eu")
    )
    assert mismatch.status_code == 403 and error_of(mismatch)["code"] == "residency_mismatch"


@pytest.mark.parametrize("role", ["org:member", "finance", "service"])
def test_roles_that_may_not_subscribe_get_403(server, token, role):
    org = new_org()
    response = server.request(
        "POST",
        f"/organizations/{org}/subscriptions",
        token=token(role, org=org if role.startswith("org") else None),
        json=provision_body(),
    )
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"


def test_another_organizations_admin_gets_404(server, token):
    org = new_org()
    response = server.request(
        "POST", f"/organizations/{org}/subscriptions", token=token("org:admin", org=new_org()), json=provision_body()
    )
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_provisioning_without_a_token_a_json_object_or_a_small_body_fails_cleanly(server, token):
    org = new_org()
    path = f"/organizations/{org}/subscriptions"
    assert server.request("POST", path, json=provision_body()).status_code == 401
    malformed = server.request(
        "POST", path, token=token("org:admin", org=org), data="{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and error_of(malformed)["code"] == "malformed_json"
    huge = server.request("POST", path, token=token("org:admin", org=org), json=provision_body(padding="x" * 300_000))
    assert huge.status_code == 413 and error_of(huge)["code"] == "payload_too_large"
    assert server.request("GET", path, token=token("finance")).json()["items"] == []


def test_two_racing_first_subscriptions_give_one_201_and_one_409(server, token):
    for _ in range(3):
        org = new_org()
        server.request("GET", "/plans")
        barrier = threading.Barrier(2)

        def attempt(_, org=org, barrier=barrier):
            barrier.wait()
            return server.request(
                "POST", f"/organizations/{org}/subscriptions", token=token("org:admin", org=org), json=provision_body()
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(attempt, range(2)))
        assert sorted(r.status_code for r in responses) == [201, 409]
        assert [error_of(r)["code"] for r in responses if r.status_code == 409] == ["subscription_exists"]
        assert (
            len(server.request("GET", f"/organizations/{org}/subscriptions", token=token("finance")).json()["items"])
            == 1
        )


# --- reading and canceling ------------------------------------------------------------------


def test_reading_a_subscription_shows_health_and_scopes_to_the_organization(server, token):
    org = new_org()
    subscription = subscribe(server, token, org)
    path = f"/subscriptions/{subscription['subscription_id']}"
    found = server.request("GET", path, token=token("org:member", org=org))
    assert found.status_code == 200
    health = found.json()["health"]
    assert health == {
        "period_usage_credits": "0",
        "period_overage_credits": "0",
        "burn_rate_credits_per_day": "0",
        "projected_depletion_at": None,
        "status": "healthy",
    }
    assert server.request("GET", path, token=token("finance")).status_code == 200
    outsider = server.request("GET", path, token=token("org:admin", org=new_org()))
    assert outsider.status_code == 404 and error_of(outsider)["code"] == "not_found"
    assert server.request("GET", path, token=token("service")).status_code == 403
    assert server.request("GET", "/subscriptions/01JBZ8Y7Q9R5N0W3X2V1T6S4PA", token=token("finance")).status_code == 404
    assert server.request("GET", path).status_code == 401


def test_an_organizations_subscriptions_list_newest_first_and_page(server, token):
    org = new_org()
    ids = []
    for _ in range(3):
        subscription = subscribe(server, token, org)
        ids.append(subscription["subscription_id"])
        assert (
            server.request(
                "POST", f"/subscriptions/{subscription['subscription_id']}/cancel", token=token("org:admin", org=org)
            ).status_code
            == 200
        )
    first = server.request(
        "GET", f"/organizations/{org}/subscriptions", token=token("org:member", org=org), params={"limit": 2}
    ).json()
    rest = server.request(
        "GET",
        f"/organizations/{org}/subscriptions",
        token=token("org:member", org=org),
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert [s["subscription_id"] for s in first["items"] + rest["items"]] == ids[::-1]
    assert (
        server.request(
            "GET", f"/organizations/{org}/subscriptions", token=token("org:member", org=new_org())
        ).status_code
        == 404
    )
    assert server.request("GET", f"/organizations/{org}/subscriptions", token=token("service")).status_code == 403
    assert (
        server.request(
            "GET", f"/organizations/{org}/subscriptions", token=token("finance"), params={"limit": 0}
        ).status_code
        == 422
    )


def test_canceling_is_for_the_organizations_admin_and_is_idempotent(server, token):
    org = new_org()
    subscription = subscribe(server, token, org)
    path = f"/subscriptions/{subscription['subscription_id']}/cancel"
    assert server.request("POST", path, token=token("org:member", org=org)).status_code == 403
    assert server.request("POST", path, token=token("finance")).status_code == 403
    assert server.request("POST", path, token=token("org:admin", org=new_org())).status_code == 404
    assert server.request("POST", "/subscriptions/nope/cancel", token=token("marketplace:admin")).status_code == 404
    canceled = server.request("POST", path, token=token("org:admin", org=org))
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled" and canceled.json()["canceled_at"]
    again = server.request("POST", path, token=token("marketplace:admin"))
    assert again.status_code == 200 and again.json()["canceled_at"] == canceled.json()["canceled_at"]
    assert subscribe(server, token, org)["subscription_id"] != subscription["subscription_id"]  # the slot is free again


# --- credits and the ledger -----------------------------------------------------------------


def credit(server, token, subscription_id, amount, kind="top_up", key=None, who=None, reason="credit pack", **more):
    body = {"amount": amount, "type": kind, "reason": reason, "idempotency_key": key or uuid.uuid4().hex} | more
    return server.request(
        "POST", f"/subscriptions/{subscription_id}/credits", token=who or token("marketplace:admin"), json=body
    )


def test_top_ups_and_adjustments_go_through_the_ledger(server, token):
    subscription = subscribe(server, token, new_org())
    sid = subscription["subscription_id"]
    top_up = credit(server, token, sid, "250.125")
    assert top_up.status_code == 201
    entry = top_up.json()
    assert (entry["seq"], entry["type"], entry["bucket"], entry["amount"], entry["balance_after"]) == (
        2,
        "top_up",
        "purchased",
        "250.125",
        "1250.125",
    )
    assert entry["actor"] and entry["reason"] == "credit pack" and entry["entry_id"]
    down = credit(server, token, sid, -50, kind="adjustment", reason="goodwill reversal")
    assert down.status_code == 201 and down.json()["balance_after"] == "1200.125"
    subscription, entries = assert_ledger_is_honest(server, token, sid)
    # Draw-down order: the allowance (priority 0, expiring) pays before the purchased grant.
    assert (subscription["allowance_balance"], subscription["purchased_balance"]) == ("950", "250.125")
    assert [e["type"] for e in entries] == [
        "grant",
        "top_up",
        "adjustment",
    ]


def test_a_negative_adjustment_below_zero_is_409_and_writes_nothing(server, token):
    sid = subscribe(server, token, new_org())["subscription_id"]
    credit(server, token, sid, "10")
    response = credit(server, token, sid, "-1010.000001", kind="adjustment")  # the allowance and the top-up, and more
    assert response.status_code == 409 and error_of(response)["code"] == "insufficient_credits"
    _, entries = assert_ledger_is_honest(server, token, sid)
    assert len(entries) == 2


def test_credit_replays_return_the_first_entry_and_reused_keys_are_422(server, token):
    sid = subscribe(server, token, new_org())["subscription_id"]
    first = credit(server, token, sid, "5", key="pack-1")
    again = credit(server, token, sid, "5.00", key="pack-1")
    assert first.status_code == 201 and again.status_code == 200 and again.json() == first.json()
    reused = credit(server, token, sid, "6", key="pack-1")
    assert reused.status_code == 422 and error_of(reused)["code"] == "idempotency_key_reused"
    assert len(ledger(server, token, sid)) == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": "0", "type": "adjustment"}, "amount"),
        ({"amount": "-5", "type": "top_up"}, "amount"),
        ({"amount": "1.0000001", "type": "top_up"}, "amount"),
        ({"amount": "NaN", "type": "top_up"}, "amount"),
        ({"amount": "10", "type": "gift"}, "type"),
        ({"amount": "10", "type": "top_up", "reason": ""}, "reason"),
        ({"amount": "10", "type": "top_up", "idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_invalid_credit_changes_are_422(server, token, body, field):
    sid = subscribe(server, token, new_org())["subscription_id"]
    full = {"reason": "r", "idempotency_key": uuid.uuid4().hex} | body
    response = server.request("POST", f"/subscriptions/{sid}/credits", token=token("marketplace:admin"), json=full)
    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in error_of(response)["details"]["fields"]]
    assert len(ledger(server, token, sid)) == 1


def test_credit_changes_need_an_admin_of_the_same_residency(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    for who in (token("finance"), token("org:admin", org=org), token("service")):
        response = credit(server, token, sid, "1", who=who)
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    elsewhere = credit(server, token, sid, "1", who=token("marketplace:admin", residency="eu"))
    assert elsewhere.status_code == 403 and error_of(elsewhere)["code"] == "residency_mismatch"
    assert credit(server, token, "01JBZ8Y7Q9R5N0W3X2V1T6S4PA", "1").status_code == 404
    assert server.request("POST", f"/subscriptions/{sid}/credits", json={}).status_code == 401
    malformed = server.request("POST", f"/subscriptions/{sid}/credits", token=token("marketplace:admin"), data="[]")
    assert malformed.status_code == 400
    assert len(ledger(server, token, sid)) == 1


def test_a_canceled_subscription_takes_no_top_ups_but_can_be_adjusted(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    credit(server, token, sid, "40")
    server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org))
    refused = credit(server, token, sid, "10")
    assert refused.status_code == 409 and error_of(refused)["code"] == "no_active_subscription"
    assert credit(server, token, sid, "-40", kind="adjustment", reason="refund on cancel").status_code == 201


def test_the_ledger_reads_oldest_first_for_the_organization_and_finance_only(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    for amount in ("1", "2", "3"):
        credit(server, token, sid, amount)
    page = server.request(
        "GET", f"/subscriptions/{sid}/ledger", token=token("org:member", org=org), params={"limit": 2}
    ).json()
    assert [e["seq"] for e in page["items"]] == [1, 2] and page["next_cursor"]
    rest = server.request(
        "GET",
        f"/subscriptions/{sid}/ledger",
        token=token("org:member", org=org),
        params={"limit": 2, "cursor": page["next_cursor"]},
    ).json()
    assert [e["seq"] for e in rest["items"]] == [3, 4]
    assert (
        server.request("GET", f"/subscriptions/{sid}/ledger", token=token("org:admin", org=new_org())).status_code
        == 404
    )
    assert server.request("GET", f"/subscriptions/{sid}/ledger", token=token("service")).status_code == 403
    foreign_cursor = server.request(
        "GET",
        f"/subscriptions/{sid}/ledger",
        token=token("finance"),
        params={"cursor": page["next_cursor"][:-4] + "AAAA"},
    )
    assert foreign_cursor.status_code == 422


def test_sixteen_concurrent_writers_never_lose_an_update(fresh_server, token):
    server = fresh_server  # small tables: moto copies every table a transaction touches
    sid = subscribe(server, token, new_org())["subscription_id"]
    credit(server, token, sid, "100")
    rng = random.Random(7)
    plan = [
        (str(Decimal(rng.randint(1, 4000)) / 100), "top_up")
        if rng.random() < 0.25
        else (str(-Decimal(rng.randint(1, 9000)) / 100), "adjustment")
        for _ in range(96)
    ]
    assert sum(kind == "top_up" for _, kind in plan) < 31  # each top-up is a grant; 32 may be active at once

    def change(item):
        amount, kind = item
        return credit(server, token, sid, amount, kind=kind, key=uuid.uuid4().hex)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(change, plan))
    accepted = [r.json() for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    # A refusal is the balance floor, or contention outlasting the retries (retryable; wrote nothing).
    assert all(
        r.status_code == 409 and error_of(r)["code"] in ("insufficient_credits", "concurrent_update") for r in refused
    ), [r.text for r in refused]
    assert any(error_of(r)["code"] == "insufficient_credits" for r in refused)
    assert len(accepted) >= len(plan) // 3
    subscription, entries = assert_ledger_is_honest(server, token, sid)
    by_id = {e["entry_id"]: e for e in entries}
    assert all(by_id.get(a["entry_id"]) == a for a in accepted)  # every 2xx has its entry, as answered
    assert len(entries) == 2 + len(accepted)  # the grant, the first top-up, then each accepted change
    assert Decimal(subscription["credit_balance"]) == Decimal(1100) + sum(Decimal(a["amount"]) for a in accepted)


def test_the_same_credit_request_fired_ten_times_at_once_lands_once(fresh_server, token):
    server = fresh_server
    sid = subscribe(server, token, new_org())["subscription_id"]
    barrier = threading.Barrier(10)

    def fire(_):
        barrier.wait()
        return credit(server, token, sid, "12.5", key="same-key")

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(fire, range(10)))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
    _, entries = assert_ledger_is_honest(server, token, sid)
    assert [e["type"] for e in entries] == ["grant", "top_up"]


# --- money safety -----------------------------------------------------------------------------


def test_another_organizations_subscription_answers_exactly_as_a_missing_one(server, token):
    sid = subscribe(server, token, new_org())["subscription_id"]
    outsider = token("org:admin", org=new_org())
    missing = "01JBZ8Y7Q9R5N0W3X2V1T6S4PA"
    for suffix, method in [
        ("", "GET"),
        ("/ledger", "GET"),
        ("/invoices", "GET"),
        ("/usage", "GET"),
        ("/usage/summary", "GET"),
        ("/cancel", "POST"),
    ]:
        theirs = server.request(method, f"/subscriptions/{sid}{suffix}", token=outsider)
        nothing = server.request(method, f"/subscriptions/{missing}{suffix}", token=outsider)
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.content.replace(sid.encode(), b"ID") == nothing.content.replace(missing.encode(), b"ID"), suffix


def test_top_ups_that_would_leave_an_unreadable_balance_are_refused_and_write_nothing(server, token):
    sid = subscribe(server, token, new_org())["subscription_id"]  # allowance 1000 granted every period
    # + 1000 allowance: just below 10^12 (given away: sold at Lab Standard's price it would cost over 10^12 cents)
    assert credit(server, token, sid, "999999998999.99", price_cents=0).status_code == 201
    refused = credit(server, token, sid, "0.01", price_cents=0)
    assert refused.status_code == 422 and [f["field"] for f in error_of(refused)["details"]["fields"]] == ["amount"]
    subscription, entries = assert_ledger_is_honest(server, token, sid)
    assert subscription["credit_balance"] == "999999999999.99" and len(entries) == 2
    assert server.request("GET", f"/subscriptions/{sid}/usage/summary", token=token("finance")).status_code == 200


def test_a_role_name_holding_a_comma_grants_nothing(server, token):
    injected = token("org:member,marketplace:admin", org=new_org())
    response = server.request("POST", "/plans", token=injected, json={"plan_id": new_plan_id(), **TERMS})
    assert (
        response.status_code == 401 and error_of(response)["code"] == "unauthenticated"
    )  # refused whole, at the authorizer


def test_an_organizations_token_without_a_residency_is_refused(server, token):
    org = new_org()
    response = server.request(
        "POST",
        f"/organizations/{org}/subscriptions",
        token=token("org:admin", org=org, residency=None),
        json=provision_body(residency="eu"),
    )
    assert response.status_code == 401 and error_of(response)["code"] == "unauthenticated"
    assert server.request("GET", f"/organizations/{org}/subscriptions", token=token("finance")).json()["items"] == []


def test_every_403_names_the_permission_actually_missing(server, token):
    sid = subscribe(server, token, new_org())["subscription_id"]
    credits = credit(server, token, sid, "1", who=token("finance"))
    assert credits.status_code == 403 and error_of(credits)["details"]["permission"] == "adjust_credits"
    assert "adjust_credits" in error_of(credits)["message"]
    plans = server.request("POST", "/plans", token=token("finance"), json={"plan_id": new_plan_id(), **TERMS})
    assert error_of(plans)["details"] == {"permission": "manage_plans", "roles": ["marketplace:admin"]}


def test_a_top_up_that_is_not_positive_names_the_amount(server, token):
    sid = subscribe(server, token, new_org())["subscription_id"]
    response = credit(server, token, sid, "-5")
    assert response.status_code == 422
    assert [(f["field"], f["message"]) for f in error_of(response)["details"]["fields"]] == [
        ("amount", "a top_up amount must be greater than zero")
    ]


def test_the_local_sign_in_hands_out_tokens_the_authorizer_accepts_and_refuses_what_it_would_not(server):
    org = new_org()
    signed_in = server.request("POST", "/_local/token", json={"roles": ["org:admin"], "org": org, "residency": "us"})
    assert signed_in.status_code == 200
    listed = server.request("GET", f"/organizations/{org}/subscriptions", token=signed_in.json()["token"])
    assert listed.status_code == 200 and listed.json()["items"] == []
    for asked in (
        {"roles": ["boss"], "residency": "us"},
        {"roles": ["org:member"], "residency": "us"},
        {"roles": "finance"},
    ):
        refused = server.request("POST", "/_local/token", json=asked)
        assert refused.status_code == 422 and error_of(refused)["code"] == "validation_error", asked
