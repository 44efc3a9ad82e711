"""The usage table's stream (new event rows, rows voided) folded into the guardrail rollups, once
per event and change. A batch that fails is retried whole by the stream: what it had applied is
skipped the second time (the fold's markers), so a retry never counts an event twice."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.observability import instrumented
from billing.services.guardrail_analytics import fold_usage_stream


def fold(event, context):
    applied = fold_usage_stream(deployment.billing(), deployment.guardrail_rollups(), event.get("Records", []))
    return {"applied": applied}


deployment.connect()  # the client at init, with the collector paused
lambda_handler = instrumented(fold)
