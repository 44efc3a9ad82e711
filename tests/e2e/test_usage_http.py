"""Usage metering over HTTP: every status and error code of API.md's usage endpoints, the
concurrency and idempotency guarantees (DESIGN invariants 1-5, 8), the usage bus via
/_local/invoke, and the write units the design targets."""

import json
import threading
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta, timezone
from decimal import Decimal

import pytest

from billing.domain.values import parse_timestamp

from .clock import invoke_run
from .test_plans_http import TERMS, error_of, new_plan_id
from .test_subscriptions_http import assert_ledger_is_honest, new_org, subscribe


def blocking_plan(server, token, allowance="100"):
    plan_id = new_plan_id()
    terms = {
        **TERMS,
        "overage_policy": "block",
        "credit_allowance": allowance,
        "usage_rates": {
            "instrumentation": {"unit": "run", "credits_per_unit": "1"},
            "analytics": {"unit": "sample", "credits_per_unit": "0.5"},
        },
    }
    assert (
        server.request(
            "POST", "/plans", token=token("marketplace:admin"), json={"plan_id": plan_id, **terms}
        ).status_code
        == 201
    )
    return plan_id


def usage_body(org, **changes):
    return {
        "organization_id": org,
        "service": "instrumentation",
        "quantity": "1",
        "idempotency_key": uuid.uuid4().hex,
    } | changes


def record(server, token, body, who=None):
    return server.request("POST", "/usage", token=who or token("service"), json=body)


def all_usage(server, token, sid, **params):
    items, cursor = [], None
    while True:
        page = server.request(
            "GET",
            f"/subscriptions/{sid}/usage",
            token=token("finance"),
            params={"limit": 50, **params} | ({"cursor": cursor} if cursor else {}),
        ).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_usage_is_charged_at_the_plan_rate_with_its_guardrail_annotations(server, token):
    org = new_org()
    subscription = subscribe(server, token, org)
    body = usage_body(
        org,
        quantity="2",
        occurred_at="2026-11-20T10:00:00Z",
        unit="run",
        source={"kind": "instrumentation_run", "id": "run-1"},
        guardrail={"flags": ["temperature_drift", "door_open"], "escalation_codes": []},
        metadata={"instrument": "hplc-2"},
    )
    response = record(server, token, body)
    assert response.status_code == 201
    event = response.json()
    assert (event["credits"], event["debited_credits"], event["overage_credits"], event["balance_after"]) == (
        "10",
        "10",
        "0",
        "990",
    )
    assert event["subscription_id"] == subscription["subscription_id"] and event["event_id"]
    assert event["guardrail"]["flags"] == ["temperature_drift", "door_open"] and event["source"] == {
        "kind": "instrumentation_run",
        "id": "run-1",
    }
    _, entries = assert_ledger_is_honest(server, token, subscription["subscription_id"])
    assert (entries[-1]["type"], entries[-1]["amount"], entries[-1]["reference"]) == (
        "usage",
        "-10",
        f"usage:{event['event_id']}",
    )


