"""The invoicing run at scale, on moto: the due index instead of a scan, and the fan-out to the
period-closing workers through the template's queue (partial failures, retries, dead letters)."""

from collections import Counter
from datetime import timedelta

from billing import deployment
from billing.domain.values import parse_timestamp
from billing.services import period_closing
from billing.store.due_index import SHARDS
from tests.seed import seed_subscriptions

from .conftest import claims
from .test_invoicing import CLOSING_DLQ, CLOSING_QUEUE, run

ADMIN = claims("marketplace:admin")


def provision(functions, organization_id: str) -> dict:
    status, _, subscription = functions.http(
        "SubscriptionsFunction",
        "subscriptions/provision.json",
        path_parameters={"organization_id": organization_id},
        authorizer=ADMIN,
    )
    assert status == 201, subscription
    return subscription


def ledger_types(subscription_id: str) -> list[str]:
    page = deployment.billing().subscriptions.ledger_page(subscription_id, limit=50, cursor=None)
    return [entry.type for entry in page.items]


def stored_item(subscription_id: str) -> dict:
    key = {"pk": {"S": f"SUB#{subscription_id}"}, "sk": {"S": "SUBSCRIPTION"}}
    return deployment.dynamodb().get_item(TableName=deployment.settings().subscriptions_table, Key=key)["Item"]


class DynamoCalls:
    """Every DynamoDB call the functions make: its operation and, for queries, the items it read."""

    def __init__(self):
        self.operations: Counter = Counter()
        self.items_queried = 0
        events = deployment.dynamodb().meta.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    def _before(self, model, **_):
        self.operations[model.name] += 1

    def _after(self, model, parsed, **_):
        if model.name == "Query":
            self.items_queried += parsed.get("Count", 0)


def test_the_run_never_scans_and_reads_only_the_subscriptions_that_are_due(functions):
    functions.http("PlanCatalogFunction", "plan_catalog/list_plans.json")
    functions.clock.freeze(functions.clock.now() + timedelta(seconds=1))  # the three start in the same second
    due = [provision(functions, f"org-early-{i}") for i in range(3)]
    functions.clock.advance(10 * 86400)  # these fall due ten days later
    for i in range(12):
        provision(functions, f"org-late-{i}")
    functions.clock.freeze(parse_timestamp(due[0]["current_period_end"]))
    calls = DynamoCalls()
    result = functions("InvoicingRunFunction").invoke({"scheduled_time": due[0]["current_period_end"]})
    assert result["subscriptions_due"] == 3
    assert calls.operations["Scan"] == 0 and set(calls.operations) == {"Query"}
    assert calls.operations["Query"] == SHARDS * len(deployment.settings().residencies)  # one a shard
    assert calls.items_queried == 3  # the 12 not due are never read
    assert sorted(m.split('"')[3] for m in functions.queues.messages(CLOSING_QUEUE)) == sorted(
        s["subscription_id"] for s in due
    )


def test_the_due_attributes_follow_every_write_of_the_subscription(functions):
    functions.http("PlanCatalogFunction", "plan_catalog/list_plans.json")
    subscription = provision(functions, "org-helix")
    sid = subscription["subscription_id"]
    assert stored_item(sid)["due_order"]["S"].startswith(subscription["current_period_end"][:19])
    period_end = parse_timestamp(subscription["current_period_end"])
    run(functions, period_end + timedelta(minutes=1))  # closed: due at the next period's end
    rolled = deployment.billing().subscriptions.get(sid)
    assert stored_item(sid)["due_order"]["S"].startswith(rolled.current_period_end.strftime("%Y-%m-%dT%H:%M:%S"))
    functions.clock.advance(3600)
    functions.http("SubscriptionsFunction", "subscriptions/cancel.json", path_parameters={"subscription_id": sid})
    canceled = deployment.billing().subscriptions.get(sid)
    assert stored_item(sid)["due_order"]["S"].startswith(canceled.canceled_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert run(functions, canceled.canceled_at + timedelta(minutes=1))["subscriptions_due"] == 1  # its final close
    assert "due_shard" not in stored_item(sid) and "due_order" not in stored_item(sid)  # it left the index


def test_60_due_subscriptions_fan_out_and_a_failing_one_is_retried_alone_then_dead_lettered(functions, monkeypatch):
    functions.http("PlanCatalogFunction", "plan_catalog/list_plans.json")
    # 60: six batches of the worker's 10. (Each transaction on moto copies the tables it touches,
    # so a close costs time in proportion to the table: 300 took minutes.)
    subscriptions = [s.model_dump(mode="json") for s in seed_subscriptions([f"org-{i:03d}" for i in range(60)])]
    flaky, broken = subscriptions[17]["subscription_id"], subscriptions[41]["subscription_id"]
    attempts: Counter = Counter()
    close = period_closing.close_due_periods

    def failing(billing, subscription, **kwargs):
        attempts[subscription.subscription_id] += 1
        if subscription.subscription_id == broken or (subscription.subscription_id == flaky and attempts[flaky] == 1):
            raise ConnectionError("DynamoDB went away")
        return close(billing, subscription, **kwargs)

    monkeypatch.setattr(period_closing, "close_due_periods", failing)
    moment = parse_timestamp(subscriptions[0]["current_period_end"]) + timedelta(minutes=15)
    report = run(functions, moment)
    assert report["subscriptions_due"] == len(subscriptions)
    # One first delivery each; the flaky one once more; the broken one until maxReceiveCount (5).
    assert (report["deliveries"], report["failures"], report["dead_lettered"]) == (len(subscriptions) + 1 + 4, 1 + 5, 1)
    assert attempts[flaky] == 2 and attempts[broken] == 5
    [dead] = functions.queues.messages(CLOSING_DLQ)
    assert broken in dead
    closed_once = ["grant", "expiry", "grant"]
    assert all(
        ledger_types(s["subscription_id"]) == closed_once for s in subscriptions if s["subscription_id"] != broken
    )
    assert ledger_types(broken) == ["grant"]

    # The run again, at the same moment: only the broken one is still due; the others are untouched.
    monkeypatch.setattr(period_closing, "close_due_periods", close)
    again = run(functions, moment)
    assert (again["subscriptions_due"], again["failures"]) == (1, 0) and ledger_types(broken) == closed_once
    # Replaying the dead letter (as the runbook says) after it was closed: nothing changes.
    functions.queues.send(CLOSING_QUEUE, dead)
    assert functions.queues.drain(CLOSING_QUEUE)[CLOSING_QUEUE]["failures"] == 0
    assert all(ledger_types(s["subscription_id"]) == closed_once for s in subscriptions)
