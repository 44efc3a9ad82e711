"""Plan changes over HTTP (issue 23): a change now bills the short period at once, as a
cancellation's final period, and starts the new version; the preview agrees with it to the cent;
a change at the period's end waits for the scheduled close (the test clock); every refusal of the
contract writes nothing; replays answer first; a concurrent change meets the state the first left."""

import threading
from datetime import timedelta

from billing.domain.values import parse_timestamp

from .clock import invoke_run, move_clock
from .test_events_http import published
from .test_grants_http import now_of
from .test_plans_http import TERMS, error_of, new_plan_id
from .test_subscriptions_http import assert_ledger_is_honest, ledger, new_org, subscribe
from .test_usage_http import record, usage_body

SLA = {"accepted_by": "ada@lab.example", "sla_version": "2"}
READ_ONLY = ("plan_id", "version", "status", "created_at", "updated_at")


def lab_like(server, token, **changes) -> str:
    """A plan on Lab Standard's terms (same SLA: no acceptance needed), changed by `changes`."""
    server.request("GET", "/plans")  # the sandbox seeds Lab Standard into an empty catalog first
    lab = server.request("GET", "/plans/lab-standard").json()
    plan_id = new_plan_id()
    terms = {k: v for k, v in lab.items() if k not in READ_ONLY} | changes
    response = server.request("POST", "/plans", token=token("marketplace:admin"), json={"plan_id": plan_id, **terms})
    assert response.status_code == 201, response.text
    return plan_id


def change(server, who, sid, plan_id, effective="now", **more):
    body = {"plan_id": plan_id, "effective": effective, "idempotency_key": f"change-{plan_id}-{effective}"} | more
    return server.request("POST", f"/subscriptions/{sid}/plan-change", token=who, json=body)


def state(server, token, sid):
    """What a write could leave: the subscription, its ledger, its invoices, the events published."""
    subscription = server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()
    invoices = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    subscription.pop("health")  # burn rate moves with the clock
    return subscription, ledger(server, token, sid), invoices, published(server, subscription_id=sid)


def test_a_preview_and_the_change_now_agree_to_the_cent(fresh_server, token):
    server = fresh_server
    org = new_org()
    admin = token("org:admin", org=org)
    sid = subscribe(server, token, org)["subscription_id"]
    pro = lab_like(server, token, base_fee_cents=120_000, credit_allowance="3000", billing_cadence="quarterly")
    assert record(server, token, usage_body(org, quantity="230")).status_code == 201  # 1150 credits: 150 over
    move_clock(server, now_of(server).replace(microsecond=0) + timedelta(days=9, hours=7))

    previewed = change(server, admin, sid, pro, preview=True)
    assert previewed.status_code == 200, previewed.text
    preview = previewed.json()
    changed = change(server, admin, sid, pro)
    assert changed.status_code == 200, changed.text
    subscription = changed.json()

    [closing] = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    print("preview:", [(line["kind"], line["amount_cents"]) for line in preview["closing_invoice"]["line_items"]])
    print("drafted:", [(line["kind"], line["amount_cents"]) for line in closing["line_items"]])
    print("totals:", preview["closing_invoice"]["total_cents"], closing["total_cents"])
    assert preview["closing_invoice"] == closing  # the same draft, id and all, to the cent
    assert [line["kind"] for line in closing["line_items"]] == ["base_fee", "overage"]
    assert closing["line_items"][0]["amount_cents"] == 49_900  # the whole allowance used: the whole fee
    assert closing["period_end"] == subscription["current_period_start"] == preview["next_period"]["period_start"]
    assert preview["next_period"] == {
        "period_start": subscription["current_period_start"],
        "period_end": subscription["current_period_end"],
        "plan_id": pro,
        "plan_version": 1,
        "base_fee_cents": 120_000,
        "credit_allowance": "3000",
    }
    assert (subscription["plan_id"], subscription["billing_cadence"], subscription["allowance_balance"]) == (
        pro,
        "quarterly",
        "3000",
    )
    [event] = published(server, "SubscriptionPlanChanged", subscription_id=sid)
    assert event["detail"]["previous_plan"] == {"plan_id": "lab-standard", "plan_version": 1}
    assert_ledger_is_honest(server, token, sid)

    # The same key and body replay the first answer, before any state check (its target is current now).
    again = change(server, admin, sid, pro)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == subscription
    periods = server.request("GET", f"/subscriptions/{sid}/periods", token=token("finance")).json()["items"]
    assert [p["status"] for p in periods] == ["open", "closed"] and periods[1]["invoice_id"] == closing["invoice_id"]


