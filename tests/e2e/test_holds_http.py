"""Entitlement checks and credit holds over HTTP (invariant 10): concurrent holds on a `block`
plan, usage that may not spend held credits, settling below / at / above the hold, release,
expiry under the test clock, and settling twice."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from marketplace_billing import Billing, Conflict

from .clock import invoke_run, move_clock
from .contention import until_not_contended
from .test_grants_http import now_of
from .test_plans_http import TERMS, error_of, new_plan_id
from .test_subscriptions_http import assert_ledger_is_honest, ledger, new_org, subscribe
from .test_usage_http import record, usage_body


def block_plan(server, token, allowance="100"):
    """A `block` plan: planner finalizations at 2 credits each."""
    server.request("GET", "/plans")  # the sandbox seeds Lab Standard into an empty catalog first
    plan_id = new_plan_id()
    terms = TERMS | {"credit_allowance": allowance, "overage_policy": "block"}
    response = server.request("POST", "/plans", token=token("marketplace:admin"), json={"plan_id": plan_id, **terms})
    assert response.status_code == 201, response.text
    return plan_id


def hold(server, token, org, quantity, **fields):
    body = {
        "organization_id": org,
        "service": "planner",
        "quantity": str(quantity),
        "idempotency_key": uuid.uuid4().hex,
    }
    return server.request("POST", "/holds", token=token("service"), json=body | fields)


def placed_once(server, token, org, quantity):
    """One hold request, sent again (same key) while contention answers a retryable 409."""
    key = uuid.uuid4().hex
    return until_not_contended(lambda: hold(server, token, org, quantity, idempotency_key=key))


def settle(server, token, hold_id, **fields):
    body = {"idempotency_key": uuid.uuid4().hex} | fields
    return server.request("POST", f"/holds/{hold_id}/settle", token=token("service"), json=body)


def subscription(server, token, sid):
    return server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()


def assert_holds_are_honest(server, token, sid):
    """Invariant 10: held credits are the sum of the held holds'; on a block plan nothing is spent twice."""
    current = subscription(server, token, sid)
    holds = server.request("GET", f"/subscriptions/{sid}/holds?limit=200", token=token("finance")).json()["items"]
    held = sum((Decimal(h["credits"]) for h in holds if h["status"] == "held"), Decimal(0))
    assert Decimal(current["held_credits"]) == held
    assert Decimal(current["available_credits"]) == Decimal(current["credit_balance"]) - held
    return current, holds


