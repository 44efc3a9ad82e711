"""The scheduled invoicing run: finds the subscriptions due in the residencies this deployment
serves (the due index, never a scan) and queues each for the period-closing workers."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.schedule import scheduled_time
from billing.observability import MetricUnit, instrumented, metrics
from billing.services import invoicing_run


def run(event, context):
    report = invoicing_run.run_invoicing(deployment.billing(), scheduled_at=scheduled_time(event))
    metrics.add_metric(name="SubscriptionsDue", unit=MetricUnit.Count, value=report.subscriptions_due)
    return report.as_result()


deployment.connect()  # the client at init, with the collector paused
lambda_handler = instrumented(run)
