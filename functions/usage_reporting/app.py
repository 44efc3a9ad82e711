"""GET /subscriptions/{id}/usage (filtered, newest first) and GET .../usage/summary (the period aggregate)."""

from billing import deployment
from billing.api.http import billing_api, caller, json_response, lambda_entry, parse_query
from billing.api.models import SummaryQuery, UsageQuery
from billing.services import usage

app = billing_api()


@app.get("/subscriptions/<subscription_id>/usage")
def list_usage(subscription_id: str):
    query = parse_query(app, UsageQuery)
    page = usage.list_usage(
        deployment.billing(),
        caller(app),
        subscription_id,
        start=query.start,
        end=query.end,
        service=query.service,
        guardrail_flag=query.guardrail_flag,
        limit=query.limit,
        cursor=query.cursor,
    )
    return json_response(200, page)


@app.get("/subscriptions/<subscription_id>/usage/summary")
def usage_summary(subscription_id: str):
    query = parse_query(app, SummaryQuery)
    summary = usage.usage_summary(deployment.billing(), caller(app), subscription_id, period_start=query.period_start)
    return json_response(200, summary)


lambda_handler = lambda_entry(app)