def test_a_replay_answers_200_with_the_first_response_and_another_body_is_422(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    body = usage_body(org, quantity="3")
    first, again = record(server, token, body), record(server, token, body | {"quantity": 3.0})
    assert first.status_code == 201 and again.status_code == 200 and again.json() == first.json()
    reused = record(server, token, body | {"quantity": "4"})
    assert reused.status_code == 422 and error_of(reused)["code"] == "idempotency_key_reused"
    assert len(all_usage(server, token, sid)) == 1


def test_an_unknown_service_is_422_and_no_active_subscription_is_409(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    unknown = record(server, token, usage_body(org, service="telepathy"))
    assert unknown.status_code == 422 and error_of(unknown)["code"] == "unknown_service"
    nobody = record(server, token, usage_body(new_org()))
    assert nobody.status_code == 409 and error_of(nobody)["code"] == "no_active_subscription"
    server.request("POST", f"/subscriptions/{sid}/cancel", token=token("org:admin", org=org))
    canceled = record(server, token, usage_body(org))
    assert canceled.status_code == 409 and error_of(canceled)["code"] == "no_active_subscription"
    assert all_usage(server, token, sid) == []


def test_a_blocking_plan_answers_402_and_writes_nothing(server, token):
    org = new_org()
    sid = subscribe(server, token, org, plan_id=blocking_plan(server, token, allowance="5"))["subscription_id"]
    assert record(server, token, usage_body(org, quantity="4")).status_code == 201
    refused = record(server, token, usage_body(org, quantity="2"))
    assert refused.status_code == 402 and error_of(refused)["code"] == "insufficient_credits"
    subscription, entries = assert_ledger_is_honest(server, token, sid)
    assert subscription["credit_balance"] == "1" and len(entries) == 2


def test_an_allowing_plan_records_overage(server, token):
    org = new_org()
    subscribe(server, token, org)
    event = record(server, token, usage_body(org, quantity="201")).json()  # 1005 credits against 1000
    assert (event["debited_credits"], event["overage_credits"], event["balance_after"]) == ("1000", "5", "0")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": "Infinity"}, "quantity"),
        ({"quantity": "1e12"}, "quantity"),
        ({"quantity": "0.0000001"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"service": "Planner!"}, "service"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at"),
        ({"unit": "hour"}, "unit"),
        ({"guardrail": {"flags": ["x", "x"]}}, "guardrail.flags"),
        ({"source": {"kind": "planner_finalization"}}, "source.id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_usage_is_422_naming_the_field_and_writes_nothing(server, token, changes, field):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    body = {k: v for k, v in usage_body(org).items()} | changes
    response = record(server, token, body)
    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "validation_error" and field in [
        f["field"] for f in error_of(response)["details"]["fields"]
    ]
    assert all_usage(server, token, sid) == []


def test_usage_needs_a_service_or_admin_a_json_object_and_a_small_body(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    assert server.request("POST", "/usage", json=usage_body(org)).status_code == 401
    for role in ("org:admin", "finance", "org:member"):
        response = record(server, token, usage_body(org), who=token(role, org=org if role.startswith("org") else None))
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    assert record(server, token, usage_body(org), who=token("marketplace:admin")).status_code == 201
    assert server.request("POST", "/usage", token=token("service"), data="{oops").status_code == 400
    assert server.request("POST", "/usage", token=token("service"), data="[]").status_code == 400
    huge = record(server, token, usage_body(org, metadata={"note": "x" * 200}, padding="y" * 270_000))
    assert huge.status_code == 413 and error_of(huge)["code"] == "payload_too_large"
    assert len(all_usage(server, token, sid)) == 1


# --- batch ------------------------------------------------------------------------------------


def test_a_batch_answers_every_event_in_order_and_one_bad_event_sinks_none(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    seen = usage_body(org)
    assert record(server, token, seen).status_code == 201
    events = [
        usage_body(org, service="analytics", quantity="8"),
        {"organization_id": org, "quantity": 1},
        seen,
        usage_body(org, service="telepathy"),
        seen | {"quantity": "7"},
        usage_body(new_org()),
    ]
    response = server.request("POST", "/usage/batch", token=token("service"), json={"events": events})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["status"], r.get("error", {}).get("code")) for r in results] == [
        (0, "accepted", None),
        (1, "rejected", "validation_error"),
        (2, "duplicate", None),
        (3, "rejected", "unknown_service"),
        (4, "rejected", "idempotency_key_reused"),
        (5, "rejected", "no_active_subscription"),
    ]
    assert results[0]["credits"] == "2" and results[2]["idempotency_key"] == seen["idempotency_key"]
    assert len(all_usage(server, token, sid)) == 2


def test_batches_over_100_events_are_413_and_malformed_batches_422_or_400(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    too_many = server.request(
        "POST", "/usage/batch", token=token("service"), json={"events": [usage_body(org) for _ in range(101)]}
    )
    assert too_many.status_code == 413 and error_of(too_many)["code"] == "payload_too_large"
    assert server.request("POST", "/usage/batch", token=token("service"), json={"events": []}).status_code == 422
    assert server.request("POST", "/usage/batch", token=token("service"), json={"event": []}).status_code == 422
    assert server.request("POST", "/usage/batch", token=token("service"), data="nope").status_code == 400
    assert (
        server.request(
            "POST", "/usage/batch", token=token("org:admin", org=org), json={"events": [usage_body(org)]}
        ).status_code
        == 403
    )
    assert server.request("POST", "/usage/batch", json={"events": [usage_body(org)]}).status_code == 401
    assert all_usage(server, token, sid) == []


def test_write_units_per_event_meet_the_design_targets(server, token):
    org = new_org()
    subscribe(server, token, org)
    alone = server.request("POST", "/usage/batch", token=token("service"), json={"events": [usage_body(org)]}).json()
    single = alone["write_units"]
    full = server.request(
        "POST",
        "/usage/batch",
        token=token("service"),
        json={"events": [usage_body(org, service="analytics") for _ in range(100)]},
    ).json()
    assert [r["status"] for r in full["results"]] == ["accepted"] * 100
    per_event = full["write_units"]["per_accepted_event"]
    per_table = sum(r["write_units"]["table"] for r in full["results"]) / 100
    print(
        f"write units per event: single {single['per_accepted_event']} (table 8 + the two indexes' 2), "
        f"full batch {per_event} (table {per_table:.2f})"
    )
    [result] = alone["results"]
    assert result["write_units"]["table"] <= 8  # base-table writes; the listing and the by-id index add one each
    assert result["write_units"]["indexes"] == 2
    assert per_table <= 2.5


# --- reading ----------------------------------------------------------------------------------


def test_usage_lists_newest_first_filtered_by_time_service_and_flag(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    stamps = ["2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00.500Z"]
    record(server, token, usage_body(org, occurred_at=stamps[0], guardrail={"flags": ["drift"]}))
    record(server, token, usage_body(org, occurred_at=stamps[1], service="analytics"))
    record(server, token, usage_body(org, occurred_at=stamps[2], guardrail={"flags": ["drift", "door_open"]}))
    record(server, token, usage_body(org, occurred_at=stamps[3], service="planner"))
    assert [e["occurred_at"] for e in all_usage(server, token, sid)] == [
        "2026-11-22T10:00:00.500Z",  # at most milliseconds, as sent
        "2026-11-22T10:00:00Z",
        "2026-11-21T10:00:00Z",
        "2026-11-20T10:00:00Z",
    ]
    assert [e["occurred_at"] for e in all_usage(server, token, sid, **{"from": stamps[1], "to": stamps[3]})] == [
        "2026-11-22T10:00:00Z",
        "2026-11-21T10:00:00Z",
    ]
    assert [e["service"] for e in all_usage(server, token, sid, service="analytics")] == ["analytics"]
    assert [e["occurred_at"] for e in all_usage(server, token, sid, guardrail_flag="drift")] == [
        "2026-11-22T10:00:00Z",
        "2026-11-20T10:00:00Z",
    ]
    page = server.request(
        "GET", f"/subscriptions/{sid}/usage", token=token("org:member", org=org), params={"limit": 3}
    ).json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    for bad in ({"from": "later"}, {"from": stamps[2], "to": stamps[1]}, {"limit": 500}, {"service": "BAD!"}):
        assert (
            server.request("GET", f"/subscriptions/{sid}/usage", token=token("finance"), params=bad).status_code == 422
        )
    assert (
        server.request("GET", f"/subscriptions/{sid}/usage", token=token("org:admin", org=new_org())).status_code == 404
    )
    assert server.request("GET", f"/subscriptions/{sid}/usage", token=token("service")).status_code == 403
    assert server.request("GET", f"/subscriptions/{sid}/usage").status_code == 401


def test_the_summary_equals_the_sum_of_the_listed_events_per_service_and_flag(server, token):
    org = new_org()
    subscription = subscribe(server, token, org, plan_id=blocking_plan(server, token, allowance="30"))
    sid = subscription["subscription_id"]
    events = [
        usage_body(
            org,
            service=("analytics" if i % 3 else "instrumentation"),
            quantity=str(1 + i % 4),
            guardrail={"flags": ["drift"] if i % 2 else [], "escalation_codes": ["E7"] if i % 5 == 0 else []},
        )
        for i in range(24)
    ]
    server.request("POST", "/usage/batch", token=token("service"), json={"events": events[:12]})
    for body in events[12:]:
        record(server, token, body)  # some are refused with 402 once the 30 credits run out
    listed = all_usage(server, token, sid)
    summary = server.request("GET", f"/subscriptions/{sid}/usage/summary", token=token("org:member", org=org)).json()
    by_service = defaultdict(
        lambda: {"quantity": Decimal(0), "credits": Decimal(0), "overage_credits": Decimal(0), "events": 0}
    )
    for e in listed:
        totals = by_service[e["service"]]
        for field in ("quantity", "credits", "overage_credits"):
            totals[field] += Decimal(e[field])
        totals["events"] += 1
    assert {
        s: {k: (Decimal(v) if k != "events" else v) for k, v in t.items()} for s, t in summary["services"].items()
    } == dict(by_service)
    assert summary["guardrail_flags"] == dict(Counter(f for e in listed for f in e["guardrail"]["flags"]))
    assert summary["escalation_codes"] == dict(Counter(c for e in listed for c in e["guardrail"]["escalation_codes"]))
    assert (
        Decimal(summary["totals"]["credits"])
        == sum(Decimal(e["credits"]) for e in listed)
        == Decimal(30)
        - Decimal(server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()["credit_balance"])
    )
    assert summary["period_start"] == subscription["current_period_start"]
    health = server.request("GET", f"/subscriptions/{sid}", token=token("finance")).json()["health"]
    assert health["period_usage_credits"] == summary["totals"]["credits"]
    assert (
        server.request(
            "GET",
            f"/subscriptions/{sid}/usage/summary",
            token=token("finance"),
            params={"period_start": "2026-01-01T00:00:00Z"},
        ).status_code
        == 422
    )
    assert (
        server.request(
            "GET", f"/subscriptions/{sid}/usage/summary", token=token("org:admin", org=new_org())
        ).status_code
        == 404
    )
    assert server.request("GET", "/subscriptions/nope/usage/summary", token=token("finance")).status_code == 404


# --- concurrency and the usage bus ------------------------------------------------------------


def test_sixteen_threads_drain_a_blocking_plan_without_losing_or_overdrawing(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org, plan_id=blocking_plan(server, token, allowance="60"))["subscription_id"]
    quantities = [str(1 + i % 3) for i in range(64)]  # 128 credits asked of 60

    def spend(quantity):
        return record(server, token, usage_body(org, quantity=quantity))

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(spend, quantities))
    accepted = [r.json() for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert all(
        (r.status_code, error_of(r)["code"]) in ((402, "insufficient_credits"), (409, "concurrent_update"))
        for r in refused
    ), [r.text for r in refused]
    subscription, entries = assert_ledger_is_honest(server, token, sid)
    final = Decimal(subscription["credit_balance"])
    assert sum(Decimal(a["credits"]) for a in accepted) == Decimal(60) - final
    assert final < 3  # drained until no request could fit
    listed = {e["event_id"] for e in all_usage(server, token, sid)}
    references = {e["reference"] for e in entries}
    assert all(a["event_id"] in listed and f"usage:{a['event_id']}" in references for a in accepted)
    assert len(listed) == len(accepted)


def test_the_same_key_fired_ten_times_at_once_is_charged_once(fresh_server, token):
    server = fresh_server
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    body = usage_body(org, quantity="3")
    barrier = threading.Barrier(10)

    def fire(_):
        barrier.wait()
        return record(server, token, body)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(fire, range(10)))
    codes = Counter(r.status_code for r in responses)
    assert codes[201] == 1 and codes[201] + codes[200] + codes[409] == 10
    assert all(error_of(r)["code"] == "idempotency_in_progress" for r in responses if r.status_code == 409)
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses if r.status_code in (200, 201)}) == 1
    subscription, entries = assert_ledger_is_honest(server, token, sid)
    assert [e["type"] for e in entries] == ["grant", "usage"] and subscription["credit_balance"] == "985"


def test_usage_from_the_bus_is_charged_like_http_and_a_duplicate_delivery_is_not(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    delivery = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "UsageRecorded",
        "source": "marketplace.instrumentation",
        "time": "2026-11-20T10:00:00Z",
        "detail": usage_body(org, quantity="2", guardrail={"flags": ["door_open"]}),
    }
    first = server.request("POST", "/_local/buses/UsageBus/events", json=[delivery, delivery | {"id": "twin"}])
    assert first.status_code == 200 and first.json()["routed"] == 2
    assert first.json()["drained"]["UsageQueue"]["failures"] == 0
    over_http = record(server, token, usage_body(org, quantity="2", guardrail={"flags": ["door_open"]})).json()
    listed = server.request("GET", f"/subscriptions/{sid}/usage", token=token("finance")).json()["items"]
    [charged] = [e for e in listed if e["idempotency_key"] == delivery["detail"]["idempotency_key"]]
    assert (charged["credits"], charged["debited_credits"]) == (over_http["credits"], over_http["debited_credits"])
    _, entries = assert_ledger_is_honest(server, token, sid)
    assert [e["type"] for e in entries] == ["grant", "usage", "usage"]  # the twin delivery charged nothing
    broken = delivery | {"detail": {**delivery["detail"], "service": "telepathy", "idempotency_key": f"x-{org}"}}
    drained = server.request("POST", "/_local/buses/UsageBus/events", json=broken).json()["drained"]["UsageQueue"]
    assert (drained["deliveries"], drained["dead_lettered"]) == (3, 1)  # retried, then kept for replay
    dead = server.request("GET", "/_local/queues/UsageDeadLetterQueue").json()["messages"]
    assert any(f"x-{org}" in message for message in dead)


def test_first_requests_from_sixteen_writers_are_never_answered_as_replays(fresh_server, token):
    server = fresh_server
    org = new_org()
    subscribe(server, token, org)
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda _: record(server, token, usage_body(org, quantity="0.5")), range(192)))
    refused = [r for r in responses if r.status_code != 201]
    assert all(r.status_code == 409 and error_of(r)["code"] == "concurrent_update" for r in refused), [
        r.text for r in refused
    ]
    assert not [r for r in responses if r.headers.get("Idempotent-Replayed")]


def test_totals_past_any_single_amount_stay_readable_draftable_and_closable(fresh_server, token):
    server = fresh_server  # its clock moves a month on
    plan_id = new_plan_id()
    terms = {
        **TERMS,
        "overage_policy": "allow",
        "billing_cadence": "monthly",
        "base_fee_cents": 999_999_999_999,
        "usage_rates": {"instrumentation": {"unit": "run", "credits_per_unit": "1"}},
    }
    assert (
        server.request(
            "POST", "/plans", token=token("marketplace:admin"), json={"plan_id": plan_id, **terms}
        ).status_code
        == 201
    )
    org = new_org()
    subscription = subscribe(server, token, org, plan_id=plan_id)
    sid = subscription["subscription_id"]
    for _ in range(2):
        assert (
            record(server, token, usage_body(org, quantity="600000000000")).status_code == 201
        )  # 1.2 x 10^12 over, together
    finance = token("finance")
    read = server.request("GET", f"/subscriptions/{sid}", token=finance)
    assert read.status_code == 200 and read.json()["health"]["period_usage_credits"] == "1200000000000"
    summary = server.request("GET", f"/subscriptions/{sid}/usage/summary", token=finance)
    assert summary.status_code == 200 and summary.json()["totals"]["overage_credits"] == "1199999995000"
    draft = server.request("POST", f"/subscriptions/{sid}/invoices/draft", token=finance)
    assert draft.status_code == 201 and draft.json()["total_cents"] == 999_999_999_999 + 11_699_999_951_250
    run = invoke_run(server, parse_timestamp(subscription["current_period_end"]) + timedelta(seconds=1))
    assert run["subscriptions_due"] >= 1
    assert (
        server.request("GET", f"/subscriptions/{sid}", token=finance).json()["current_period_start"]
        == subscription["current_period_end"]
    )


def test_a_base_fee_of_a_trillion_cents_is_refused_at_write(server, token):
    response = server.request(
        "POST",
        "/plans",
        token=token("marketplace:admin"),
        json={"plan_id": new_plan_id(), **TERMS, "base_fee_cents": 10**12},
    )
    assert response.status_code == 422 and [f["field"] for f in error_of(response)["details"]["fields"]] == [
        "base_fee_cents"
    ]


def test_a_replay_answers_exactly_the_first_response_whatever_the_metadata_holds(server, token):
    org = new_org()
    subscribe(server, token, org)
    metadata = {"run": "r-1", "wells": 96, "od": "@OD@", "ok": True, "none": None}
    body = json.dumps(usage_body(org, metadata=metadata)).replace('"@OD@"', "0.125")  # a JSON number, not a string
    headers = {"Content-Type": "application/json"}
    first = server.request("POST", "/usage", token=token("service"), data=body, headers=headers)
    again = server.request("POST", "/usage", token=token("service"), data=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200) and again.json() == first.json()
    assert first.json()["metadata"] == {"run": "r-1", "wells": 96, "od": "0.125", "ok": True, "none": None}


def test_usage_too_small_to_price_is_refused_not_free(server, token):
    org = new_org()
    subscribe(server, token, org)
    response = record(server, token, usage_body(org, service="analytics", quantity="0.000001"))  # 0.25 a sample
    assert response.status_code == 422 and [f["field"] for f in error_of(response)["details"]["fields"]] == ["quantity"]
    assert (
        record(server, token, usage_body(org, service="analytics", quantity="0.000004")).json()["credits"] == "0.000001"
    )


def test_a_window_of_from_after_to_names_both_and_messages_show_no_patterns_or_classes(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    window = {"from": "2026-11-25T00:00:00Z", "to": "2026-11-24T00:00:00Z"}
    backwards = server.request("GET", f"/subscriptions/{sid}/usage", token=token("finance"), params=window)
    fields = error_of(backwards)["details"]["fields"]
    assert backwards.status_code == 422 and [(f["field"], f["location"]) for f in fields] == [
        ("from", "query"),
        ("to", "query"),
    ]
    batch = server.request(
        "POST", "/usage/batch", token=token("service"), json={"events": [1, usage_body(org, idempotency_key="a b")]}
    )
    errors = [r["error"] for r in batch.json()["results"]]
    assert [f["message"] for e in errors for f in e["details"]["fields"]] == [
        "must be a JSON object",
        "has characters or a form this field does not accept",
    ]
    assert all("UsageRequest" not in json.dumps(e) and "^[" not in json.dumps(e) for e in errors)


def test_an_all_overage_chunk_shows_its_overage_on_the_ledger_entry(server, token):
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    assert record(server, token, usage_body(org, quantity="200")).status_code == 201  # the allowance, spent
    events = [usage_body(org, quantity="2") for _ in range(3)]  # 30 credits, all of it overage
    assert server.request("POST", "/usage/batch", token=token("service"), json={"events": events}).status_code == 200
    entry = server.request("GET", f"/subscriptions/{sid}/ledger", token=token("finance")).json()["items"][-1]
    assert (entry["type"], entry["amount"], entry["overage_credits"]) == ("usage", "0", "30")


def test_periods_start_on_whole_seconds_and_are_named_in_any_rfc3339_form(server, token):
    org = new_org()
    subscription = subscribe(server, token, org)
    start = parse_timestamp(subscription["current_period_start"])
    assert start.microsecond == 0 and "." not in subscription["current_period_start"]
    sid = subscription["subscription_id"]
    for form in (
        subscription["current_period_start"],
        start.isoformat(),
        start.astimezone(timezone(timedelta(hours=2))).isoformat(),
        subscription["current_period_start"].replace("Z", ".000Z"),
    ):
        summary = server.request(
            "GET", f"/subscriptions/{sid}/usage/summary", token=token("finance"), params={"period_start": form}
        )
        assert summary.status_code == 200 and summary.json()["period_start"] == subscription["current_period_start"], (
            form
        )


def test_every_422_names_its_field_in_details_fields_whatever_its_code(server, token):
    org = new_org()
    subscribe(server, token, org)
    body = usage_body(org)
    assert record(server, token, body).status_code == 201
    reused = record(server, token, body | {"quantity": "2"})
    unknown = record(server, token, usage_body(org, service="telepathy"))
    for response, code, field in (
        (reused, "idempotency_key_reused", "idempotency_key"),
        (unknown, "unknown_service", "service"),
    ):
        assert response.status_code == 422, (code, response.status_code, response.headers, response.text)
        error = error_of(response)
        assert error["code"] == code
        assert [(f["field"], f["location"]) for f in error["details"]["fields"]] == [(field, "body")]
