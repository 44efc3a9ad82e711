"""POST /usage and POST /usage/batch: usage as credit debits (service, marketplace:admin); its
corrections, POST /usage/{event_id}/void and /amend (also finance)."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
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
from billing.services import usage

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
    from billing.services import usage_corrections  # noqa: PLC0415 - rare: kept off the usage path's cold start

    who, billing, event, request = _correction(event_id, usage_corrections.VoidUsageRequest)
    voided, replayed = usage_corrections.void_usage(billing, who, event, request)
    return json_response(200, voided, headers={"Idempotent-Replayed": "true"} if replayed else None)


@app.post("/usage/<event_id>/amend")
def amend_usage(event_id: str):
    from billing.services import usage_corrections  # noqa: PLC0415 - rare: kept off the usage path's cold start

    who, billing, event, request = _correction(event_id, usage_corrections.AmendUsageRequest)
    return created_or_replayed(*usage_corrections.amend_usage(billing, who, event, request))


def _correction(event_id: str, model):
    """Who asks, the event they name and their request. An organization's user is answered before
    the body is read (403 for its own event, for any other the very 404 of an unknown one); the
    roles that may correct any organization's usage have their body checked first, like every write."""
    from billing.services.usage_corrections import correctable_event  # noqa: PLC0415 - as above

    who, billing = caller(app), deployment.billing()
    if not who.holds(Permission.CORRECT_USAGE.any_organization):
        correctable_event(billing, who, event_id)  # refuses them
    request = parse_body(app, model)
    return who, billing, correctable_event(billing, who, event_id), request


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
