"""The invoicing run's workers: each SQS message names one due subscription and the run's moment;
its ended periods are closed (draft, expiry, grant, next period). A subscription that fails is
reported alone, so SQS retries only it and dead-letters it after the queue's maxReceiveCount."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.queue import batch_response
from billing.domain.closing import DueClose
from billing.observability import MetricUnit, instrumented, logger, metrics
from billing.services import period_closing

COUNTED = (
    "periods_closed",
    "invoices_drafted",
    "allowances_expired",
    "allowances_granted",
    "final_periods_closed",
)


def close(event, context):
    report, failed = period_closing.ClosingReport(), []
    for record in event["Records"]:
        try:
            period_closing.close_due(deployment.billing(), DueClose.from_message(record["body"]), report)
        except Exception:  # this subscription alone is retried, then dead-lettered
            logger.exception("could not close a due subscription", extra={"queued": record["body"][:1000]})
            failed.append(record["messageId"])
    for name in COUNTED:
        metrics.add_metric(
            name="".join(part.title() for part in name.split("_")), unit=MetricUnit.Count, value=getattr(report, name)
        )
    metrics.add_metric(name="InvoicingFailures", unit=MetricUnit.Count, value=len(failed))
    return batch_response(failed)


deployment.connect()  # the client at init, with the collector paused
lambda_handler = instrumented(close)
