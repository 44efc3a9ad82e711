"""UsageRecorded events from the usage bus, through the usage queue, in batches of up to 100:
recorded together (one transaction per subscription chunk), each charged exactly as POST /usage
charges it. An event that is not recorded (refused, or lost in contention) is reported alone, so
SQS redelivers only it, and after three receives keeps it in the dead-letter queue; the others
are never charged again (a redelivered recorded event is a duplicate of its key)."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.bus import usage_from_queue
from billing.api.queue import batch_response
from billing.domain.errors import BillingError
from billing.observability import MetricUnit, instrumented, logger, metrics
from billing.services import usage


def consume(event, context):
    records, failed, deliveries = event["Records"], [], []
    for record in records:
        try:
            request, producer = usage_from_queue(record)
        except BillingError as refused:
            _refused(record["messageId"], refused)
            failed.append(record["messageId"])
            continue
        deliveries.append((record["messageId"], producer, request))
    outcomes = usage.record_usage_deliveries(deployment.billing(), [(who, request) for _, who, request in deliveries])
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for (message_id, _, _), outcome in zip(deliveries, outcomes, strict=True):
        counts[outcome.status] += 1
        if outcome.status == "rejected":
            _refused(message_id, outcome.error)
            failed.append(message_id)
    metrics.add_metric(name="UsageAccepted", unit=MetricUnit.Count, value=counts["accepted"])
    metrics.add_metric(name="UsageReplayed", unit=MetricUnit.Count, value=counts["duplicate"])
    metrics.add_metric(
        name="UsageRefused", unit=MetricUnit.Count, value=counts["rejected"] + len(records) - len(deliveries)
    )
    return batch_response(failed)


def _refused(message_id: str, error: BillingError) -> None:
    logger.warning(
        "usage event not recorded; SQS redelivers it, then the dead-letter queue keeps it",
        extra={"message_id": message_id, "code": error.code, "error": error.message, "details": error.details},
    )


deployment.connect()  # the client at init, with the collector paused
lambda_handler = instrumented(consume)
