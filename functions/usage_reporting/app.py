"""GET /subscriptions/{id}/usage (filtered, newest first), .../usage/summary (a period's aggregate),
.../usage/daily (day aggregates) and .../periods (the periods reached, with usage and invoice)."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.http import billing_api, caller, json_response, lambda_entry, parse_query
from billing.api.models.paging import PageQuery
from billing.api.models.usage_reporting import DailyQuery, SummaryQuery, UsageQuery
from billing.domain.usage import UsageFilters
from billing.services import usage_reporting

app = billing_api()


@app.get("/subscriptions/<subscription_id>/usage")
def list_usage(subscription_id: str):
    query = parse_query(app, UsageQuery)
    page = usage_reporting.list_usage(
        deployment.billing(),
        caller(app),
        subscription_id,
        UsageFilters(
            start=query.start,
            end=query.end,
            service=query.service,
            guardrail_flag=query.guardrail_flag,
            status=query.status,
        ),
        limit=query.limit,
        cursor=query.cursor,
    )
    return json_response(200, page)


@app.get("/subscriptions/<subscription_id>/usage/summary")
def usage_summary(subscription_id: str):
    query = parse_query(app, SummaryQuery)
    summary = usage_reporting.usage_summary(
        deployment.billing(), caller(app), subscription_id, period_start=query.period_start
    )
    return json_response(200, summary)


@app.get("/subscriptions/<subscription_id>/usage/daily")
def daily_usage(subscription_id: str):
    query = parse_query(app, DailyQuery)
    days = usage_reporting.daily_usage(
        deployment.billing(), caller(app), subscription_id, start=query.start, end=query.end
    )
    return json_response(200, {"items": [day.model_dump(mode="json") for day in days], "next_cursor": None})


@app.get("/subscriptions/<subscription_id>/periods")
def list_periods(subscription_id: str):
    query = parse_query(app, PageQuery)
    page = usage_reporting.list_periods(
        deployment.billing(), caller(app), subscription_id, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