def test_switching_back_and_forth_on_the_whole_allowance_bills_three_whole_fees(fresh_server, token):
    server = fresh_server
    org = new_org()
    admin = token("org:admin", org=org)
    sid = subscribe(server, token, org)["subscription_id"]
    other = lab_like(server, token, base_fee_cents=50_000)
    for step, target in enumerate([other, "lab-standard", other]):
        move_clock(server, now_of(server).replace(microsecond=0) + timedelta(hours=2))
        assert record(server, token, usage_body(org, quantity="200")).status_code == 201  # the whole allowance
        body = {"plan_id": target, "effective": "now", "idempotency_key": f"switch-{step}"}
        assert server.request("POST", f"/subscriptions/{sid}/plan-change", token=admin, json=body).status_code == 200
    invoices = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    fees = sorted((i["period_start"], i["line_items"][0]["amount_cents"]) for i in invoices)
    assert [fee for _, fee in fees] == [49_900, 50_000, 49_900]
    assert_ledger_is_honest(server, token, sid)


def test_a_change_at_the_period_end_waits_for_the_scheduled_close(fresh_server, token):
    server = fresh_server
    org = new_org()
    admin = token("org:admin", org=org)
    sid = subscribe(server, token, org)["subscription_id"]
    premium = server.request(
        "POST", "/plans", token=token("marketplace:admin"), json={"plan_id": new_plan_id(), **TERMS}
    ).json()["plan_id"]

    dropped = change(server, admin, sid, premium, "period_end", sla_acceptance=SLA)
    period_end = dropped.json()["current_period_end"]
    assert dropped.json()["pending_plan_change"] == {"plan_id": premium, "plan_version": 1, "effective_at": period_end}
    gone = server.request("DELETE", f"/subscriptions/{sid}/plan-change", token=admin)
    assert gone.status_code == 200 and gone.json()["pending_plan_change"] is None
    again = server.request("DELETE", f"/subscriptions/{sid}/plan-change", token=admin)
    assert again.status_code == 409 and error_of(again)["code"] == "no_pending_plan_change"

    body = {"plan_id": premium, "effective": "period_end", "idempotency_key": "at-end", "sla_acceptance": SLA}
    pending = server.request("POST", f"/subscriptions/{sid}/plan-change", token=admin, json=body)
    assert pending.status_code == 200 and pending.json()["plan_id"] == "lab-standard"
    assert not published(server, "SubscriptionPlanChanged", subscription_id=sid)
    assert invoke_run(server, parse_timestamp(period_end))["subscriptions_due"] == 1  # due at its period end

    moved = server.request("GET", f"/subscriptions/{sid}", token=admin).json()
    assert (moved["plan_id"], moved["billing_cadence"], moved["current_period_start"]) == (
        premium,
        "quarterly",
        period_end,
    )
    assert moved["pending_plan_change"] is None and moved["sla_acceptance"]["sla_tier"] == "premium"
    [closed] = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    assert closed["line_items"][0]["amount_cents"] == 49_900 and closed["period_end"] == period_end
    assert len(published(server, "SubscriptionPlanChanged", subscription_id=sid)) == 1
    assert_ledger_is_honest(server, token, sid)


def test_a_cancellation_drops_a_pending_change(server, token):
    org = new_org()
    admin = token("org:admin", org=org)
    sid = subscribe(server, token, org)["subscription_id"]
    assert change(server, admin, sid, lab_like(server, token), "period_end").status_code == 200
    canceled = server.request("POST", f"/subscriptions/{sid}/cancel", token=admin)
    assert canceled.status_code == 200 and canceled.json()["pending_plan_change"] is None


def test_every_refusal_answers_its_code_and_writes_nothing(server, token):
    org = new_org()
    admin = token("org:admin", org=org)
    sid = subscribe(server, token, org)["subscription_id"]
    archived = lab_like(server, token)
    assert server.request("POST", f"/plans/{archived}/archive", token=token("marketplace:admin")).status_code == 200
    euro = lab_like(server, token, currency="EUR")
    premium = server.request(
        "POST", "/plans", token=token("marketplace:admin"), json={"plan_id": new_plan_id(), **TERMS}
    ).json()["plan_id"]
    cases = [
        (admin, "lab-standard", {}, 409, "plan_unchanged"),
        (admin, archived, {}, 409, "plan_archived"),
        (admin, euro, {}, 409, "currency_mismatch"),
        (admin, premium, {}, 422, "validation_error"),  # another SLA: its acceptance is needed
        (admin, "no-such-plan", {}, 422, "validation_error"),
        (admin, premium, {"effective": "later"}, 422, "validation_error"),
        (token("org:member", org=org), premium, {"sla_acceptance": SLA}, 403, "forbidden"),
        (token("org:admin", org=new_org()), premium, {"sla_acceptance": SLA}, 404, "not_found"),
    ]
    for effective in ("now", "period_end"):
        for who, plan_id, more, status, code in cases:
            before = state(server, token, sid)
            refused = change(server, who, sid, plan_id, **({"effective": effective} | more))
            assert (refused.status_code, error_of(refused)["code"]) == (status, code), (plan_id, refused.text)
            if plan_id == premium and status == 422 and not more:
                assert [f["field"] for f in error_of(refused)["details"]["fields"]] == ["sla_acceptance"]
            assert state(server, token, sid) == before
    dropped = server.request("DELETE", f"/subscriptions/{sid}/plan-change", token=admin)
    assert dropped.status_code == 409 and error_of(dropped)["code"] == "no_pending_plan_change"

    assert server.request("POST", f"/subscriptions/{sid}/cancel", token=admin).status_code == 200
    change(server, admin, sid, premium, sla_acceptance=SLA)  # the first closes the final period (not its write)
    before = state(server, token, sid)
    canceled = change(server, admin, sid, premium, sla_acceptance=SLA, idempotency_key="after-cancel")
    assert canceled.status_code == 409 and error_of(canceled)["code"] == "no_active_subscription"
    assert state(server, token, sid) == before


