"""The plan functions and the authorizer, on moto, driven by events/."""

import time

import pytest

from billing.api.tokens import mint_token

from .conftest import claims, sample_event


def test_given_an_empty_sandbox_catalog_when_listed_then_lab_standard_is_seeded(functions):
    status, _, body = functions.http("PlanCatalogFunction", "plan_catalog/list_plans.json")
    assert status == 200
    assert [p["plan_id"] for p in body["items"]] == ["lab-standard"]
    lab = body["items"][0]
    assert set(lab["usage_rates"]) == {"planner", "instrumentation", "analytics"}
    assert isinstance(lab["credit_allowance"], str) and lab["version"] == 1
    status, _, same = functions.http("PlanCatalogFunction", "plan_catalog/get_plan.json")
    assert status == 200 and same == lab


def test_given_an_admin_when_a_plan_is_published_revised_and_archived_then_versions_and_listing_follow(functions):
    status, headers, published = functions.http("PlanAdminFunction", "plan_admin/publish_plan.json")
    assert status == 201 and published["version"] == 1 and headers["Location"] == "/api/billing/plans/genomics-pro"
    assert published["usage_rates"]["planner"]["credits_per_unit"] == "2"
    assert published["overage_rate_cents"] == "9.75"

    status, _, revised = functions.http("PlanAdminFunction", "plan_admin/revise_plan.json")
    assert status == 200 and revised["version"] == 2 and revised["base_fee_cents"] == 139900

    status, _, first = functions.http(
        "PlanCatalogFunction",
        "plan_catalog/get_plan.json",
        path_parameters={"plan_id": "genomics-pro"},
        query={"version": "1"},
    )
    assert status == 200 and first["version"] == 1 and first["base_fee_cents"] == 129900

    status, _, archived = functions.http("PlanAdminFunction", "plan_admin/archive_plan.json")
    assert status == 200 and archived["status"] == "archived" and archived["version"] == 2
    _, _, listing = functions.http("PlanCatalogFunction", "plan_catalog/list_plans.json")
    assert "genomics-pro" not in [p["plan_id"] for p in listing["items"]]


def test_given_a_non_admin_when_publishing_then_403_and_nothing_is_written(functions):
    status, _, body = functions.http(
        "PlanAdminFunction", "plan_admin/publish_plan.json", authorizer=claims("org:admin", org="org-helix")
    )
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, _, _ = functions.http(
        "PlanCatalogFunction", "plan_catalog/get_plan.json", path_parameters={"plan_id": "genomics-pro"}
    )
    assert status == 404


def test_given_no_authorizer_context_when_publishing_then_401(functions):
    status, _, body = functions.http("PlanAdminFunction", "plan_admin/publish_plan.json", authorizer=None)
    assert status == 401 and body["error"]["code"] == "unauthenticated"


def test_given_the_authorizer_event_when_the_token_is_valid_then_it_allows_with_the_claims(functions):
    event = sample_event("authorizer/token.json")
    event["authorizationToken"] = "Bearer " + mint_token(sub="user|ada", roles=["marketplace:admin"], residency="us")
    answer = functions("AuthorizerFunction").invoke(event)
    assert answer["principalId"] == "user|ada"
    assert answer["context"] == {"sub": "user|ada", "roles": '["marketplace:admin"]', "org": "", "residency": "us"}
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize(
    "token", ["Bearer <token>", "Bearer " + mint_token(sub="u", roles=["finance"], now=time.time() - 86400)]
)
def test_given_the_authorizer_event_when_the_token_is_bad_then_denied_with_the_reason(functions, token):
    event = sample_event("authorizer/token.json") | {"authorizationToken": token}
    answer = functions("AuthorizerFunction").invoke(event)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    reasons = ("The bearer token is malformed: it is not a signed JWT.", "The bearer token has expired.")
    assert answer["context"]["reason"] in reasons


def test_given_the_openapi_event_when_delivered_then_the_catalog_function_answers_the_document(functions):
    status, headers, document = functions.http("PlanCatalogFunction", "plan_catalog/openapi_document.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert document["openapi"] == "3.1.0"
    assert document["paths"]["/api/billing/openapi.json"]["get"]["security"] == []
