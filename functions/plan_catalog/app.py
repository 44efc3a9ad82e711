"""GET /plans, GET /plans/{plan_id} and its versions: the public catalog (no token needed); GET
/openapi.json: the API's OpenAPI document, built from the operations table and the models on its first
request only."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.http import JSON, Response, billing_api, etag, json_response, lambda_entry, parse_query
from billing.api.models.paging import PageQuery
from billing.api.models.plan_catalog import PlanQuery
from billing.services import catalog

app = billing_api()


@app.get("/plans")
def list_plans():
    query = parse_query(app, PageQuery)
    page = catalog.list_catalog(deployment.billing(), limit=query.limit, cursor=query.cursor)
    return json_response(200, page)


@app.get("/plans/<plan_id>")
def get_plan(plan_id: str):
    query = parse_query(app, PlanQuery)
    plan = catalog.get_plan(deployment.billing(), plan_id, version=query.version)
    return json_response(200, plan, headers=etag(plan.version))  # what If-Match names on PUT and PATCH


@app.get("/plans/<plan_id>/versions")
def list_versions(plan_id: str):
    query = parse_query(app, PageQuery)
    return json_response(
        200, catalog.list_versions(deployment.billing(), plan_id, limit=query.limit, cursor=query.cursor)
    )


@app.get("/openapi.json")
def openapi_document():
    from billing.api.openapi import document_json  # pydantic schema generation: only when asked, once

    return Response(status_code=200, content_type=JSON, body=document_json())


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
