"""Entitlement checks and credit holds: check, place, settle, release, read (service, marketplace:admin;
organizations read their own holds)."""

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
from billing.api.models.holds import HoldsQuery
from billing.services import holds
from billing.services.holds import EntitlementRequest, HoldRequest, SettleRequest

app = billing_api()


@app.post("/entitlements/check")
def check_entitlement():
    who = authorize(app, Permission.RECORD_USAGE)
    request = parse_body(app, EntitlementRequest)
    return json_response(200, holds.check_entitlement(deployment.billing(), who, request))


@app.post("/holds")
def place_hold():
    who = authorize(app, Permission.RECORD_USAGE)
    request = parse_body(app, HoldRequest)
    hold, replayed = holds.place_hold(deployment.billing(), who, request)
    return created_or_replayed(hold, replayed)


@app.get("/holds/<hold_id>")
def get_hold(hold_id: str):
    return json_response(200, holds.get_hold(deployment.billing(), caller(app), hold_id))


@app.post("/holds/<hold_id>/settle")
def settle_hold(hold_id: str):
    who = authorize(app, Permission.RECORD_USAGE)
    request = parse_body(app, SettleRequest)
    event, replayed = holds.settle_hold(deployment.billing(), who, hold_id, request)
    return created_or_replayed(event, replayed)


@app.post("/holds/<hold_id>/release")
def release_hold(hold_id: str):
    who = authorize(app, Permission.RECORD_USAGE)
    return json_response(200, holds.release_hold(deployment.billing(), who, hold_id))


@app.get("/subscriptions/<subscription_id>/holds")
def list_holds(subscription_id: str):
    query = parse_query(app, HoldsQuery)
    page = holds.list_holds(
        deployment.billing(), caller(app), subscription_id, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
