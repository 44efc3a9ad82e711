"""The upcoming invoice over HTTP: the current period's draft as it would be (and the final one if
canceled now), from the drafting code itself, never stored; it agrees to the cent with what the
period close and the cancellation then draft."""

from datetime import timedelta

from billing.domain.values import parse_timestamp

from .clock import invoke_run, move_clock
from .test_grants_http import now_of
from .test_invoices_http import draft
from .test_plans_http import error_of
from .test_subscriptions_http import new_org, subscribe
from .test_usage_http import record, usage_body


def upcoming(server, token, sid, who=None, **params):
    return server.request(
        "GET", f"/subscriptions/{sid}/invoices/upcoming", token=who or token("finance"), params=params
    )


def without_identity(invoice):
    """What an upcoming invoice and the draft made later share: everything but id and times."""
    return {k: v for k, v in invoice.items() if k not in ("invoice_id", "created_at", "updated_at")}


def test_the_upcoming_invoice_is_what_the_period_close_drafts(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    assert record(server, token, usage_body(org, quantity="201")).status_code == 201  # 5 credits over

    before = upcoming(server, token, sid, who=token("org:member", org=org))
    assert before.status_code == 200, before.text
    preview = before.json()
    assert (preview["invoice_id"], preview["status"], preview["number"]) == (None, "draft", None)
    assert [(line["kind"], line["amount_cents"]) for line in preview["line_items"]] == [
        ("base_fee", 49_900),
        ("overage", 62),
    ]
    # Never stored: the subscription has no invoice yet.
    listed = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()
    assert listed["items"] == []

    period_end = parse_timestamp(preview["period_end"])
    invoke_run(server, period_end + timedelta(seconds=1))
    [closed] = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    assert without_identity(closed) == without_identity(preview)


def test_cancel_now_previews_the_final_invoice_the_cancellation_drafts(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    assert record(server, token, usage_body(org, quantity="100")).status_code == 201  # half the allowance
    move_clock(server, now_of(server).replace(microsecond=0) + timedelta(days=3))

    preview = upcoming(server, token, sid, who=token("org:admin", org=org), cancel_now="true").json()
    [base] = preview["line_items"]
    assert base["quantity"] == "0.5" and base["amount_cents"] == 24_950  # half the allowance beats 3 days
    assert "500 of 1000 allowance credits used" in base["description"]
    plain = upcoming(server, token, sid).json()
    assert plain["line_items"][0]["amount_cents"] == 49_900  # not canceled: the whole fee at the period's end

    canceled = server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org))
    assert canceled.status_code == 200
    final = draft(server, token, sid).json()
    assert without_identity(final) == without_identity(preview)

    # Canceled: the final invoice is upcoming (with or without cancel_now: no second cancellation)
    # until its close drafts it; then nothing is.
    for query in ({}, {"cancel_now": "true"}):
        still = upcoming(server, token, sid, **query)
        assert still.status_code == 200 and without_identity(still.json()) == without_identity(preview)
    invoke_run(server, now_of(server) + timedelta(seconds=1))
    closed = upcoming(server, token, sid)
    assert closed.status_code == 409 and error_of(closed)["code"] == "no_active_subscription"


def test_the_upcoming_invoice_is_the_organizations_own_and_its_query_is_checked(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    stranger = upcoming(server, token, sid, who=token("org:admin", org=new_org()))
    missing = upcoming(server, token, "01NOSUCHSUBSCRIPTION", who=token("org:admin", org=new_org()))
    assert stranger.status_code == missing.status_code == 404
    assert stranger.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    for bad in ("yes", "1", "TRUE", ""):
        refused = upcoming(server, token, sid, cancel_now=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert error_of(refused)["details"]["fields"][0]["field"] == "cancel_now"
    unknown = upcoming(server, token, sid, cancel="true")
    assert unknown.status_code == 422
    assert server.request("GET", f"/subscriptions/{sid}/invoices/upcoming").status_code == 401


def test_cancel_now_after_a_period_ended_unclosed_previews_the_period_a_change_would_find(fresh_server, token):
    """The run has not closed the ended period yet: a cancellation now bills the whole old period
    (its own invoice) and the days of the new one; the preview is that final invoice."""
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    first_end = parse_timestamp(
        server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()["current_period_end"]
    )
    move_clock(server, first_end + timedelta(days=3))

    preview = upcoming(server, token, sid, cancel_now="true").json()
    assert parse_timestamp(preview["period_start"]) == first_end
    assert preview["line_items"][0]["amount_cents"] < 49_900  # three days' share, not the old period whole
    assert server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org)).status_code == 200
    invoke_run(server, now_of(server) + timedelta(seconds=1))
    invoices = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    [final] = [i for i in invoices if parse_timestamp(i["period_start"]) == first_end]
    assert without_identity(final) == without_identity(preview)
    [whole] = [i for i in invoices if parse_timestamp(i["period_end"]) == first_end]
    assert whole["total_cents"] == 49_900


def test_canceling_exactly_at_the_period_end_bills_that_period_whole_and_opens_no_empty_one(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    end = parse_timestamp(
        server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()["current_period_end"]
    )
    move_clock(server, end)
    canceled = server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org)).json()
    assert parse_timestamp(canceled["canceled_at"]) == end
    invoke_run(server, end + timedelta(seconds=10))
    invoices = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"]
    assert [(i["period_end"], i["total_cents"]) for i in invoices] == [(canceled["current_period_end"], 49_900)]
    periods = server.request("GET", f"/subscriptions/{sid}/periods", token=token("finance")).json()["items"]
    assert len(periods) == 1 and periods[0]["status"] == "closed"


def test_a_cancellation_on_the_real_clock_ends_the_final_period_on_a_whole_second(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    server.request("DELETE", "/_local/clock")  # the real clock: milliseconds and all
    canceled = server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org)).json()
    assert "." not in canceled["canceled_at"]  # no sub-second digits
    [period] = server.request("GET", f"/subscriptions/{sid}/periods", token=token("finance")).json()["items"]
    assert "." not in period["period_end"] and period["period_end"] == canceled["canceled_at"]
