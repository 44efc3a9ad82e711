"""POST /usage and POST /usage/batch: usage as credit debits (service, marketplace:admin)."""

from billing import deployment
from billing.api.auth import Permission
from billing.api.http import authorize, billing_api, created_or_replayed, json_response, lambda_entry, parse_body
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


lambda_handler = lambda_entry(app)
