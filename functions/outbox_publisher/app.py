"""New outbox records (the outbox table's stream) onto the billing events bus. Records the bus did
not take are reported as batch item failures, so the stream retries them (and, in the end, sends
them to the outbox dead-letter queue)."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.observability import instrumented, logger
from billing.services.outbox import publish_stream


def publish(event, context):
    records = event.get("Records", [])
    failed = publish_stream(records, deployment.events_publisher())
    if failed:
        logger.warning("some events were not published; the stream retries them", extra={"failed": len(failed)})
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


deployment.events_publisher()  # its EventBridge client at init, with the collector paused
lambda_handler = instrumented(publish)
