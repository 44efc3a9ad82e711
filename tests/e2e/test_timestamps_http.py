"""Every timestamp the API answers has at most milliseconds (API.md Conventions), on the real
clock and on the test clock, and what is read back is what was answered: time is kept to the
millisecond where it is made (the clocks, parsed input), not cut at the edge."""

import re
import uuid
from datetime import timedelta

import pytest

from billing.domain.values import parse_timestamp

from .test_subscriptions_http import new_org, subscribe
from .test_usage_http import record, usage_body

LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
AT_MOST_MILLISECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")


def timestamps_in(value, path="") -> dict[str, str]:
    """{where: text} for every string of a JSON answer that is a date-time."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in timestamps_in(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in timestamps_in(item, f"{path}[{i}]").items()}
    return {path: value} if isinstance(value, str) and LOOKS_LIKE_TIME.match(value) else {}


def with_microseconds(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".123456Z"


def exercise(server, token) -> dict[str, dict]:
    """The answers of the writes that stamp time, and of the reads that show it again."""
    admin, finance, service = token("marketplace:admin"), token("finance"), token("service")
    org = new_org()
    subscription = subscribe(server, token, org)
    sid = subscription["subscription_id"]
    now = parse_timestamp(server.request("GET", "/_local/clock").json()["now"])
    late = record(server, token, usage_body(org, occurred_at=with_microseconds(now - timedelta(minutes=1))))
    prompt = record(server, token, usage_body(org))
    grant = server.request(
        "POST",
        f"/subscriptions/{sid}/grants",
        token=admin,
        json={"amount": "5", "kind": "promotional", "reason": "promo", "idempotency_key": uuid.uuid4().hex},
    )
    hold = server.request(
        "POST",
        "/holds",
        token=service,
        json={"organization_id": org, "service": "instrumentation", "quantity": "1", "idempotency_key": "h1"},
    )
    draft = server.request("POST", f"/subscriptions/{sid}/invoices/draft", token=finance)
    answers = {"subscription": subscription, "late usage": late.json(), "usage": prompt.json()}
    answers |= {"grant": grant.json(), "hold": hold.json(), "draft": draft.json()}
    for name in ("ledger", "usage", "grants", "holds", "invoices"):
        answers[f"listed {name}"] = server.request("GET", f"/subscriptions/{sid}/{name}", token=finance).json()
    answers["read subscription"] = server.request("GET", f"/subscriptions/{sid}", token=finance).json()
    return answers


@pytest.mark.parametrize("clock", ["real", "test"])
def test_every_answered_timestamp_has_at_most_milliseconds_and_reads_back_the_same(fresh_server, token, clock):
    server = fresh_server
    if clock == "real":
        assert server.request("DELETE", "/_local/clock").status_code == 200
    else:
        later = parse_timestamp(server.request("GET", "/_local/clock").json()["now"]) + timedelta(hours=1)
        frozen = server.request("POST", "/_local/clock", json={"now": with_microseconds(later)})
        assert frozen.status_code == 200 and frozen.json()["now"].endswith(".123Z"), frozen.text
    answers = exercise(server, token)

    found = {
        f"{name}{where}": text for name, answer in answers.items() for where, text in timestamps_in(answer).items()
    }
    assert len(found) > 20, found  # created_at, occurred_at, recorded_at, ledger entries, periods, ...
    assert {where: text for where, text in found.items() if not AT_MOST_MILLISECONDS.match(text)} == {}
    assert answers["late usage"]["occurred_at"].endswith(".123Z")

    listed_usage = {e["event_id"]: e for e in answers["listed usage"]["items"]}
    for written in (answers["late usage"], answers["usage"]):  # stored and answered times agree
        assert {k: listed_usage[written["event_id"]][k] for k in ("occurred_at", "recorded_at")} == {
            k: written[k] for k in ("occurred_at", "recorded_at")
        }
    assert answers["listed holds"]["items"][0]["created_at"] == answers["hold"]["created_at"]
    listed_grants = {g["grant_id"]: g["created_at"] for g in answers["listed grants"]["items"]}
    assert listed_grants[answers["grant"]["grant_id"]] == answers["grant"]["created_at"]
    assert answers["read subscription"]["created_at"] == answers["subscription"]["created_at"]
