"""Money safety over HTTP, round two (issue 20): credits an organization adds on its own are
paid for, a cancellation leaves no hold behind, a canceled period bills what its allowance grant
itself paid, one definition of available credits, and a schedule firing early closes nothing."""

import uuid
from datetime import timedelta
from decimal import Decimal

from billing.domain.values import format_timestamp, parse_timestamp

from .clock import invoke_run, move_clock
from .test_grants_http import grant, now_of
from .test_holds_http import assert_holds_are_honest, hold, settle
from .test_plans_http import TERMS, error_of, new_plan_id
from .test_subscriptions_http import assert_ledger_is_honest, ledger, new_org, subscribe
from .test_usage_http import record, usage_body


def plan(server, token, **terms):
    """A plan on TERMS (planner finalizations at 2 credits; no credit price), changed by `terms`."""
    server.request("GET", "/plans")  # the sandbox seeds Lab Standard into an empty catalog first
    plan_id = new_plan_id()
    body = {"plan_id": plan_id, **TERMS, **terms}
    response = server.request("POST", "/plans", token=token("marketplace:admin"), json=body)
    assert response.status_code == 201, response.text
    return plan_id


def finalizations(server, token, org, count):
    body = usage_body(org, service="planner", quantity=str(count))
    return record(server, token, body)


def subscription_of(server, token, sid):
    return server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()


# --- 1. auto top-up on a plan that sells no credits -----------------------------------------------


def test_auto_top_up_is_refused_where_the_plan_version_sells_no_credits(server, token):
    org = new_org()
    sid = subscribe(server, token, org, plan_id=plan(server, token, overage_policy="allow"))["subscription_id"]
    path, admin = f"/subscriptions/{sid}/settings", token("org:admin", org=org)
    minting = {"auto_top_up": {"enabled": True, "threshold_credits": "1", "amount": "1000000", "max_per_period": 100}}

    refused = server.request("PUT", path, token=admin, json=minting)
    assert refused.status_code == 422, refused.text
    assert [f["field"] for f in error_of(refused)["details"]["fields"]] == ["auto_top_up"]
    assert "sells no credits" in error_of(refused)["details"]["fields"][0]["message"]
    assert subscription_of(server, token, sid)["auto_top_up"] is None  # nothing written

    # Usage past the balance then bills overage; no credits appear from nowhere.
    assert finalizations(server, token, org, 2600).status_code == 201  # 5,200 credits of a 5,000 allowance
    after = subscription_of(server, token, sid)
    assert (after["credit_balance"], after["purchased_balance"]) == ("0", "0")
    assert not [e for e in ledger(server, token, sid) if e["type"] == "top_up"]
    # Turned off, the setting may be kept: it adds nothing.
    off = minting["auto_top_up"] | {"enabled": False}
    assert server.request("PUT", path, token=admin, json={"auto_top_up": off}).status_code == 200


def test_a_priced_plan_still_takes_auto_top_up_and_bills_each_one(server, token):
    org = new_org()
    priced = plan(server, token, overage_policy="block", credit_price_cents="2.5", credit_allowance="10")
    sid = subscribe(server, token, org, plan_id=priced)["subscription_id"]
    settings = {"auto_top_up": {"enabled": True, "threshold_credits": "5", "amount": "100", "max_per_period": 1}}
    changed = server.request("PUT", f"/subscriptions/{sid}/settings", token=token("org:admin", org=org), json=settings)
    assert changed.status_code == 200, changed.text
    assert finalizations(server, token, org, 4).status_code == 201  # 8 of 10: under the threshold
    [top_up] = [e for e in ledger(server, token, sid) if e["type"] == "top_up"]
    assert (top_up["actor"], top_up["amount"]) == ("auto-top-up", "100")
    [bought] = [
        g
        for g in server.request("GET", f"/subscriptions/{sid}/grants", token=token("finance")).json()["items"]
        if g["kind"] == "purchased"
    ]
    assert bought["price_cents"] == 250


# --- 2. a cancellation releases the holds it would orphan -------------------------------------------


def test_canceling_releases_every_held_hold_and_status_settle_and_release_agree(server, token):
    org = new_org()
    sid = subscribe(server, token, org, plan_id=plan(server, token, credit_allowance="1000"))["subscription_id"]
    placed = hold(server, token, org, 500)  # 1000 credits: the whole allowance
    assert placed.status_code == 201, placed.text
    hold_id = placed.json()["hold_id"]

    canceled = server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org))
    assert canceled.status_code == 200, canceled.text
    assert (canceled.json()["held_credits"], canceled.json()["available_credits"]) == ("0", "1000")

    read = server.request("GET", f"/holds/{hold_id}", token=token("service")).json()
    assert read["status"] == "released"
    settled = settle(server, token, hold_id)
    assert settled.status_code == 409 and error_of(settled)["code"] == "hold_not_active"
    released = server.request("POST", f"/holds/{hold_id}/release", token=token("service"))
    assert released.status_code == 409 and error_of(released)["code"] == "hold_not_active"

    # A new subscription of the organization does not bring the hold back.
    subscribe(server, token, org)
    assert server.request("GET", f"/holds/{hold_id}", token=token("service")).json()["status"] == "released"
    assert settle(server, token, hold_id).status_code == 409
    assert_holds_are_honest(server, token, sid)
    assert_ledger_is_honest(server, token, sid)


