"""Invoices: draft a period, list, read, issue, void and export (marketplace:admin and finance
change and export; organizations read their own)."""

from billing import deployment
from billing.api.auth import Permission
from billing.api.http import (
    Response,
    authorize,
    billing_api,
    caller,
    json_response,
    lambda_entry,
    parse_body,
    parse_query,
)
from billing.api.models.invoices import ExportQuery, InvoicesQuery, UpcomingQuery
from billing.api.models.paging import PageQuery
from billing.services import invoices
from billing.services.invoices import DraftRequest

app = billing_api()
BASE = "/subscriptions/<subscription_id>/invoices"


@app.post(f"{BASE}/draft")
def draft(subscription_id: str):
    who = authorize(app, Permission.MANAGE_INVOICES)
    request = parse_body(app, DraftRequest, required=False)
    invoice, created = invoices.draft_invoice(deployment.billing(), who, subscription_id, request)
    return json_response(201 if created else 200, invoice)


@app.get("/invoices")
def search_invoices():
    who = authorize(app, Permission.LIST_ACROSS_ORGANIZATIONS)
    query = parse_query(app, InvoicesQuery)
    page = invoices.search_invoices(
        deployment.billing(), who, query.filters(), residency=query.residency, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


@app.get(BASE)
def list_invoices(subscription_id: str):
    query = parse_query(app, PageQuery)
    page = invoices.list_invoices(
        deployment.billing(), caller(app), subscription_id, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


@app.get(f"{BASE}/upcoming")  # before <invoice_id>, which would take "upcoming" as an id
def upcoming(subscription_id: str):
    query = parse_query(app, UpcomingQuery)
    found = invoices.upcoming_invoice(deployment.billing(), caller(app), subscription_id, cancel_now=query.cancel_now)
    return json_response(200, found)


@app.get(f"{BASE}/<invoice_id>")
def get_invoice(subscription_id: str, invoice_id: str):
    return json_response(200, invoices.get_invoice(deployment.billing(), caller(app), subscription_id, invoice_id))


@app.post(f"{BASE}/<invoice_id>/issue")
def issue(subscription_id: str, invoice_id: str):
    who = authorize(app, Permission.MANAGE_INVOICES)
    return json_response(200, invoices.issue_invoice(deployment.billing(), who, subscription_id, invoice_id))


@app.post(f"{BASE}/<invoice_id>/void")
def void(subscription_id: str, invoice_id: str):
    who = authorize(app, Permission.MANAGE_INVOICES)
    return json_response(200, invoices.void_invoice(deployment.billing(), who, subscription_id, invoice_id))


@app.get(f"{BASE}/<invoice_id>/export")
def export(subscription_id: str, invoice_id: str):
    who = authorize(app, Permission.READ_BILLING)
    query = parse_query(app, ExportQuery)
    file = invoices.export_invoice(deployment.billing(), who, subscription_id, invoice_id, file_format=query.format)
    return Response(
        status_code=200,
        content_type=file.content_type,
        body=file.body,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


lambda_handler = lambda_entry(app)
