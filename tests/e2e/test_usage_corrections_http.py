"""Usage corrections over HTTP (API.md "Corrections: void and amend"): every rule of issue 22 on
the local stack (DynamoDB through moto): who may correct what, the reversal, the aggregates, the
draft and the analytics that drop a voided event, the period rule, amend, replays and races."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from billing.domain.values import parse_timestamp

from .clock import invoke_run, move_clock
from .test_grants_http import now_of
from .test_plan_changes_http import change, lab_like
from .test_plans_http import error_of
from .test_subscriptions_http import assert_ledger_is_honest, new_org, subscribe
from .test_usage_http import all_usage, blocking_plan, record, usage_body


def void(server, token, event_id, *, who=None, key=None, reason="mis-sized run"):
    body = {"reason": reason, "idempotency_key": key or uuid.uuid4().hex}
    return server.request("POST", f"/usage/{event_id}/void", token=who or token("service"), json=body)


def amend(server, token, event_id, quantity, *, who=None, key=None, **more):
    body = {"quantity": quantity, "reason": "wrong size", "idempotency_key": key or uuid.uuid4().hex, **more}
    return server.request("POST", f"/usage/{event_id}/amend", token=who or token("service"), json=body)


def recorded(server, token, org, **changes):
    response = record(server, token, usage_body(org, **changes))
    assert response.status_code == 201, response.text
    return response.json()


def credit_balance(server, token, sid):
    subscription, _ = assert_ledger_is_honest(server, token, sid)
    return Decimal(subscription["credit_balance"])


def summary(server, token, sid, **params):
    return server.request("GET", f"/subscriptions/{sid}/usage/summary", token=token("finance"), params=params).json()


def test_a_void_gives_the_credits_back_to_the_grants_that_paid_and_drops_the_event_everywhere(server, token):
    org = new_org()
    subscription = subscribe(server, token, org)
    sid = subscription["subscription_id"]
    kept = recorded(server, token, org, quantity="2", guardrail={"flags": ["door_open"], "escalation_codes": []})
    wrong = recorded(server, token, org, quantity="3", guardrail={"flags": ["door_open"], "escalation_codes": []})
    before = Decimal(server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()["credit_balance"])

    response = void(server, token, wrong["event_id"], who=token("finance"))
    assert response.status_code == 200, response.text
    voided = response.json()
    assert (voided["status"], voided["void_reason"], voided["replaced_by"]) == ("voided", "mis-sized run", None)
    assert parse_timestamp(voided["voided_at"])

    _, entries = assert_ledger_is_honest(server, token, sid)
    reversal = entries[-1]
    assert reversal["type"] == "reversal" and Decimal(reversal["amount"]) == Decimal(wrong["debited_credits"])
    assert reversal["reference"] == f"usage:{wrong['event_id']}"
    usage_entry = next(e for e in entries if e["seq"] == wrong["ledger_seq"])
    assert [(a["grant_id"], Decimal(a["amount"])) for a in reversal["allocation"]] == [
        (a["grant_id"], -Decimal(a["amount"])) for a in usage_entry["allocation"]
    ]
    after = server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()
    assert Decimal(after["credit_balance"]) == before + Decimal(wrong["debited_credits"])

    totals = summary(server, token, sid)
    assert totals["totals"]["events"] == 1 and Decimal(totals["totals"]["credits"]) == Decimal(kept["credits"])
    assert totals["guardrail_flags"] == {"door_open": 1}
    days = server.request("GET", f"/subscriptions/{sid}/usage/daily", token=token("finance")).json()["items"]
    assert [d["services"]["instrumentation"]["events"] for d in days] == [1]
    assert [e["event_id"] for e in all_usage(server, token, sid, status="voided")] == [wrong["event_id"]]
    assert [e["event_id"] for e in all_usage(server, token, sid, status="recorded")] == [kept["event_id"]]
    published = server.request("GET", "/_local/events", params={"type": "UsageVoided"}).json()["items"]
    assert any(e["detail"]["usage_event"]["event_id"] == wrong["event_id"] for e in published)


def test_voiding_again_changes_nothing_and_the_same_key_replays_the_first_answer(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    event = recorded(server, token, org)
    first = void(server, token, event["event_id"], key="void-1")
    entries = len(assert_ledger_is_honest(server, token, sid)[1])
    replay = void(server, token, event["event_id"], key="void-1")
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    again = void(server, token, event["event_id"], key="void-2", reason="another reason")
    assert again.status_code == 200 and again.json() == first.json()
    assert len(assert_ledger_is_honest(server, token, sid)[1]) == entries
    reused = void(server, token, event["event_id"], key="void-1", reason="a different body")
    assert reused.status_code == 422 and error_of(reused)["code"] == "idempotency_key_reused"


def test_eight_concurrent_voids_of_one_event_write_one_reversal(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    event = recorded(server, token, org, quantity="4")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: void(server, token, event["event_id"], key=f"race-{n}"), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert {a.json()["voided_at"] for a in answers} == {answers[0].json()["voided_at"]}
    _, entries = assert_ledger_is_honest(server, token, sid)
    assert [e["type"] for e in entries].count("reversal") == 1


def test_who_may_correct_usage(server, token):
    org = new_org()
    subscribe(server, token, org)
    event_id = recorded(server, token, org)["event_id"]
    own = void(server, token, event_id, who=token("org:admin", org=org))
    assert own.status_code == 403 and error_of(own)["details"]["permission"] == "correct_usage"
    other = void(server, token, event_id, who=token("org:admin", org=new_org()))
    unknown = void(server, token, "01JNOSUCHEVENT0000000000000", who=token("org:admin", org=new_org()))
    assert other.status_code == unknown.status_code == 404
    assert error_of(other)["code"] == error_of(unknown)["code"] == "not_found"
    assert other.json()["error"]["details"] == unknown.json()["error"]["details"]
    far = amend(server, token, event_id, "2", who=token("finance", residency="eu"))
    assert far.status_code == 403 and error_of(far)["code"] == "residency_mismatch"
    staff_far = void(server, token, event_id, who=token("marketplace:admin", residency="eu"))
    assert staff_far.status_code == 403 and error_of(staff_far)["code"] == "residency_mismatch"
    assert void(server, token, event_id, who=token("marketplace:admin")).status_code == 200


def test_bad_corrections_are_422_and_write_nothing(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    event_id = recorded(server, token, org)["event_id"]
    entries = len(assert_ledger_is_honest(server, token, sid)[1])
    no_reason = server.request("POST", f"/usage/{event_id}/void", token=token("service"), json={"idempotency_key": "k"})
    assert no_reason.status_code == 422 and error_of(no_reason)["details"]["fields"][0]["field"] == "reason"
    for quantity in ("0", "-1", "1e13", "0.0000001", "NaN"):
        refused = amend(server, token, event_id, quantity)
        assert refused.status_code == 422, quantity
        assert error_of(refused)["details"]["fields"][0]["field"] == "quantity"
    assert len(assert_ledger_is_honest(server, token, sid)[1]) == entries
    assert all_usage(server, token, sid)[0]["status"] == "recorded"


def test_an_amend_voids_the_event_and_records_its_replacement_in_one_write(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    old = recorded(server, token, org, quantity="5", occurred_at="2026-11-20T09:00:00Z")
    response = amend(
        server, token, old["event_id"], "2", key="amend-1", guardrail={"flags": ["late"], "escalation_codes": []}
    )
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["replaces"] == old["event_id"] and new["occurred_at"] == old["occurred_at"]
    assert Decimal(new["quantity"]) == 2 and new["guardrail"]["flags"] == ["late"]
    replay = amend(
        server, token, old["event_id"], "2", key="amend-1", guardrail={"flags": ["late"], "escalation_codes": []}
    )
    assert replay.status_code == 200 and replay.json() == new
    listed = {e["event_id"]: e for e in all_usage(server, token, sid)}
    assert listed[old["event_id"]]["status"] == "voided" and listed[old["event_id"]]["replaced_by"] == new["event_id"]
    assert summary(server, token, sid)["totals"]["events"] == 1
    _, entries = assert_ledger_is_honest(server, token, sid)
    assert [e["type"] for e in entries[-2:]] == ["reversal", "usage"]
    again = amend(server, token, old["event_id"], "3")
    assert again.status_code == 409 and error_of(again)["code"] == "event_voided"


def test_an_amend_a_blocking_plan_cannot_cover_is_402_and_writes_nothing(server, token):
    org = new_org()
    plan_id = blocking_plan(server, token, allowance="10")
    sid = subscribe(server, token, org, plan_id=plan_id)["subscription_id"]
    event = recorded(server, token, org, quantity="4")
    entries = len(assert_ledger_is_honest(server, token, sid)[1])
    refused = amend(server, token, event["event_id"], "11")
    assert refused.status_code == 402 and error_of(refused)["code"] == "insufficient_credits"
    assert len(assert_ledger_is_honest(server, token, sid)[1]) == entries
    assert all_usage(server, token, sid)[0]["status"] == "recorded"
    assert amend(server, token, event["event_id"], "10").status_code == 201  # the 4 came back first


def test_a_void_across_a_period_close_ends_the_expired_allowance_share_again_and_follows_the_draft(fresh_server, token):
    server = fresh_server
    org = new_org()
    subscription = subscribe(server, token, org)
    sid = subscription["subscription_id"]
    # Lab Standard: 1000 credits a period, instrumentation at 5 a run: 1200 credits, 200 of overage.
    event = recorded(server, token, org, quantity="240")
    period_end = parse_timestamp(subscription["current_period_end"])
    invoke_run(server, period_end + timedelta(minutes=5))
    draft = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"][0]
    assert [line["kind"] for line in draft["line_items"]] == ["base_fee", "overage"]

    move_clock(server, period_end + timedelta(minutes=10))
    response = void(server, token, event["event_id"], who=token("finance"))
    assert response.status_code == 200, response.text
    _, entries = assert_ledger_is_honest(server, token, sid)
    reversal, ended_again = entries[-2:]
    assert (reversal["type"], Decimal(reversal["amount"])) == ("reversal", Decimal("1000"))
    assert (ended_again["type"], Decimal(ended_again["amount"])) == ("expiry", Decimal("-1000"))
    assert ended_again["grant_id"] == reversal["grant_id"]
    grants = server.request("GET", f"/subscriptions/{sid}/grants", token=token("finance")).json()["items"]
    allowance = next(g for g in grants if g["grant_id"] == reversal["grant_id"])
    assert (allowance["status"], Decimal(allowance["ended_amount"])) == ("expired", Decimal("1000"))
    redrafted = server.request("GET", f"/subscriptions/{sid}/invoices/{draft['invoice_id']}", token=token("finance"))
    assert [line["kind"] for line in redrafted.json()["line_items"]] == ["base_fee"]
    periods = server.request("GET", f"/subscriptions/{sid}/periods", token=token("finance")).json()["items"]
    assert Decimal(periods[-1]["overage_credits"]) == 0 and Decimal(periods[-1]["usage_credits"]) == 0
    print("ledger across the close:", *entries, sep="\n")  # the report's walk (pytest -s)

    issue = server.request("POST", f"/subscriptions/{sid}/invoices/{draft['invoice_id']}/issue", token=token("finance"))
    assert issue.status_code == 200, issue.text
    # Already voided, whatever became of its invoice since: a void is unchanged, an amend 409.
    assert void(server, token, event["event_id"]).json()["voided_at"] == response.json()["voided_at"]
    refused = amend(server, token, event["event_id"], "1")
    assert refused.status_code == 409 and error_of(refused)["code"] == "event_voided"
    later = recorded(server, token, org)  # the open period's events are corrected as ever
    assert void(server, token, later["event_id"]).status_code == 200
    assert_ledger_is_honest(server, token, sid)


def test_an_event_of_an_invoiced_period_is_409_period_invoiced(fresh_server, token):
    server = fresh_server
    org = new_org()
    subscription = subscribe(server, token, org)
    sid = subscription["subscription_id"]
    event = recorded(server, token, org)
    invoke_run(server, parse_timestamp(subscription["current_period_end"]) + timedelta(minutes=1))
    draft = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"][0]
    issued = server.request(
        "POST", f"/subscriptions/{sid}/invoices/{draft['invoice_id']}/issue", token=token("finance")
    ).json()
    for refused in (void(server, token, event["event_id"]), amend(server, token, event["event_id"], "2")):
        assert refused.status_code == 409 and error_of(refused)["code"] == "period_invoiced"
        assert error_of(refused)["details"] == {"invoice_id": issued["invoice_id"], "number": issued["number"]}
    assert_ledger_is_honest(server, token, sid)


def test_voids_and_amends_racing_usage_and_holds_on_one_subscription_keep_the_ledger_honest(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    events = [recorded(server, token, org, quantity="30") for _ in range(4)]
    hold = server.request(
        "POST",
        "/holds",
        token=token("service"),
        json={"organization_id": org, "service": "instrumentation", "quantity": "10", "idempotency_key": "h1"},
    ).json()

    def settle():
        body = {"idempotency_key": "settle-1"}
        return server.request("POST", f"/holds/{hold['hold_id']}/settle", token=token("service"), json=body)

    calls = [
        *(lambda e=e: void(server, token, e["event_id"]) for e in events[:2]),
        lambda: amend(server, token, events[2]["event_id"], "50"),
        *(lambda: record(server, token, usage_body(org, quantity="20")) for _ in range(4)),
        settle,
    ]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda call: call(), calls))
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers if a.status_code >= 300]
    _, entries = assert_ledger_is_honest(server, token, sid)
    assert [e["type"] for e in entries].count("reversal") == 3
    listed = all_usage(server, token, sid)
    recorded_credits = sum(Decimal(e["credits"]) for e in listed if e["status"] == "recorded")
    assert Decimal(summary(server, token, sid)["totals"]["credits"]) == recorded_credits


def test_after_a_change_now_a_void_ends_the_closed_allowance_again_and_an_amend_bills_the_open_period(
    fresh_server, token
):
    """The changed-from period's allowance ended with it, depleted or not: what a void gives back to
    it ends again. An amend's new event is usage recorded now: the open period draws, counts and
    bills it; the closed period's draft loses the old event."""
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    # Lab Standard: 1000 credits a period, instrumentation at 5 a run: all of it, then 50 of overage.
    depleting = recorded(server, token, org, quantity="200")
    over = recorded(server, token, org, quantity="10")
    closed_start = depleting["period_start"]
    move_clock(server, now_of(server) + timedelta(seconds=60))
    changed = change(server, token("org:admin", org=org), sid, lab_like(server, token))
    assert changed.status_code == 200, changed.text
    open_start, opening_balance = changed.json()["current_period_start"], Decimal(changed.json()["credit_balance"])

    assert void(server, token, depleting["event_id"]).status_code == 200
    _, entries = assert_ledger_is_honest(server, token, sid)
    reversal, ended_again = entries[-2:]
    assert (reversal["type"], Decimal(reversal["amount"])) == ("reversal", Decimal("1000"))
    assert (ended_again["type"], Decimal(ended_again["amount"]), ended_again["grant_id"]) == (
        "expiry",
        Decimal("-1000"),
        reversal["grant_id"],
    )
    grants = server.request("GET", f"/subscriptions/{sid}/grants", token=token("finance")).json()["items"]
    allowance = next(g for g in grants if g["grant_id"] == reversal["grant_id"])
    assert (allowance["status"], Decimal(allowance["ended_amount"])) == ("expired", Decimal("1000"))
    assert credit_balance(server, token, sid) == opening_balance

    response = amend(server, token, over["event_id"], "20")  # 100 credits
    assert response.status_code == 201, response.text
    new = response.json()
    assert (new["period_start"], new["occurred_at"]) == (open_start, over["occurred_at"])
    assert Decimal(new["debited_credits"]) == Decimal("100")
    assert credit_balance(server, token, sid) == opening_balance - Decimal("100")
    assert Decimal(summary(server, token, sid, period_start=open_start)["totals"]["credits"]) == Decimal("100")
    assert summary(server, token, sid, period_start=closed_start)["totals"]["events"] == 0
    invoices = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    closed_draft = next(i for i in invoices if i["period_start"] == closed_start)
    assert [line["kind"] for line in closed_draft["line_items"]] == ["base_fee"]
