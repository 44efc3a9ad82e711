"""Invoices and the scheduled invoicing run on moto, as the template configures the functions."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from msgspec.structs import replace

from billing import deployment
from billing.domain.values import format_timestamp, parse_timestamp
from billing.services import invoicing_run

from .conftest import claims, sample_event, with_path

FINANCE = claims("finance")
CLOSING_QUEUE, CLOSING_DLQ = "PeriodClosingQueue", "PeriodClosingDeadLetterQueue"


def subscribe(functions) -> dict:
    functions.http("PlanCatalogFunction", "plan_catalog/list_plans.json")
    status, _, subscription = functions.http("SubscriptionsFunction", "subscriptions/provision.json")
    assert status == 201
    return subscription


def use(functions, key: str, quantity: str, service: str = "instrumentation") -> dict:
    body = {"organization_id": "org-helix", "service": service, "quantity": quantity, "idempotency_key": key}
    status, _, event = functions.http("UsageRecordingFunction", "usage_recording/record_usage.json", body=body)
    assert status == 201, event
    return event


def ledger_types(functions, subscription_id: str) -> list[str]:
    _, _, page = functions.http(
        "CreditsFunction", "credits/read_ledger.json", path_parameters={"subscription_id": subscription_id}
    )
    return [e["type"] for e in page["items"]]


def run(functions, moment: datetime, *, classic: bool = False) -> dict:
    """The schedule fires at `moment` (the test clock moves there first, as time would), then the
    workers work off what it queued. The run's result and what the queue delivered."""
    if moment > functions.clock.now():
        functions.clock.freeze(moment)
    event = sample_event(
        "invoicing_run/eventbridge_scheduled.json" if classic else "invoicing_run/scheduler_invocation.json"
    )
    event["time" if classic else "scheduled_time"] = format_timestamp(moment)
    result = functions("InvoicingRunFunction").invoke(event)
    return result | functions.queues.drain(CLOSING_QUEUE)[CLOSING_QUEUE]


def test_the_sample_events_draft_issue_export_and_void(functions):
    subscription = subscribe(functions)
    sid = {"subscription_id": subscription["subscription_id"]}
    use(functions, "u1", "201")  # 1005 credits: 5 over the allowance at 12.5 cents
    status, _, draft = functions.http("InvoicesFunction", "invoices/draft_invoice.json", path_parameters=sid)
    assert (
        status == 201
        and [line["amount_cents"] for line in draft["line_items"]] == [49_900, 62]
        and draft["total_cents"] == 49_962
    )
    ids = sid | {"invoice_id": draft["invoice_id"]}
    status, _, refused = functions.http("InvoicesFunction", "invoices/issue_invoice.json", path_parameters=ids)
    assert status == 409 and refused["error"]["code"] == "period_open"  # usage may still come
    functions.http("SubscriptionsFunction", "subscriptions/cancel.json", path_parameters=sid)  # the period ends now
    status, _, issued = functions.http("InvoicesFunction", "invoices/issue_invoice.json", path_parameters=ids)
    assert status == 200 and issued["status"] == "issued" and issued["number"].startswith("INV-")
    assert issued["total_cents"] == 49_962  # the allowance was used up: the whole base fee, canceled or not
    exported = functions("DocumentExportFunction").invoke(
        with_path(sample_event("document_export/export_invoice.json"), ids)
    )
    assert exported["statusCode"] == 200 and exported["body"].startswith("invoice_id,invoice_number,")
    status, _, voided = functions.http("InvoicesFunction", "invoices/void_invoice.json", path_parameters=ids)
    assert status == 200 and voided["status"] == "void" and voided["number"] == issued["number"]
    status, _, listed = functions.http("InvoicesFunction", "invoices/list_invoices.json", path_parameters=sid)
    assert [i["invoice_id"] for i in listed["items"]] == [draft["invoice_id"]]


def test_a_scheduled_run_past_the_period_end_drafts_expires_grants_and_moves_on(functions):
    subscription = subscribe(functions)
    sid = subscription["subscription_id"]
    use(functions, "u1", "30")  # 150 of the 1000 allowance credits
    functions.http(
        "CreditsFunction", "credits/adjust_credits.json", path_parameters={"subscription_id": sid}
    )  # 250 purchased
    period_end = parse_timestamp(subscription["current_period_end"])
    report = run(functions, period_end + timedelta(minutes=15))
    assert (report["subscriptions_due"], report["deliveries"], report["failures"]) == (1, 1, 0)
    assert ledger_types(functions, sid) == ["grant", "usage", "top_up", "expiry", "grant"]
    _, _, after = functions.http(
        "SubscriptionsFunction", "subscriptions/get_subscription.json", path_parameters={"subscription_id": sid}
    )
    assert (
        after["credit_balance"] == "1250"
        and after["allowance_balance"] == "1000"
        and after["purchased_balance"] == "250"
    )
    assert after["current_period_start"] == subscription["current_period_end"]
    _, _, listed = functions.http(
        "InvoicesFunction", "invoices/list_invoices.json", path_parameters={"subscription_id": sid}
    )
    assert [(i["period_start"], i["status"]) for i in listed["items"]] == [
        (subscription["current_period_start"], "draft")
    ]

    again = run(
        functions, period_end + timedelta(minutes=15), classic=True
    )  # the same moment, delivered again (EventBridge shape)
    assert again["subscriptions_due"] == 0 and ledger_types(functions, sid) == [
        "grant",
        "usage",
        "top_up",
        "expiry",
        "grant",
    ]


