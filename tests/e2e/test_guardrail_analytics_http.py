"""Compliance analytics over HTTP (API.md, "Compliance analytics"; DESIGN invariant 15): usage
recorded through the API reaches GET /analytics/guardrails through the usage table's stream (the
local stack relays it as Lambda would), grouped and counted; organizations see only their own;
a void (a synthetic stream record, until POST /usage/{id}/void exists) takes the event out."""

import csv
import io
import time
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.usage import UsageEvent
from billing.domain.values import parse_timestamp
from billing.store.dynamodb import to_attributes
from billing.store.dynamodb_usage import _event_item

from .test_subscriptions_http import new_org, subscribe

RATES = {"instrumentation": Decimal("5"), "planner": Decimal("2"), "analytics": Decimal("0.25")}
PATH = "/analytics/guardrails"


def now(server):
    return parse_timestamp(server.request("GET", "/_local/clock").json()["now"])


def record(server, token, org, service, *, quantity="1", occurred_at, flags=(), codes=()):
    body = {
        "organization_id": org,
        "service": service,
        "quantity": quantity,
        "idempotency_key": uuid.uuid4().hex,
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "guardrail": {"flags": list(flags), "escalation_codes": list(codes)},
    }
    response = server.request("POST", "/usage", token=token("service"), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def report(server, who, **params):
    response = server.request("GET", PATH, token=who, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def report_when(server, who, done, **params):
    """The report once `done(report)` holds: the fold runs behind the stream, within 60 s."""
    deadline = time.monotonic() + 60
    while True:
        answer = report(server, who, **params)
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.25)


def all_groups(server, who, **params):
    items, cursor = [], None
    while True:
        page = report(server, who, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


@pytest.fixture
def two_orgs(server, token):
    """Two organizations of residency us with flagged and clean usage over three days."""
    today = now(server).replace(microsecond=0) - timedelta(minutes=1)  # never ahead of the stack's clock
    days = [today - timedelta(days=2), today - timedelta(days=1), today]
    orgs = [new_org(), new_org()]
    recorded = []
    for org in orgs:
        subscribe(server, token, org)
        for n, day in enumerate(days):
            recorded.append(record(server, token, org, "instrumentation", occurred_at=day, flags=["door_open"]))
            recorded.append(record(server, token, org, "planner", quantity="2", occurred_at=day, codes=["ESC-1"]))
            recorded.append(record(server, token, org, "analytics", quantity="4", occurred_at=day))
            if n == 2:
                recorded.append(
                    record(server, token, org, "instrumentation", occurred_at=day, flags=["door_open", "temp_drift"])
                )
    return {"orgs": orgs, "days": [d.date().isoformat() for d in days], "events": recorded}


def expected(events, key):
    """What the recorded events say, grouped by `key(event)`: the invariant the report must hold."""
    groups = {}
    for event in events:
        group = groups.setdefault(key(event), {"events": 0, "flagged": 0, "flags": Counter(), "codes": Counter()})
        flagged = bool(event["guardrail"]["flags"] or event["guardrail"]["escalation_codes"])
        group["events"] += 1
        group["flagged"] += flagged
        group["flags"].update(event["guardrail"]["flags"])
        group["codes"].update(event["guardrail"]["escalation_codes"])
        group.setdefault("credits", Decimal(0))
        group.setdefault("flagged_credits", Decimal(0))
        group["credits"] += Decimal(event["credits"])
        group["flagged_credits"] += Decimal(event["credits"]) if flagged else 0
    return groups


def assert_matches(item, group):
    assert item["events"] == group["events"]
    assert item["flagged_events"] == group["flagged"]
    assert Decimal(item["flag_rate"]) == (Decimal(group["flagged"]) / group["events"]).quantize(Decimal("0.000001"))
    assert item["flags"] == dict(group["flags"])
    assert item["escalation_codes"] == dict(group["codes"])
    assert Decimal(item["credits"]) == group["credits"]
    assert Decimal(item["flagged_credits"]) == group["flagged_credits"]


def test_an_organization_sees_its_own_usage_per_day_and_service_as_the_events_say(server, token, two_orgs):
    org = two_orgs["orgs"][0]
    mine = [e for e in two_orgs["events"] if e["organization_id"] == org]
    reader = token("org:member", org=org)
    window = {"from": two_orgs["days"][0], "to": two_orgs["days"][-1]}
    answer = report_when(
        server, reader, lambda r: sum(i["events"] for i in r["items"]) == len(mine), **window, group_by="day,service"
    )
    groups = expected(mine, lambda e: (e["occurred_at"][:10], e["service"]))
    assert [(i["day"], i["service"]) for i in answer["items"]] == sorted(groups)  # key order
    for item in answer["items"]:
        assert set(item) - {"day", "service"} == {
            "events",
            "flagged_events",
            "flag_rate",
            "flags",
            "escalation_codes",
            "credits",
            "flagged_credits",
        }
        assert_matches(item, groups[(item["day"], item["service"])])
    assert parse_timestamp(answer["as_of"]) >= max(parse_timestamp(e["recorded_at"]) for e in mine)


def test_finance_reads_every_organization_of_its_residency_grouped_by_organization_and_filtered(
    server, token, two_orgs
):
    finance = token("finance", residency="us")
    window = {"from": two_orgs["days"][0], "to": two_orgs["days"][-1]}
    ours = [e for e in two_orgs["events"]]
    report_when(
        server,
        finance,
        lambda r: sum(i["events"] for i in r["items"] if i["organization_id"] in two_orgs["orgs"]) == len(ours),
        **window,
        group_by="organization",
        limit=200,
    )
    items = {i["organization_id"]: i for i in all_groups(server, finance, **window, group_by="organization", limit=1)}
    groups = expected(ours, lambda e: e["organization_id"])
    for org in two_orgs["orgs"]:
        assert_matches(items[org], groups[org])
    only = report(server, finance, **window, group_by="service", organization_id=two_orgs["orgs"][1], service="planner")
    [planner] = only["items"]
    assert planner["service"] == "planner"
    theirs = [e for e in ours if e["organization_id"] == two_orgs["orgs"][1] and e["service"] == "planner"]
    assert_matches(planner, expected(theirs, lambda e: "all")["all"])
    drift = report(server, finance, **window, group_by="day", organization_id=two_orgs["orgs"][0], flag="temp_drift")
    assert [i["day"] for i in drift["items"]] == [two_orgs["days"][-1]]  # only the day the flag was raised


def test_weeks_and_months_bucket_days_and_pages_follow_in_key_order(server, token, two_orgs):
    org = two_orgs["orgs"][0]
    admin = token("marketplace:admin", residency="us")
    window = {"from": two_orgs["days"][0], "to": two_orgs["days"][-1], "organization_id": org}
    total = len([e for e in two_orgs["events"] if e["organization_id"] == org])
    report_when(server, admin, lambda r: sum(i["events"] for i in r["items"]) == total, **window)
    by_day = all_groups(server, admin, **window, group_by="day,service", limit=2)
    assert len(by_day) == 9 and [(i["day"], i["service"]) for i in by_day] == sorted(
        (i["day"], i["service"]) for i in by_day
    )
    weeks = all_groups(server, admin, **window, group_by="week")
    assert sum(i["events"] for i in weeks) == total
    assert all(i["week"][4:6] == "-W" for i in weeks)
    [month_first, *_] = all_groups(server, admin, **window, group_by="month,organization")
    assert month_first["organization_id"] == org and len(month_first["month"]) == 7


def test_an_organization_asking_for_another_gets_the_404_of_an_unknown_one(server, token, two_orgs):
    mine, theirs = two_orgs["orgs"]
    reader = token("org:admin", org=mine)
    other = server.request("GET", PATH, token=reader, params={"organization_id": theirs})
    unknown = server.request("GET", PATH, token=reader, params={"organization_id": "org-nobody-" + uuid.uuid4().hex})
    assert other.status_code == unknown.status_code == 404
    assert other.json() == unknown.json()
    assert other.json()["error"]["code"] == "not_found"


def test_staff_of_another_residency_see_none_of_it_and_an_unserved_residency_is_refused(server, token, two_orgs):
    window = {"from": two_orgs["days"][0], "to": two_orgs["days"][-1]}
    eu = report(server, token("finance", residency="eu"), **window, group_by="organization", limit=200)
    assert not {i["organization_id"] for i in eu["items"]} & set(two_orgs["orgs"])
    refused = server.request("GET", PATH, token=token("finance", residency="us"), params={"residency": "mars"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "residency_not_served"


def test_windows_beyond_366_days_and_bad_groupings_are_refused_naming_the_fields(server, token):
    finance = token("finance")
    too_long = server.request("GET", PATH, token=finance, params={"from": "2025-01-01", "to": "2026-01-03"})
    assert too_long.status_code == 422
    assert {f["field"] for f in too_long.json()["error"]["details"]["fields"]} == {"from", "to"}
    longest = server.request("GET", PATH, token=finance, params={"from": "2025-01-01", "to": "2026-01-02"})
    assert longest.status_code == 200
    for params, field in [
        ({"group_by": "day,hour"}, "group_by"),
        ({"group_by": "day,day"}, "group_by"),
        ({"from": "2026-11-24T00:00:00Z"}, "from"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"limit": "201"}, "limit"),
    ]:
        answer = server.request("GET", PATH, token=finance, params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert [f["field"] for f in answer.json()["error"]["details"]["fields"]] == [field]
    assert server.request("GET", PATH, token=token("service")).status_code == 403


def test_a_void_takes_the_event_out_exactly_once(server, token):
    """POST /usage/{id}/void marks the row voided; the stream's MODIFY takes it out of the rollup once,
    however often it is delivered (the relay may deliver it twice)."""
    org = new_org()
    subscribe(server, token, org)
    at = now(server)
    kept = record(server, token, org, "instrumentation", occurred_at=at, flags=["door_open"])
    voided = record(server, token, org, "instrumentation", quantity="3", occurred_at=at, codes=["ESC-9"])
    reader = token("org:member", org=org)
    day = at.date().isoformat()
    before = report_when(
        server, reader, lambda r: r["items"] and r["items"][0]["events"] == 2, **{"from": day, "to": day}
    )
    assert before["items"][0]["escalation_codes"] == {"ESC-9": 1}
    body = {"reason": "test against production", "idempotency_key": uuid.uuid4().hex}
    answer = server.request("POST", f"/usage/{voided['event_id']}/void", token=token("service"), json=body)
    assert answer.status_code == 200, answer.text
    image = to_attributes(_event_item(UsageEvent.model_validate(answer.json())))
    stream_record = {
        "eventName": "MODIFY",
        "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image, "SequenceNumber": "1"},
    }
    after = report_when(
        server, reader, lambda r: r["items"] and r["items"][0]["events"] == 1, **{"from": day, "to": day}
    )
    invoked = server.request("POST", "/_local/invoke/GuardrailRollupsFunction", json={"Records": [stream_record]})
    assert invoked.status_code == 200, invoked.text  # delivered again: folded once by event id
    [after] = report(server, reader, **{"from": day, "to": day})["items"]
    assert_matches(after, expected([kept], lambda e: "all")["all"])
    assert after["escalation_codes"] == {}


def test_the_csv_export_has_the_rows_of_the_report(server, token):
    """(Cells a spreadsheet would run are neutralised: tests/unit/test_guardrail_analytics.py.)"""
    org = new_org()
    subscribe(server, token, org)
    at = now(server)
    record(server, token, org, "planner", occurred_at=at, flags=["door_open"], codes=["ESC-1"])
    reader = token("org:admin", org=org)
    day = at.date().isoformat()
    report_when(server, reader, lambda r: bool(r["items"]), **{"from": day, "to": day})
    response = server.request(
        "GET",
        PATH + "/export",
        token=reader,
        params={"format": "csv", "from": day, "to": day, "group_by": "day,organization"},
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows == [
        {
            "day": day,
            "organization_id": org,
            "events": "1",
            "flagged_events": "1",
            "flag_rate": "1",
            "credits": "2",
            "flagged_credits": "2",
            "flags": "door_open=1",
            "escalation_codes": "ESC-1=1",
        }
    ]


def test_days_beyond_the_years_the_api_takes_are_refused_not_a_server_error(server, token):
    for window in ({"from": "9999-12-31", "to": "9999-12-31"}, {"from": "0001-01-01", "to": "0001-01-02"}):
        for path in ("/analytics/guardrails", "/analytics/guardrails/export"):
            answer = server.request("GET", path, token=token("finance"), params=window)
            assert answer.status_code == 422, (path, window, answer.text)
            assert answer.json()["error"]["details"]["fields"][0]["field"] in ("from", "to")