# --- 3. the final period bills what the allowance grant itself paid -----------------------------------


def test_cancellation_prorates_by_what_the_allowance_paid_not_by_usage_a_promotion_paid(fresh_server, token):
    server = fresh_server
    org = new_org()
    terms = {"credit_allowance": "1000", "base_fee_cents": 100_000, "billing_cadence": "monthly"}
    sid = subscribe(server, token, org, plan_id=plan(server, token, **terms))["subscription_id"]
    soon = format_timestamp(now_of(server) + timedelta(days=2))
    grant(server, token, sid, amount="1000", priority=0, expires_at=soon)  # drawn before the allowance
    assert finalizations(server, token, org, 500).status_code == 201  # 1000 credits, all from the promotion
    assert subscription_of(server, token, sid)["allowance_balance"] == "1000"

    move_clock(server, now_of(server) + timedelta(hours=3))
    assert server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org)).status_code == 200
    drafted = server.request("POST", f"/subscriptions/{sid}/invoices/draft", token=token("finance"), json={})
    assert drafted.status_code in (200, 201), drafted.text
    [base] = [line for line in drafted.json()["line_items"] if line["kind"] == "base_fee"]
    assert "0 of 1000 allowance credits used" in base["description"]
    # Three hours of a month: a few hundred cents, never the whole fee.
    assert 0 < base["amount_cents"] < 1_000, base


# --- 5. one definition of available credits -------------------------------------------------------


def test_refusals_and_the_check_share_one_definition_of_available_and_say_what_did_not_count(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org, plan_id=plan(server, token, credit_allowance="0"))["subscription_id"]
    now = now_of(server).replace(microsecond=0) + timedelta(seconds=1)
    move_clock(server, now)  # the test clock stands still from here
    grant(server, token, sid, amount="10", expires_at=format_timestamp(now + timedelta(minutes=2)))
    later = grant(server, token, sid, amount="5", effective_at=format_timestamp(now + timedelta(hours=1)))
    subscription = subscription_of(server, token, sid)
    assert (subscription["credit_balance"], subscription["available_credits"]) == ("15", "15")  # balance − held

    # A 3600 s hold of 8 credits: the 10 expire first, the 5 are not in effect yet.
    refused = hold(server, token, org, 4, expires_in_seconds=3600)
    assert refused.status_code == 402
    details = error_of(refused)["details"]
    assert details == {
        "credits": "8",
        "available_credits": "0",
        "credit_balance": "15",
        "held_credits": "0",
        "not_yet_effective_credits": "5",
        "expiring_first_credits": "10",
        "needed_until": details["needed_until"],
    }
    assert parse_timestamp(details["needed_until"]) == now + timedelta(seconds=3600)
    message = error_of(refused)["message"]
    assert "expire before the hold would end" in message and "not effective yet" in message

    # Usage now may draw the 10 (not the 5 to come): the check and POST /usage say the same.
    check = server.request(
        "POST",
        "/entitlements/check",
        token=token("service"),
        json={"organization_id": org, "service": "planner", "quantity": "6"},
    ).json()
    assert (check["allowed"], check["credits_required"], check["available_credits"]) == (False, "12", "10")
    too_much = finalizations(server, token, org, 6)
    assert too_much.status_code == 402
    assert error_of(too_much)["details"]["available_credits"] == "10"
    assert error_of(too_much)["details"]["not_yet_effective_credits"] == "5"
    assert finalizations(server, token, org, 5).status_code == 201  # 10: exactly what was available
    assert later["status"] == "active"
    assert_ledger_is_honest(server, token, sid)


# --- 6. a schedule firing early never closes a period that has not ended ------------------------------


def test_a_run_dated_ahead_of_the_clock_does_not_close_the_period_before_it_ends(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    period_end = parse_timestamp(subscription_of(server, token, sid)["current_period_end"])
    move_clock(server, period_end - timedelta(minutes=4))

    early = server.request(
        "POST",
        "/_local/invoke/InvoicingRunFunction",
        json={"scheduled_time": format_timestamp(period_end + timedelta(seconds=30))},
    )
    assert early.status_code == 200, early.text
    assert early.json()["subscriptions_due"] == 0
    still = subscription_of(server, token, sid)
    assert parse_timestamp(still["current_period_end"]) == period_end

    # Usage recorded before the period's end is charged to that period.
    charged = record(server, token, usage_body(org, idempotency_key=uuid.uuid4().hex))
    assert charged.status_code == 201
    assert parse_timestamp(charged.json()["period_start"]) == parse_timestamp(still["current_period_start"])
    # Once the period has ended, the run closes it.
    assert invoke_run(server, period_end + timedelta(seconds=30))["subscriptions_due"] == 1
    assert parse_timestamp(subscription_of(server, token, sid)["current_period_start"]) == period_end
    assert Decimal(subscription_of(server, token, sid)["credit_balance"]) > 0
