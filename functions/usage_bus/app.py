"""UsageRecorded events from the usage bus, recorded exactly as POST /usage records them.
What cannot be recorded raises: Lambda retries it, then the dead-letter queue keeps it."""

from billing import deployment
from billing.api.bus import usage_from_bus
from billing.observability import instrumented
from billing.services import usage


def record(event, context):
    request, producer = usage_from_bus(event)
    recorded, replayed = usage.record_usage(deployment.billing(), producer, request)
    return {"status": "duplicate" if replayed else "accepted", "event": recorded.model_dump(mode="json")}


lambda_handler = instrumented(record)
