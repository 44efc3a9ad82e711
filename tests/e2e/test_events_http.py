"""Events out over the local stack: every change the contract names is published on the billing
events bus (`GET /_local/events`), from the outbox its transaction wrote: one event per change,
none for a refused one, and the same `event_id` when the stream delivers a batch twice."""

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from billing.domain.values import parse_timestamp

from .clock import invoke_run, move_clock
from .test_grants_http import now_of
from .test_holds_http import hold
from .test_invoices_http import draft
from .test_subscriptions_http import credit, ledger, new_org, subscribe
from .test_usage_http import record, usage_body


def published(server, detail_type=None, *, subscription_id):
    params = {"type": detail_type} if detail_type else None
    response = server.request("GET", "/_local/events", params=params)
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["detail"]["subscription_id"] == subscription_id]


def types_of(events):
    return [e["detail-type"] for e in events]


def runs(server, token, org, count):
    """Lab Standard charges 5 credits an instrumentation run."""
    response = record(server, token, usage_body(org, quantity=str(count)))
    assert response.status_code == 201, response.text


def test_each_change_the_contract_names_publishes_its_event_with_the_resource(fresh_server, token):
    server = fresh_server  # its clock moves a period on
    org = new_org()
    subscription = subscribe(server, token, org)
    sid = subscription["subscription_id"]
    assert published(server, subscription_id=sid) == []  # provisioning reports nothing

    assert credit(server, token, sid, "10", kind="top_up").status_code == 201
    runs(server, token, org, 190)  # 950 of 1010 credits: 60 left, under the threshold of 100
    runs(server, token, org, 2)  # still under: no second alert
    runs(server, token, org, 20)  # 50 left, 100 asked: depleted (the rest is overage)
    assert types_of(published(server, subscription_id=sid)) == [
        "CreditsToppedUp",
        "CreditBalanceLow",
        "CreditsDepleted",
    ]

    drafted = draft(server, token, sid).json()
    invoice_path = f"/subscriptions/{sid}/invoices/{drafted['invoice_id']}"
    assert server.request("POST", f"{invoice_path}/void", token=token("finance")).status_code == 200
    invoke_run(server, parse_timestamp(subscription["current_period_end"]))  # closes the period: a new draft
    closed = server.request("GET", f"/subscriptions/{sid}/invoices", token=token("finance")).json()["items"][0]
    issued = server.request(
        "POST", f"/subscriptions/{sid}/invoices/{closed['invoice_id']}/issue", token=token("finance")
    )
    assert issued.status_code == 200, issued.text
    canceled = server.request("POST", f"/subscriptions/{sid}/cancel", token=token("marketplace:admin"))
    assert canceled.status_code == 200, canceled.text

    events = published(server, subscription_id=sid)
    assert types_of(events) == [
        "CreditsToppedUp",
        "CreditBalanceLow",
        "CreditsDepleted",
        "InvoiceDrafted",
        "InvoiceVoided",
        "InvoiceDrafted",  # the period's close, with the next allowance: back above the threshold
        "InvoiceIssued",
        "SubscriptionCanceled",
    ]
    for event in events:
        assert event["source"] == "marketplace.billing"
        detail = event["detail"]
        assert {"event_id", "subscription_id", "organization_id", "occurred_at"} <= set(detail)
        assert detail["organization_id"] == org
    assert len({e["detail"]["event_id"] for e in events}) == len(events)

    by_type = {e["detail-type"]: e["detail"] for e in events}
    top_up = next(e for e in ledger(server, token, sid) if e["type"] == "top_up")
    assert by_type["CreditsToppedUp"]["ledger_entry"] == top_up
    assert by_type["CreditBalanceLow"]["credit_balance"] == "60"
    assert by_type["CreditBalanceLow"]["threshold_credits"] == "100"
    assert by_type["CreditsDepleted"]["credit_balance"] == "0"
    assert by_type["InvoiceVoided"]["invoice"]["invoice_id"] == drafted["invoice_id"]
    assert by_type["InvoiceVoided"]["invoice"]["status"] == "void"
    assert by_type["InvoiceIssued"]["invoice"] == issued.json()
    assert by_type["SubscriptionCanceled"]["subscription"]["status"] == "canceled"
    assert published(server, "InvoiceIssued", subscription_id=sid) == [
        e for e in events if e["detail-type"] == "InvoiceIssued"
    ]