def test_a_late_run_closes_every_period_it_missed(functions):
    subscription = subscribe(functions)
    report = run(functions, parse_timestamp(subscription["current_period_end"]) + timedelta(days=62))
    assert report["subscriptions_due"] == 1  # one message closes the three periods it missed
    _, _, listed = functions.http(
        "InvoicesFunction",
        "invoices/list_invoices.json",
        path_parameters={"subscription_id": subscription["subscription_id"]},
    )
    assert len(listed["items"]) == 3 and listed["items"] == sorted(
        listed["items"], key=lambda i: i["period_start"], reverse=True
    )
    assert Counter(ledger_types(functions, subscription["subscription_id"])) == {"grant": 4, "expiry": 3}


def test_a_canceled_subscription_gets_a_prorated_final_invoice_and_is_closed(functions):
    subscription = subscribe(functions)
    sid = {"subscription_id": subscription["subscription_id"]}
    functions.http("SubscriptionsFunction", "subscriptions/cancel.json", path_parameters=sid)
    report = run(functions, datetime.now(UTC) + timedelta(minutes=1))
    assert report["subscriptions_due"] == 1  # at its cancellation, not at its period end
    _, _, listed = functions.http("InvoicesFunction", "invoices/list_invoices.json", path_parameters=sid)
    [final] = listed["items"]
    assert final["line_items"][0]["amount_cents"] < 49_900 and "prorated" in final["line_items"][0]["description"]
    assert run(functions, datetime.now(UTC) + timedelta(days=90))["subscriptions_due"] == 0  # left the index
    assert ledger_types(functions, subscription["subscription_id"]) == ["grant", "expiry"]


def test_the_run_only_touches_the_residencies_this_deployment_serves(functions):
    subscription = subscribe(functions)
    later = parse_timestamp(subscription["current_period_end"]) + timedelta(hours=1)
    functions.clock.freeze(later)
    serving = deployment.billing()
    elsewhere = invoicing_run.run_invoicing(replace(serving, residencies=("eu",)), scheduled_at=later)
    assert elsewhere.subscriptions_due == 0 and functions.queues.messages(CLOSING_QUEUE) == []
    assert invoicing_run.run_invoicing(replace(serving, residencies=("us",)), scheduled_at=later).subscriptions_due == 1


def test_drafting_reads_the_aggregate_not_the_events(functions):
    subscription = subscribe(functions)
    sid = {"subscription_id": subscription["subscription_id"]}
    calls: list[tuple[str, str]] = []
    deployment.dynamodb().meta.events.register(
        "before-parameter-build.dynamodb",
        lambda model, params, **_: calls.append((model.name, params.get("TableName", ""), aggregate_range(params))),
    )

    def draft_calls() -> Counter:
        calls.clear()
        status, _, _ = functions.http("InvoicesFunction", "invoices/draft_invoice.json", path_parameters=sid)
        assert status in (200, 201)
        return Counter(calls)

    use(functions, "first", "1")
    few = draft_calls()
    batch = {
        "events": [
            {"organization_id": "org-helix", "service": "analytics", "quantity": "1", "idempotency_key": f"e{i}"}
            for i in range(100)
        ]
    }
    for round_ in range(3):
        batch = {"events": [e | {"idempotency_key": f"r{round_}-{e['idempotency_key']}"} for e in batch["events"]]}
        functions.http("UsageRecordingFunction", "usage_recording/record_usage_batch.json", body=batch)
    many = draft_calls()
    assert few == many  # 1 event or 301: the same calls
    events_table = deployment.settings().usage_events_table
    # The period's aggregate: one Query over its day items (at most 366), never the events.
    assert [call[:2] for call in many if call[1] == events_table] == [("Query", events_table)]
    assert [call[2] for call in many if call[1] == events_table][0].startswith("PERIOD#")
    # (the sixth call reads the billing profile the draft is addressed to)
    assert not any(operation == "Scan" for operation, *_ in many) and sum(many.values()) <= 6


def aggregate_range(params: dict) -> str:
    """Where a Query starts (":first"), to tell an aggregate read from an event read."""
    return ((params.get("ExpressionAttributeValues") or {}).get(":first") or {}).get("S", "")
