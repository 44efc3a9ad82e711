"""Invoices: draft a period, list, read, issue, void, credit (marketplace:admin and finance change;
organizations read their own); and the billing profile they are addressed to. Exports are
DocumentExportFunction's: only it carries the PDF renderer."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.auth import Permission
from billing.api.http import (
    authorize,
    billing_api,
    caller,
    json_response,
    lambda_entry,
    parse_body,
    parse_query,
    path_value,
)
from billing.api.models.invoices import CreditNotesQuery, InvoicesQuery, UpcomingQuery
from billing.api.models.paging import PageQuery
from billing.domain.billing_profiles import BillingProfileRequest
from billing.domain.credit_notes import CreditNoteRequest
from billing.domain.subscriptions import OrganizationId
from billing.services import billing_profiles, credit_notes, invoices
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


@app.put("/organizations/<organization_id>/billing-profile")
def save_billing_profile(organization_id: str):
    who = authorize(app, Permission.MANAGE_BILLING_PROFILE)
    organization_id = path_value(OrganizationId, "organization_id", organization_id)
    request = parse_body(app, BillingProfileRequest)
    return json_response(
        200, billing_profiles.save_billing_profile(deployment.billing(), who, organization_id, request)
    )


@app.get("/organizations/<organization_id>/billing-profile")
def get_billing_profile(organization_id: str):
    who = authorize(app, Permission.READ_BILLING)
    organization_id = path_value(OrganizationId, "organization_id", organization_id)
    return json_response(200, billing_profiles.get_billing_profile(deployment.billing(), who, organization_id))


@app.post(f"{BASE}/<invoice_id>/credit-notes")
def issue_credit_note(subscription_id: str, invoice_id: str):
    who = authorize(app, Permission.MANAGE_INVOICES)
    request = parse_body(app, CreditNoteRequest)
    note, replayed = credit_notes.issue_credit_note(deployment.billing(), who, subscription_id, invoice_id, request)
    return json_response(200 if replayed else 201, note)


@app.get(f"{BASE}/<invoice_id>/credit-notes")
def list_credit_notes(subscription_id: str, invoice_id: str):
    query = parse_query(app, PageQuery)
    page = credit_notes.list_credit_notes(
        deployment.billing(), caller(app), subscription_id, invoice_id, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


@app.get("/credit-notes")
def search_credit_notes():
    who = authorize(app, Permission.LIST_ACROSS_ORGANIZATIONS)
    query = parse_query(app, CreditNotesQuery)
    page = credit_notes.search_credit_notes(
        deployment.billing(), who, query.filters(), residency=query.residency, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
