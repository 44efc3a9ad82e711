"""`make bench`, compliance analytics (DESIGN.md, performance targets; invariant 15):

  analytics write units   POST /usage and a full batch with the fold in place: what the usage
                          transaction writes (the fold reads the usage table's stream, so it adds
                          nothing to it), against the budget (+1.0 single, +0.1 per batched event)
  analytics lag           a recorded event in the report within 60 s, during a burst of 10,000
                          events through the usage bus (the local stack's stream relay and
                          GuardrailRollupsFunction, as deployed)
  analytics 90-day report over 1,000 organizations: rollup items read per (organization, day,
                          service) with usage (<= 1), Scan calls (0)

Called from bench/benchmark.py (`analytics` in BENCH_ONLY)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from datetime import timedelta

from benchmark import ADMIN, SERVICE, api_event, line

BURST_EVENTS = int(os.environ.get("BENCH_ANALYTICS_BURST", "10000"))
BURST_ORGS = int(os.environ.get("BENCH_ANALYTICS_BURST_ORGS", "5"))  # few hot producers, as the bus is for
REPORT_ORGS = int(os.environ.get("BENCH_ANALYTICS_ORGS", "1000"))
REPORT_DAYS = 90
USAGE_DAY_EVERY = int(os.environ.get("BENCH_ANALYTICS_DAY_EVERY", "3"))  # an org has usage one day in 3
BASELINE_SINGLE, BASELINE_BATCH = 8.00, 2.12  # write units per event before analytics (README)
FINANCE = {"principalId": "fin", "sub": "fin", "roles": '["finance"]', "org": "", "residency": "us"}


def run(stack) -> None:
    write_units(stack)
    lag(stack)
    report_reads(stack)


def _subscribe(stack, org: str) -> None:
    body = json.loads(api_event("subscriptions/provision.json")["body"])
    provisioned = stack.functions["SubscriptionsFunction"].invoke(
        api_event("subscriptions/provision.json", authorizer=ADMIN, body=body, path_parameters={"organization_id": org})
    )
    assert provisioned["statusCode"] == 201, provisioned


def _usage(org: str, n: int) -> dict:
    flagged = n % 4 == 0
    return {
        "organization_id": org,
        "service": "analytics",
        "quantity": "1",
        "idempotency_key": f"bench-{uuid.uuid4().hex}",
        "guardrail": {"flags": ["door_open"] if flagged else [], "escalation_codes": ["ESC-1"] if n % 10 == 0 else []},
    }


def write_units(stack) -> None:
    org = f"org-awu-{uuid.uuid4().hex[:6]}"
    _subscribe(stack, org)
    recording = stack.functions["UsageRecordingFunction"]

    def batch(events: list[dict]) -> list[dict]:
        answer = recording.invoke(
            api_event("usage_recording/record_usage_batch.json", authorizer=SERVICE, body={"events": events})
        )
        return json.loads(answer["body"])["results"]

    [single] = batch([_usage(org, 1)])
    full = batch([_usage(org, n) for n in range(100)])
    single_units = single["write_units"]["table"]  # as README's rows: the listing index apart
    batch_units = sum(r["write_units"]["table"] for r in full) / len(full)
    growth_single, growth_batch = single_units - BASELINE_SINGLE - 1, batch_units - BASELINE_BATCH - 0.1
    ok = single_units <= BASELINE_SINGLE + 1.0 and batch_units <= BASELINE_BATCH + 0.1
    line(
        "analytics: usage write units",
        single_units / BASELINE_SINGLE,
        "<= +1/+.1",
        ok,
        f"single {single_units:.2f} (was {BASELINE_SINGLE:.2f}), full batch {batch_units:.2f}/event "
        f"(was {BASELINE_BATCH:.2f}); the fold reads the usage stream, writing nothing in the usage "
        f"transaction (headroom {-growth_single:.2f} / {-growth_batch:.2f})",
    )


def _report(stack, **params) -> tuple[dict, int]:
    event = api_event("guardrail_analytics/guardrail_report.json", authorizer=FINANCE)
    event["queryStringParameters"] = params
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
    answer = stack.functions["GuardrailAnalyticsFunction"].invoke(event)
    assert answer["statusCode"] == 200, answer
    return json.loads(answer["body"]), answer["statusCode"]


def _stream_relays(stack) -> list:
    return [relay for relay in stack.relays if relay.source.function_id == "GuardrailRollupsFunction"]


def _fold_everything(stack) -> None:
    for relay in _stream_relays(stack):
        relay.written()
        relay.deliver()


def _relaying(stack) -> threading.Event:
    """The usage stream's relay, polling as the local server runs it (every half second)."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.5):
            _fold_everything(stack)

    threading.Thread(target=poll, daemon=True).start()
    return stop


