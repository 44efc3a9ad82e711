"""Credit top-ups, adjustments and grants (marketplace:admin); the credit ledger and grants."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.auth import Permission
from billing.api.http import (
    authorize,
    billing_api,
    caller,
    created_or_replayed,
    json_response,
    lambda_entry,
    parse_body,
    parse_query,
)
from billing.api.models.credits import GrantsQuery
from billing.api.models.paging import PageQuery
from billing.services import credits
from billing.services.credits import CreditChangeRequest, GrantRequest, VoidRequest

app = billing_api()


@app.post("/subscriptions/<subscription_id>/credits")
def change_credits(subscription_id: str):
    who = authorize(app, Permission.ADJUST_CREDITS)
    request = parse_body(app, CreditChangeRequest)
    entry, replayed = credits.change_credits(deployment.billing(), who, subscription_id, request)
    return created_or_replayed(entry, replayed)


@app.get("/subscriptions/<subscription_id>/ledger")
def read_ledger(subscription_id: str):
    query = parse_query(app, PageQuery)
    page = credits.read_ledger(
        deployment.billing(), caller(app), subscription_id, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


@app.post("/subscriptions/<subscription_id>/grants")
def create_grant(subscription_id: str):
    who = authorize(app, Permission.ADJUST_CREDITS)
    request = parse_body(app, GrantRequest)
    grant, replayed = credits.create_grant(deployment.billing(), who, subscription_id, request)
    return created_or_replayed(grant, replayed)


@app.get("/subscriptions/<subscription_id>/grants")
def list_grants(subscription_id: str):
    query = parse_query(app, GrantsQuery)
    page = credits.list_grants(
        deployment.billing(), caller(app), subscription_id, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


@app.post("/subscriptions/<subscription_id>/grants/<grant_id>/void")
def void_grant(subscription_id: str, grant_id: str):
    who = authorize(app, Permission.ADJUST_CREDITS)
    request = parse_body(app, VoidRequest, required=False)
    return json_response(200, credits.void_grant(deployment.billing(), who, subscription_id, grant_id, request))


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