def test_a_change_in_the_periods_first_second_is_period_open(fresh_server, token):
    server = fresh_server
    move_clock(server, now_of(server).replace(microsecond=0) + timedelta(seconds=5))  # the clock stands still
    org = new_org()
    admin = token("org:admin", org=org)
    sid = subscribe(server, token, org)["subscription_id"]
    other = lab_like(server, token)
    before = state(server, token, sid)
    refused = change(server, admin, sid, other)
    assert refused.status_code == 409 and error_of(refused)["code"] == "period_open"
    assert state(server, token, sid) == before
    assert change(server, admin, sid, other, "period_end").status_code == 200  # waiting is never too early
    move_clock(server, now_of(server) + timedelta(seconds=1))
    assert change(server, admin, sid, other).status_code == 200


def test_two_changes_to_one_plan_under_different_keys_apply_once(fresh_server, token):
    server = fresh_server
    org = new_org()
    admin = token("org:admin", org=org)
    sid = subscribe(server, token, org)["subscription_id"]
    other = lab_like(server, token)
    move_clock(server, now_of(server).replace(microsecond=0) + timedelta(hours=1))
    answers, start = [], threading.Barrier(2)

    def send(key):
        start.wait()
        body = {"plan_id": other, "effective": "now", "idempotency_key": key}
        answers.append(server.request("POST", f"/subscriptions/{sid}/plan-change", token=admin, json=body))

    threads = [threading.Thread(target=send, args=(key,)) for key in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert [error_of(a)["code"] for a in answers if a.status_code == 409] == ["plan_unchanged"]
    assert len(server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]) == 1
    assert len(published(server, "SubscriptionPlanChanged", subscription_id=sid)) == 1
    assert_ledger_is_honest(server, token, sid)


def test_a_change_to_a_block_plan_that_would_not_cover_the_holds_is_402_and_writes_nothing(fresh_server, token):
    """Invariant 10: 900 credits held on a block plan granting 1000 (beyond the period's end); one
    granting 100 would leave available_credits at -800, now or at the period's end."""
    server = fresh_server
    roomy = lab_like(server, token, overage_policy="block")
    small = lab_like(server, token, overage_policy="block", credit_allowance="100", base_fee_cents=1000)
    org = new_org()
    admin = token("org:admin", org=org)
    subscription = subscribe(server, token, org, plan_id=roomy)
    sid = subscription["subscription_id"]
    move_clock(server, parse_timestamp(subscription["current_period_end"]) - timedelta(days=2))
    body = {
        "organization_id": org,
        "service": "planner",
        "quantity": "450",
        "idempotency_key": f"hold-{sid}",
        "expires_in_seconds": 604_800,
    }
    held = server.request("POST", "/holds", token=token("service"), json=body)
    assert held.status_code == 201 and held.json()["credits"] == "900"
    before = state(server, token, sid)
    for effective in ("now", "period_end"):
        for preview in (False, True):
            refused = change(server, admin, sid, small, effective, preview=preview)
            assert refused.status_code == 402, refused.text
            error = error_of(refused)
            assert error["code"] == "insufficient_credits" and "settle or release holds" in error["message"]
            assert (error["details"]["credit_balance"], error["details"]["held_credits"]) == ("100", "900")
    assert state(server, token, sid) == before


def test_a_change_to_an_allowance_the_balance_cannot_hold_is_422_not_a_server_error(server, token):
    huge = lab_like(server, token, credit_allowance="999999999999")
    org = new_org()
    admin = token("org:admin", org=org)
    sid = subscribe(server, token, org)["subscription_id"]
    body = {
        "amount": "500000000000",
        "type": "top_up",
        "reason": "x",
        "idempotency_key": f"big-{sid}",
        "price_cents": 1,
    }
    topped = server.request("POST", f"/subscriptions/{sid}/credits", token=token("marketplace:admin"), json=body)
    assert topped.status_code == 201, topped.text
    before = state(server, token, sid)
    for effective in ("now", "period_end"):
        for preview in (False, True):
            refused = change(server, admin, sid, huge, effective, preview=preview)
            assert refused.status_code == 422, refused.text
            assert [f["field"] for f in error_of(refused)["details"]["fields"]] == ["plan_id"]
    assert state(server, token, sid) == before