def lag(stack) -> None:
    """The burst goes onto the usage bus and through the usage queue while the relay folds; the
    lag is from the moment the last event was committed until the report counts every event."""
    from billing import deployment

    orgs = [f"org-lag-{uuid.uuid4().hex[:6]}-{n}" for n in range(BURST_ORGS)]
    for org in orgs:
        _subscribe(stack, org)
    today = deployment.clock().now().date().isoformat()
    _fold_everything(stack)  # what earlier lines recorded, so the burst is counted alone
    before = sum(i["events"] for i in _report(stack, **{"from": today, "to": today, "limit": "200"})[0]["items"])
    stop = _relaying(stack)
    started = time.monotonic()
    try:
        for first in range(0, BURST_EVENTS, 500):
            events = [
                {"detail-type": "UsageRecorded", "source": "bench", "detail": _usage(orgs[n % len(orgs)], n)}
                for n in range(first, min(first + 500, BURST_EVENTS))
            ]
            stack.queues.put_events("UsageBus", events)
            drained = stack.queues.drain("UsageQueue")["UsageQueue"]
            assert drained["failures"] == 0, drained
            print(f"  ... {first + len(events)} events through the bus", file=sys.stderr, flush=True)
        committed = time.monotonic()
        while True:
            report, _ = _report(stack, **{"from": today, "to": today, "limit": "200"})
            counted = sum(i["events"] for i in report["items"]) - before
            if counted >= BURST_EVENTS or time.monotonic() - committed > 300:
                break
            time.sleep(0.2)
        seconds = time.monotonic() - committed
    finally:
        stop.set()
    line(
        "analytics lag vs its 60 s budget",
        seconds / 60,
        "<= 1",
        seconds <= 60 and counted == BURST_EVENTS,
        f"{counted} of {BURST_EVENTS} events counted {seconds:.1f} s after the last commit "
        f"(burst {committed - started:.0f} s through the usage bus, {len(orgs)} organizations; "
        f"as_of {report['as_of']})",
    )


def report_reads(stack) -> None:
    """1,000 organizations of residency us with usage on one day in three of 90 (rollups written
    directly, in the fold's layout); the report pages through them by day, counting reads."""
    from billing import deployment
    from billing.domain.guardrail_analytics import RollupKey
    from billing.store.dynamodb_guardrails import rollup_key

    rollups = deployment.guardrail_rollups()
    client = deployment.dynamodb()
    calls: dict[str, int] = {}
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.__setitem__(model.name, calls.get(model.name, 0) + 1)
    )
    residency = "us"
    last = deployment.clock().now().date() - timedelta(days=400)  # days of their own, apart from other lines
    days = [last - timedelta(days=n) for n in range(REPORT_DAYS)]
    orgs = [f"org-r-{n:04d}" for n in range(REPORT_ORGS)]
    seeded = 0
    items = []
    for o, org in enumerate(orgs):
        for d, day in enumerate(days):
            if (o + d) % USAGE_DAY_EVERY:
                continue
            key = RollupKey(residency, day, org, "analytics")
            items.append(
                {
                    **rollup_key(key),
                    "organization_id": {"S": org},
                    "service": {"S": "analytics"},
                    "day": {"S": day.isoformat()},
                    "events": {"N": "3"},
                    "flagged_events": {"N": "1"},
                    "credits": {"N": "3"},
                    "flagged_credits": {"N": "1"},
                    "flag:door_open": {"N": "1"},
                }
            )
            seeded += 1
    table = deployment.settings().guardrail_rollups_table
    for first in range(0, len(items), 25):
        pending = {table: [{"PutRequest": {"Item": item}} for item in items[first : first + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    calls.clear()
    rollups.items_read = rollups.queries = 0
    window = {"from": days[-1].isoformat(), "to": days[0].isoformat(), "limit": "50", "residency": residency}
    started, groups, cursor = time.perf_counter(), [], None
    while True:
        page, _ = _report(stack, **window, **({"cursor": cursor} if cursor else {}))
        groups += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    seconds = time.perf_counter() - started
    events = sum(g["events"] for g in groups)
    assert len(groups) == REPORT_DAYS and events == 3 * seeded, (len(groups), events, seeded)
    ratio = rollups.items_read / seeded
    line(
        "analytics 90-day report reads/group",
        ratio,
        "<= 1",
        ratio <= 1 and not calls.get("Scan"),
        f"{rollups.items_read} rollups read for {seeded} (org, day, service) with usage, {REPORT_ORGS} orgs; "
        f"{rollups.queries} queries, {calls.get('Scan', 0)} scans; {len(groups)} days in "
        f"{-(-len(groups) // 50)} pages, {seconds:.1f} s on moto",
    )
