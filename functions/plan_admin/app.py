"""POST /plans, PUT /plans/{plan_id}, POST /plans/{plan_id}/archive (marketplace:admin)."""

from billing import deployment
from billing.api.auth import Permission
from billing.api.http import API_PREFIX, authorize, billing_api, json_response, lambda_entry, parse_body
from billing.api.models import PlanListing
from billing.domain.plans import PlanTerms
from billing.services import catalog

app = billing_api()


@app.post("/plans")
def publish_plan():
    authorize(app, Permission.MANAGE_PLANS)
    listing = parse_body(app, PlanListing)
    terms = PlanTerms.model_validate(listing.model_dump(exclude={"plan_id"}))
    plan = catalog.publish_plan(deployment.billing(), listing.plan_id, terms)
    return json_response(201, plan, headers={"Location": f"{API_PREFIX}/plans/{plan.plan_id}"})


@app.put("/plans/<plan_id>")
def revise_plan(plan_id: str):
    authorize(app, Permission.MANAGE_PLANS)
    terms = parse_body(app, PlanTerms)
    return json_response(200, catalog.revise_plan(deployment.billing(), plan_id, terms))


@app.post("/plans/<plan_id>/archive")
def archive_plan(plan_id: str):
    authorize(app, Permission.MANAGE_PLANS)
    return json_response(200, catalog.archive_plan(deployment.billing(), plan_id))


lambda_handler = lambda_entry(app)
