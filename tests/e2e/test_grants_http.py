"""Credit grants over HTTP: draw-down order, expiry under the test clock, void, priced top-ups on
exactly one invoice, and auto top-up under concurrent writers (invariants 1, 2, 9 and 12)."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from billing.domain.values import format_timestamp, parse_timestamp

from .clock import invoke_run, move_clock
from .contention import until_not_contended
from .test_subscriptions_http import assert_ledger_is_honest, ledger, new_org, subscribe
from .test_usage_http import record, usage_body


def grant(server, token, sid, **fields):
    body = {"amount": "50", "kind": "promotional", "reason": "launch promo", "idempotency_key": uuid.uuid4().hex}
    response = server.request(
        "POST", f"/subscriptions/{sid}/grants", token=token("marketplace:admin"), json=body | fields
    )
    assert response.status_code == 201, response.text
    return response.json()


def runs(server, token, org, count):
    """Lab Standard charges 5 credits an instrumentation run."""
    response = record(server, token, usage_body(org, quantity=str(count)))
    assert response.status_code == 201, response.text
    return response.json()


def now_of(server):
    return parse_timestamp(server.request("GET", "/_local/clock").json()["now"])


def grants_of(server, token, sid, **params):
    return server.request("GET", f"/subscriptions/{sid}/grants", token=token("finance"), params=params).json()["items"]


def test_usage_draws_by_priority_then_earliest_expiry_then_age(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    allowance = grants_of(server, token, sid)[0]
    soon = format_timestamp(now_of(server) + timedelta(days=2))
    promo = grant(server, token, sid, amount="50", priority=0, expires_at=soon)  # before the allowance: expires first
    bought = grant(server, token, sid, amount="100", kind="purchased", price_cents=900)

    runs(server, token, org, 12)  # 60 credits: all 50 of the promotion, then 10 of the allowance
    runs(server, token, org, 200)  # 1000 credits: the allowance's 990, then 10 purchased

    usage_entries = [e for e in ledger(server, token, sid) if e["type"] == "usage"]
    assert [[(a["grant_id"], a["amount"]) for a in e["allocation"]] for e in usage_entries] == [
        [(promo["grant_id"], "-50"), (allowance["grant_id"], "-10")],
        [(allowance["grant_id"], "-990"), (bought["grant_id"], "-10")],
    ]
    statuses = {g["grant_id"]: (g["status"], g["remaining"]) for g in grants_of(server, token, sid)}
    assert statuses == {
        promo["grant_id"]: ("depleted", "0"),  # used up: nothing ended with it (`ended_amount` null)
        allowance["grant_id"]: ("depleted", "0"),
        bought["grant_id"]: ("active", "90"),
    }
    assert [g["grant_id"] for g in grants_of(server, token, sid, status="active")] == [bought["grant_id"]]
    subscription, _ = assert_ledger_is_honest(server, token, sid)
    assert (subscription["allowance_balance"], subscription["purchased_balance"]) == ("0", "90")


def test_a_grant_that_expires_between_two_events_is_written_off_before_the_second(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    expires = now_of(server) + timedelta(hours=1)
    promo = grant(server, token, sid, amount="20", priority=0, expires_at=format_timestamp(expires))
    runs(server, token, org, 1)  # 5 of its 20 credits

    move_clock(server, expires + timedelta(minutes=1))
    second = runs(server, token, org, 1)
    entries = ledger(server, token, sid)
    assert [(e["type"], e.get("grant_id"), e["amount"]) for e in entries[-2:]] == [
        ("expiry", promo["grant_id"], "-15"),
        ("usage", entries[0]["grant_id"], "-5"),  # the allowance pays: the promotion is gone
    ]
    assert second["balance_after"] == "995" and entries[-1]["seq"] == second["ledger_seq"]
    [expired] = grants_of(server, token, sid, status="expired")
    # Ended, it holds nothing; what left the balance is its `ended_amount`.
    assert (expired["grant_id"], expired["remaining"], expired["ended_amount"]) == (promo["grant_id"], "0", "15")
    assert_ledger_is_honest(server, token, sid)


def test_the_scheduled_run_writes_off_a_grant_nothing_else_touches(fresh_server, token):
    server = fresh_server
    sid = subscribe(server, token, new_org())["subscription_id"]
    expires = now_of(server) + timedelta(hours=2)
    grant(server, token, sid, amount="7", expires_at=format_timestamp(expires))
    before = invoke_run(server, expires - timedelta(seconds=1))
    assert before["subscriptions_due"] == 0  # due when the grant expires, not before
    assert invoke_run(server, expires + timedelta(seconds=1))["subscriptions_due"] == 1
    assert [(e["type"], e["amount"]) for e in ledger(server, token, sid)][-1] == ("expiry", "-7")
    assert invoke_run(server, expires + timedelta(seconds=2))["subscriptions_due"] == 0  # written off once
    assert_ledger_is_honest(server, token, sid)


def test_voiding_a_grant_takes_its_remaining_credits_and_only_once(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    soon = format_timestamp(now_of(server) + timedelta(days=1))  # drawn before the allowance
    bought = grant(server, token, sid, amount="30", kind="purchased", priority=0, expires_at=soon)
    runs(server, token, org, 2)  # 10 of its 30
    path = f"/subscriptions/{sid}/grants/{bought['grant_id']}/void"

    refused = server.request("POST", path, token=token("org:admin", org=org), json={"reason": "mine"})
    assert refused.status_code == 403 and refused.json()["error"]["details"]["permission"] == "adjust_credits"
    voided = server.request("POST", path, token=token("marketplace:admin"), json={"reason": "sold by mistake"})
    assert voided.status_code == 200, voided.text
    assert (voided.json()["status"], voided.json()["remaining"], voided.json()["ended_amount"]) == ("voided", "0", "20")
    [listed] = grants_of(server, token, sid, status="voided")
    assert (listed["remaining"], listed["ended_amount"]) == ("0", "20")
    last = ledger(server, token, sid)[-1]
    assert (last["type"], last["amount"], last["reason"], last["balance_after"]) == (
        "void",
        "-20",
        "sold by mistake",
        "1000",
    )
    again = server.request("POST", path, token=token("marketplace:admin"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "grant_not_active"
    missing = server.request("POST", f"/subscriptions/{sid}/grants/nope/void", token=token("marketplace:admin"))
    assert missing.status_code == 404
    assert_ledger_is_honest(server, token, sid)


def test_grant_requests_are_checked_before_anything_is_written(server, token):
    sid = subscribe(server, token, new_org())["subscription_id"]
    before = ledger(server, token, sid)
    for body, field in [
        ({"amount": "0"}, "amount"),
        ({"kind": "allowance"}, "kind"),
        ({"priority": 1001}, "priority"),
        ({"price_cents": 5}, "price_cents"),  # a promotion is free
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"effective_at": "2031-01-02T00:00:00Z", "expires_at": "2031-01-01T00:00:00Z"}, "expires_at"),
    ]:
        response = server.request(
            "POST",
            f"/subscriptions/{sid}/grants",
            token=token("marketplace:admin"),
            json={"amount": "5", "kind": "promotional", "reason": "r", "idempotency_key": uuid.uuid4().hex} | body,
        )
        assert response.status_code == 422, (body, response.text)
        assert field in [f["field"] for f in response.json()["error"]["details"]["fields"]], response.text
    assert ledger(server, token, sid) == before


def test_a_priced_top_up_is_billed_once_on_the_invoice_of_its_period(fresh_server, token):
    server = fresh_server
    org = new_org()
    subscription = subscribe(server, token, org)
    sid = subscription["subscription_id"]
    admin, finance = token("marketplace:admin"), token("finance")
    body = {"amount": "40", "type": "top_up", "reason": "pack", "idempotency_key": "pack-1", "price_cents": 1234}
    for _ in range(2):  # a replay sells nothing twice
        server.request("POST", f"/subscriptions/{sid}/credits", token=admin, json=body)
    drafts = [server.request("POST", f"/subscriptions/{sid}/invoices/draft", token=finance).json() for _ in range(2)]
    assert [[(li["kind"], li["amount_cents"]) for li in d["line_items"]] for d in drafts] == [
        [("base_fee", 49_900), ("top_up", 1234)]
    ] * 2

    period_end = parse_timestamp(subscription["current_period_end"])
    invoke_run(server, period_end + timedelta(minutes=5))
    invoice_id = drafts[0]["invoice_id"]
    issued = server.request("POST", f"/subscriptions/{sid}/invoices/{invoice_id}/issue", token=finance).json()
    assert issued["status"] == "issued" and issued["total_cents"] == 49_900 + 1234
    top_up = [li for li in issued["line_items"] if li["kind"] == "top_up"]
    assert [(li["quantity"], li["unit_amount_cents"]) for li in top_up] == [("40", "30.85")]
    following = server.request("POST", f"/subscriptions/{sid}/invoices/draft", token=finance).json()
    assert [li["kind"] for li in following["line_items"]] == ["base_fee"]  # billed once, in its own period


def test_auto_top_up_fires_at_most_max_per_period_under_16_concurrent_writers(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    settings = {"auto_top_up": {"enabled": True, "threshold_credits": "500", "amount": "100", "max_per_period": 2}}
    refused = server.request("PUT", f"/subscriptions/{sid}/settings", token=token("org:member", org=org), json=settings)
    assert refused.status_code == 403
    changed = server.request("PUT", f"/subscriptions/{sid}/settings", token=token("org:admin", org=org), json=settings)
    assert changed.status_code == 200, changed.text
    assert changed.json()["auto_top_up"]["max_per_period"] == 2

    def charge(body):
        response = until_not_contended(lambda: record(server, token, body))
        assert response.status_code in (200, 201), response.text
        return response.json()["credits"]

    def writer(_):
        return [charge(usage_body(org, quantity="5")) for _ in range(4)]  # 4 x 25 credits

    with ThreadPoolExecutor(max_workers=16) as pool:
        charged = sum(Decimal(c) for batch in pool.map(writer, range(16)) for c in batch)
    assert charged == 1600

    entries = ledger(server, token, sid)
    top_ups = [e for e in entries if e["type"] == "top_up"]
    assert [(e["actor"], e["amount"]) for e in top_ups] == [("auto-top-up", "100")] * 2
    subscription, _ = assert_ledger_is_honest(server, token, sid)
    assert subscription["auto_top_ups_in_period"] == 2 and subscription["credit_balance"] == "0"
    overage = sum(Decimal(e["overage_credits"]) for e in entries if e["type"] == "usage")
    assert overage == 1600 - 1000 - 200  # what the allowance and both top-ups did not cover
    invoice = server.request("POST", f"/subscriptions/{sid}/invoices/draft", token=token("finance")).json()
    assert [li["amount_cents"] for li in invoice["line_items"] if li["kind"] == "top_up"] == [1000, 1000]


def test_settings_change_only_what_is_given_and_null_restores_the_default(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    path, who = f"/subscriptions/{sid}/settings", token("org:admin", org=org)
    auto = {"enabled": True, "threshold_credits": "50", "amount": "200", "max_per_period": 3}
    first = server.request("PUT", path, token=who, json={"low_balance_threshold_credits": "0", "auto_top_up": auto})
    assert (first.json()["low_balance_threshold_credits"], first.json()["auto_top_up"]["amount"]) == ("0", "200")
    kept = server.request("PUT", path, token=who, json={"auto_top_up": None}).json()
    assert kept["low_balance_threshold_credits"] == "0" and kept["auto_top_up"] is None
    reset = server.request("PUT", path, token=who, json={"low_balance_threshold_credits": None}).json()
    assert reset["low_balance_threshold_credits"] == "100"  # 10% of Lab Standard's 1000
    for body, field in [
        ({"auto_top_up": auto | {"max_per_period": 0}}, "auto_top_up.max_per_period"),
        ({"auto_top_up": auto | {"amount": "-1"}}, "auto_top_up.amount"),
        ({"low_balance_threshold_credits": "-1"}, "low_balance_threshold_credits"),
        ({"surprise": 1}, "surprise"),
    ]:
        refused = server.request("PUT", path, token=who, json=body)
        assert refused.status_code == 422 and [f["field"] for f in refused.json()["error"]["details"]["fields"]] == [
            field
        ], refused.text
    outsider = server.request("PUT", path, token=token("org:admin", org=new_org()), json={})
    assert outsider.status_code == 404
