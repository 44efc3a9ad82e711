"""GET /analytics/guardrails (a page of grouped guardrail counts) and its CSV export, read from the
guardrail rollups (staff and finance: a residency's organizations; organization users: their own)."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.http import Response, billing_api, caller, json_response, lambda_entry, parse_query
from billing.api.models.guardrail_analytics import GuardrailExportQuery, GuardrailFilters, GuardrailQuery
from billing.services import guardrail_analytics
from billing.services.guardrail_analytics import ReportRequest

app = billing_api()


def _request(query: GuardrailFilters) -> ReportRequest:
    return ReportRequest(
        first_day=query.first_day,
        last_day=query.last_day,
        group_by=query.group_by,
        organization_id=query.organization_id,
        service=query.service,
        flag=query.flag,
        residency=query.residency,
    )


@app.get("/analytics/guardrails")
def guardrail_report():
    query = parse_query(app, GuardrailQuery)
    report = guardrail_analytics.guardrail_report(
        deployment.billing(),
        deployment.guardrail_rollups(),
        caller(app),
        _request(query),
        limit=query.limit,
        cursor=query.cursor,
    )
    return json_response(200, report)


@app.get("/analytics/guardrails/export")
def guardrail_export():
    query = parse_query(app, GuardrailExportQuery)
    body = guardrail_analytics.guardrail_csv(
        deployment.billing(), deployment.guardrail_rollups(), caller(app), _request(query)
    )
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=body,
        headers={"Content-Disposition": 'attachment; filename="guardrail-analytics.csv"'},
    )


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
