"""POST /usage and POST /usage/batch: usage as credit debits (service, marketplace:admin); its
corrections, POST /usage/{event_id}/void and /amend (also finance)."""

from billing import deployment
from billing.api.auth import Permission
from billing.api.http import (
    authorize,
    billing_api,
    caller,
    created_or_replayed,
    json_response,
    lambda_entry,
    parse_body,
)
from billing.api.models.usage_recording import UsageBatch
from billing.domain.usage import UsageRequest
from billing.services import usage, usage_corrections
from billing.services.usage_corrections import AmendUsageRequest, VoidUsageRequest

app = billing_api()


@app.post("/usage")
def record_usage():
    who = authorize(app, Permission.RECORD_USAGE)
    request = parse_body(app, UsageRequest)
    event, replayed = usage.record_usage(deployment.billing(), who, request)
    return created_or_replayed(event, replayed)


@app.post("/usage/batch")
def record_usage_batch():
    who = authorize(app, Permission.RECORD_USAGE)
    batch = parse_body(app, UsageBatch)
    report = usage.record_usage_batch(deployment.billing(), who, batch.events)
    return json_response(200, report)


@app.post("/usage/<event_id>/void")
def void_usage(event_id: str):
    who, billing = caller(app), deployment.billing()
    # Who may correct this event is decided before the body is read: an organization's user gets
    # the same 404 for another organization's event as for no event at all.
    event = usage_corrections.correctable_event(billing, who, event_id)
    request = parse_body(app, VoidUsageRequest)
    voided, replayed = usage_corrections.void_usage(billing, who, event, request)
    return json_response(200, voided, headers={"Idempotent-Replayed": "true"} if replayed else None)


@app.post("/usage/<event_id>/amend")
def amend_usage(event_id: str):
    who, billing = caller(app), deployment.billing()
    event = usage_corrections.correctable_event(billing, who, event_id)
    request = parse_body(app, AmendUsageRequest)
    return created_or_replayed(*usage_corrections.amend_usage(billing, who, event, request))


lambda_handler = lambda_entry(app)
