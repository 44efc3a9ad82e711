"""Subscriptions: provision (with SLA acceptance), list an organization's, read one with health, cancel,
settings, plan changes."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.auth import Permission
from billing.api.http import (
    API_PREFIX,
    authorize,
    billing_api,
    caller,
    created_or_replayed,
    idempotency_key_header,
    json_response,
    lambda_entry,
    parse_body,
    parse_query,
    path_value,
)
from billing.api.models.paging import PageQuery
from billing.api.models.subscriptions import SubscriptionsQuery
from billing.domain.subscriptions import OrganizationId
from billing.services import subscriptions
from billing.services.subscriptions import ProvisionRequest, SettingsRequest

app = billing_api()

# The plan-change routes import their service on their first request: it brings the invoice models
# (a change's closing invoice), ~9 ms of cold start that provisioning, reading and canceling do not
# need. A container whose first request is a plan change pays it then, once.


@app.post("/organizations/<organization_id>/subscriptions")
def provision(organization_id: str):
    who = authorize(app, Permission.MANAGE_SUBSCRIPTION)
    organization_id = path_value(OrganizationId, "organization_id", organization_id)
    request = parse_body(app, ProvisionRequest)
    subscription, replayed = subscriptions.provision_subscription(
        deployment.billing(), who, organization_id, request, idempotency_key=idempotency_key_header(app)
    )
    return created_or_replayed(
        subscription, replayed, location=f"{API_PREFIX}/subscriptions/{subscription.subscription_id}"
    )


@app.get("/organizations/<organization_id>/subscriptions")
def list_for_organization(organization_id: str):
    query = parse_query(app, PageQuery)
    page = subscriptions.list_subscriptions(
        deployment.billing(), caller(app), organization_id, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


@app.get("/subscriptions")
def search_subscriptions():
    who = authorize(app, Permission.LIST_ACROSS_ORGANIZATIONS)
    query = parse_query(app, SubscriptionsQuery)
    page = subscriptions.search_subscriptions(
        deployment.billing(), who, query.filters(), residency=query.residency, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, page)


@app.get("/subscriptions/<subscription_id>")
def get_subscription(subscription_id: str):
    return json_response(200, subscriptions.subscription_health(deployment.billing(), caller(app), subscription_id))


@app.post("/subscriptions/<subscription_id>/cancel")
def cancel(subscription_id: str):
    return json_response(200, subscriptions.cancel_subscription(deployment.billing(), caller(app), subscription_id))


@app.put("/subscriptions/<subscription_id>/settings")
def change_settings(subscription_id: str):
    who = authorize(app, Permission.MANAGE_SUBSCRIPTION)
    request = parse_body(app, SettingsRequest)
    return json_response(200, subscriptions.change_settings(deployment.billing(), who, subscription_id, request))


@app.post("/subscriptions/<subscription_id>/plan-change")
def change_plan(subscription_id: str):
    from billing.services import plan_changes

    who = authorize(app, Permission.MANAGE_SUBSCRIPTION)
    request = parse_body(app, plan_changes.PlanChangeRequest)
    answer, replayed = plan_changes.change_plan(deployment.billing(), who, subscription_id, request)
    return json_response(200, answer, headers={"Idempotent-Replayed": "true"} if replayed else None)


@app.delete("/subscriptions/<subscription_id>/plan-change")
def cancel_pending_plan_change(subscription_id: str):
    from billing.services import plan_changes

    who = authorize(app, Permission.MANAGE_SUBSCRIPTION)
    return json_response(200, plan_changes.cancel_pending_plan_change(deployment.billing(), who, subscription_id))


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
