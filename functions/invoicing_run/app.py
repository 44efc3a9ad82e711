"""The scheduled invoicing run: closes every ended period of the residencies this deployment
serves, and reports what it did as its result and as metrics."""

from aws_lambda_powertools.metrics import MetricUnit

from billing import deployment
from billing.api.bus import scheduled_time
from billing.observability import instrumented, logger, metrics
from billing.services import invoices

COUNTED = (
    "subscriptions_scanned",
    "periods_closed",
    "invoices_drafted",
    "allowances_expired",
    "allowances_granted",
    "final_periods_closed",
)


def run(event, context):
    report = invoices.run_invoicing(deployment.billing(), scheduled_at=scheduled_time(event))
    result = report.as_result()
    for name in COUNTED:
        metrics.add_metric(
            name="".join(part.title() for part in name.split("_")), unit=MetricUnit.Count, value=result[name]
        )
    metrics.add_metric(name="InvoicingFailures", unit=MetricUnit.Count, value=len(report.failures))
    if report.failures:
        logger.error(
            "some subscriptions could not be invoiced; the next run retries them", extra={"failures": report.failures}
        )
    return result


lambda_handler = instrumented(run)
