"""POST /plans, PUT and PATCH /plans/{plan_id}, POST /plans/{plan_id}/archive (marketplace:admin)."""

import billing.cold_start  # noqa: F401 - first: pauses the garbage collector while the function loads
from billing import deployment
from billing.api.auth import Permission
from billing.api.http import (
    API_PREFIX,
    authorize,
    billing_api,
    etag,
    if_match_version,
    json_object,
    json_response,
    lambda_entry,
    parse_body,
)
from billing.api.models.plan_admin import PlanListing
from billing.domain.plans import PlanRevision, PlanTerms
from billing.services import catalog

app = billing_api()


@app.post("/plans")
def publish_plan():
    authorize(app, Permission.MANAGE_PLANS)
    listing = parse_body(app, PlanListing)
    terms = PlanTerms.model_validate(listing.model_dump(exclude={"plan_id"}))
    plan = catalog.publish_plan(deployment.billing(), listing.plan_id, terms)
    return json_response(201, plan, headers={"Location": f"{API_PREFIX}/plans/{plan.plan_id}", **etag(plan.version)})


@app.put("/plans/<plan_id>")
def revise_plan(plan_id: str):
    authorize(app, Permission.MANAGE_PLANS)
    revision = parse_body(app, PlanRevision)
    plan = catalog.revise_plan(deployment.billing(), plan_id, revision, if_match=if_match_version(app))
    return json_response(200, plan, headers=etag(plan.version))


@app.patch("/plans/<plan_id>")
def patch_plan(plan_id: str):
    authorize(app, Permission.MANAGE_PLANS)
    plan = catalog.patch_plan(deployment.billing(), plan_id, json_object(app), if_match=if_match_version(app))
    return json_response(200, plan, headers=etag(plan.version))


@app.post("/plans/<plan_id>/archive")
def archive_plan(plan_id: str):
    authorize(app, Permission.MANAGE_PLANS)
    plan = catalog.archive_plan(deployment.billing(), plan_id)
    return json_response(200, plan, headers=etag(plan.version))


deployment.connect()  # the client at init, with the collector paused
lambda_handler = lambda_entry(app)