def test_eight_concurrent_holds_against_credits_for_five_place_exactly_five(server, token):
    org = new_org()
    sid = subscribe(server, token, org, plan_id=block_plan(server, token, allowance="100"))["subscription_id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: placed_once(server, token, org, 10), range(8)))  # 20 credits each
    assert sorted(r.status_code for r in responses) == [201] * 5 + [402] * 3, [r.text for r in responses]
    assert {error_of(r)["code"] for r in responses if r.status_code == 402} == {"insufficient_credits"}
    current, holds = assert_holds_are_honest(server, token, sid)
    assert (current["credit_balance"], current["held_credits"], current["available_credits"]) == ("100", "100", "0")
    assert len(holds) == 5 and len(ledger(server, token, sid)) == 1  # holds write no ledger entries

    refused = record(server, token, usage_body(org, service="planner", quantity="1"))
    assert (
        refused.status_code == 402 and error_of(refused)["code"] == "insufficient_credits"
    )  # held credits are not spendable
    check = server.request(
        "POST",
        "/entitlements/check",
        token=token("service"),
        json={"organization_id": org, "service": "planner", "quantity": "1"},
    ).json()
    assert check == {
        "allowed": False,
        "reason": "insufficient_credits",
        "subscription_id": sid,
        "credits_required": "2",
        "available_credits": "0",
        "overage_policy": "block",
    }


def test_settling_below_at_and_above_the_hold_charges_what_was_used_and_frees_the_rest(server, token):
    org = new_org()
    sid = subscribe(server, token, org, plan_id=block_plan(server, token, allowance="100"))["subscription_id"]
    below, at, above = (hold(server, token, org, 10).json() for _ in range(3))  # 20 credits each: 60 held

    event = settle(server, token, below["hold_id"], quantity="4")  # 8 of 20 credits
    assert event.status_code == 201, event.text
    assert (event.json()["hold_id"], event.json()["credits"], event.json()["balance_after"]) == (
        below["hold_id"],
        "8",
        "92",
    )
    assert subscription(server, token, sid)["available_credits"] == "52"  # 92 - 40 still held

    assert settle(server, token, at["hold_id"]).json()["credits"] == "20"  # the quantity held, by default
    assert settle(server, token, above["hold_id"], quantity="30").json()["credits"] == "60"  # 20 held + 40 more
    current, holds = assert_holds_are_honest(server, token, sid)
    assert (current["credit_balance"], current["held_credits"]) == ("12", "0")  # 100 - 8 - 20 - 60
    assert {h["status"] for h in holds} == {"settled"} and all(h["settled_event_id"] for h in holds)

    more = hold(server, token, org, 1).json()  # 2 of the 12 left
    too_much = settle(server, token, more["hold_id"], quantity="7")  # 14 credits: 2 held + 12 of the 10 free
    assert too_much.status_code == 402
    assert server.request("GET", f"/holds/{more['hold_id']}", token=token("service")).json()["status"] == "held"
    assert_ledger_is_honest(server, token, sid)


def test_settling_twice_with_one_key_charges_once_and_a_settled_hold_is_not_active(server, token):
    org = new_org()
    subscribe(server, token, org)
    placed = hold(server, token, org, 3).json()
    first = settle(server, token, placed["hold_id"], idempotency_key="run-1-end")
    again = settle(server, token, placed["hold_id"], idempotency_key="run-1-end")
    assert (first.status_code, again.status_code) == (201, 200) and again.json() == first.json()
    other_key = settle(server, token, placed["hold_id"], idempotency_key="run-1-end-b")
    assert other_key.status_code == 409 and error_of(other_key)["code"] == "hold_not_active"
    release = server.request("POST", f"/holds/{placed['hold_id']}/release", token=token("service"))
    assert release.status_code == 409 and error_of(release)["code"] == "hold_not_active"


def test_a_released_hold_charges_nothing_and_gives_its_credits_back(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    placed = hold(server, token, org, 50).json()  # Lab Standard: 2 credits a finalization
    assert subscription(server, token, sid)["available_credits"] == "900"
    released = server.request("POST", f"/holds/{placed['hold_id']}/release", token=token("service"))
    assert released.status_code == 200 and released.json()["status"] == "released"
    current, _ = assert_holds_are_honest(server, token, sid)
    assert (current["available_credits"], current["credit_balance"]) == ("1000", "1000")
    assert [e["type"] for e in ledger(server, token, sid)] == ["grant"]


def test_a_hold_that_expires_is_never_charged_and_its_credits_come_back(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org, plan_id=block_plan(server, token, allowance="100"))["subscription_id"]
    placed = hold(server, token, org, 40, expires_in_seconds=600).json()  # all 80... of 100
    assert subscription(server, token, sid)["available_credits"] == "20"

    move_clock(server, now_of(server) + timedelta(minutes=11))
    assert server.request("GET", f"/holds/{placed['hold_id']}", token=token("service")).json()["status"] == "expired"
    late = settle(server, token, placed["hold_id"])
    assert late.status_code == 409 and error_of(late)["code"] == "hold_not_active"
    invoke_run(server, now_of(server))  # writes the expiry off for a subscription nothing touched
    current, holds = assert_holds_are_honest(server, token, sid)
    assert (current["held_credits"], current["available_credits"]) == ("0", "100")
    assert [h["status"] for h in holds] == ["expired"] and [e["type"] for e in ledger(server, token, sid)] == ["grant"]
    assert record(server, token, usage_body(org, service="planner", quantity="50")).status_code == 201


def test_hold_requests_and_reads_are_checked(server, token):
    org = new_org()
    subscribe(server, token, org)
    for body, field in [
        ({"quantity": "0"}, "quantity"),
        ({"expires_in_seconds": 59}, "expires_in_seconds"),
        ({"expires_in_seconds": 604_801}, "expires_in_seconds"),
    ]:
        response = hold(server, token, org, **{"quantity": 1} | body)
        assert response.status_code == 422 and field in [f["field"] for f in error_of(response)["details"]["fields"]]
    unknown = hold(server, token, org, 1, service="sequencing")
    assert unknown.status_code == 422 and error_of(unknown)["code"] == "unknown_service"
    nobody = hold(server, token, new_org(), 1)
    assert nobody.status_code == 409 and error_of(nobody)["code"] == "no_active_subscription"
    placed = hold(server, token, org, 1).json()
    outsider = server.request("GET", f"/holds/{placed['hold_id']}", token=token("org:member", org=new_org()))
    missing = server.request("GET", f"/holds/{placed['hold_id'][:-1]}X", token=token("org:member", org=new_org()))
    assert outsider.status_code == missing.status_code == 404
    mine = server.request("GET", f"/holds/{placed['hold_id']}", token=token("org:member", org=org))
    assert mine.status_code == 200 and mine.json()["status"] == "held"
    member = server.request("POST", "/holds", token=token("org:admin", org=org), json={})
    assert member.status_code == 403


def test_a_producer_reserves_a_run_and_is_charged_once_for_it_through_the_client(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    billing = Billing(server.base_url + "/api/billing", token=token("service"))
    assert billing.entitlements.check(organization_id=org, service="instrumentation", quantity=12).allowed is True

    reserve = dict(organization_id=org, service="instrumentation", quantity=12, idempotency_key="run:run-4410")
    with billing.holds.reserve(**reserve) as run:
        assert subscription(server, token, sid)["held_credits"] == "60"
        run.settle(quantity=10)
    assert (run.charge.credits, run.charge.hold_id) == (Decimal(50), run.hold_id)
    # The producer restarts and repeats both steps: the same hold, the same charge.
    with billing.holds.reserve(**reserve) as repeated:
        assert repeated.hold_id == run.hold_id and repeated.settle(quantity=10) == run.charge

    try:
        with billing.holds.reserve(**reserve | {"quantity": 3, "idempotency_key": "run:run-4411"}) as crashed:
            raise RuntimeError("the instrument jammed")
    except RuntimeError:
        pass
    assert server.request("GET", f"/holds/{crashed.hold_id}", token=token("service")).json()["status"] == "released"
    current, _ = assert_holds_are_honest(server, token, sid)
    assert (current["credit_balance"], current["held_credits"]) == ("950", "0")
    try:
        billing.holds.settle(crashed.hold_id, idempotency_key="run:run-4411")
    except Conflict as refused:
        assert (refused.status, refused.code) == (409, "hold_not_active")
    else:
        raise AssertionError("a released hold was settled")


def test_a_filtered_holds_list_fills_its_pages_and_keeps_its_cursor_to_itself(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    placed = [hold(server, token, org, 1).json()["hold_id"] for _ in range(5)]
    for hold_id in placed[1::2]:  # the 2nd and 4th released: newest first, held ones are 5th, 3rd, 1st
        assert server.request("POST", f"/holds/{hold_id}/release", token=token("service")).status_code == 200
    path, finance = f"/subscriptions/{sid}/holds", token("finance")

    seen, cursor = [], None
    while True:
        params = {"status": "held", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = server.request("GET", path, token=finance, params=params).json()
        assert len(page["items"]) == 1 or (not page["items"] and not page["next_cursor"])  # never a short page mid-list
        seen += [h["hold_id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [placed[4], placed[2], placed[0]]

    first = server.request("GET", path, token=finance, params={"status": "held", "limit": 1}).json()
    for other in ({"status": "released"}, {}):
        reused = server.request("GET", path, token=finance, params=other | {"cursor": first["next_cursor"]})
        assert reused.status_code == 422 and reused.json()["error"]["details"]["fields"][0]["field"] == "cursor"