def test_a_refused_change_publishes_nothing(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    below_zero = credit(server, token, sid, "-5000", kind="adjustment")
    assert below_zero.status_code == 409 and below_zero.json()["error"]["code"] == "insufficient_credits"
    assert server.request("POST", f"/subscriptions/{sid}/cancel", token=token("marketplace:admin")).status_code == 200
    refused = credit(server, token, sid, "10", kind="top_up")
    assert refused.status_code == 409, refused.text
    # The refused top-up first closed the canceled subscription's final period (a change that did
    # commit, with its invoice draft); the top-up itself reports nothing.
    assert types_of(published(server, subscription_id=sid)) == ["SubscriptionCanceled", "InvoiceDrafted"]


def test_writers_racing_on_one_subscription_publish_one_event_per_committed_change(server, token):
    """Sixteen top-ups at once: the attempts that lost the race wrote outbox records in their
    transactions too, and those transactions did not commit, so none of them is published."""
    sid = subscribe(server, token, new_org())["subscription_id"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: credit(server, token, sid, "1", kind="top_up"), range(16)))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    events = published(server, "CreditsToppedUp", subscription_id=sid)
    entries = [e for e in ledger(server, token, sid) if e["type"] == "top_up"]
    assert sorted(e["detail"]["ledger_entry"]["entry_id"] for e in events) == sorted(e["entry_id"] for e in entries)
    assert len({e["detail"]["event_id"] for e in events}) == 16


def test_a_batch_delivered_twice_reaches_consumers_under_the_same_event_ids(server, token):
    """The publisher crashed after PutEvents and before the stream's checkpoint: the stream hands
    it the batch again. Consumers see each event twice, always with its one id."""
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    assert credit(server, token, sid, "10", kind="top_up", key=uuid.uuid4().hex).status_code == 201
    first = published(server, subscription_id=sid)
    assert types_of(first) == ["CreditsToppedUp"]

    redelivered = server.request("POST", "/_local/events/redeliver")
    assert redelivered.status_code == 200 and redelivered.json()["redelivered"] >= 1
    again = published(server, subscription_id=sid)
    assert types_of(again) == ["CreditsToppedUp", "CreditsToppedUp"]
    ids = Counter(e["detail"]["event_id"] for e in again)
    assert list(ids.values()) == [2]  # one change, one id, delivered twice
    assert again[0]["id"] != again[1]["id"]  # EventBridge's own ids differ: dedupe on detail.event_id


def test_a_hold_that_expires_is_reported_once_with_the_hold(fresh_server, token):
    server = fresh_server  # its clock moves
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    placed = hold(server, token, org, 4, service="instrumentation", expires_in_seconds=600)
    assert placed.status_code == 201, placed.text
    assert published(server, subscription_id=sid) == []  # placing a hold moves no balance
    moment = now_of(server) + timedelta(minutes=11)
    move_clock(server, moment)
    invoke_run(server, moment)  # writes the expiry off for a subscription nothing touched
    invoke_run(server, moment)  # nothing left to write off: no second event
    (expired,) = published(server, subscription_id=sid)
    assert expired["detail-type"] == "HoldExpired"
    assert expired["detail"]["hold"] | {"status": None} == {
        "hold_id": placed.json()["hold_id"],
        "credits": "20",
        "expires_at": placed.json()["expires_at"],
        "status": None,
        "ended_at": expired["detail"]["occurred_at"],
    }
    assert expired["detail"]["hold"]["status"] == "expired"
