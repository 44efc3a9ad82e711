"""The OpenAPI document: generated from the route table and the models, in step with template.yaml,
valid OpenAPI 3.1, and built only when asked for."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing.exceptions import Unresolvable

from billing.api.openapi import build_document, document_json
from billing.api.operations import Route, routes
from local_stack.template import Stack

from .lambda_env import function_environment

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "patch"}


def template_routes() -> set[tuple[str, str, bool]]:
    """Every operation of template.yaml (an `ANY` event is a path's answer to its other methods: 405)."""
    routes = Stack(ROOT / "template.yaml").api_routes()
    return {(r.method, r.path, r.authorizer is None) for r in routes if r.method != "ANY"}


def document_routes(document: dict) -> set[tuple[str, str, bool]]:
    return {
        (method.upper(), path, operation.get("security") == [])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(document_json())


def test_the_route_table_is_the_template_s_routes_with_the_same_public_routes():
    table = {(r.method, r.path, r.public) for r in routes()}
    missing, extra = template_routes() - table, table - template_routes()
    assert not missing, f"template.yaml routes with no entry (models) in billing/api/operations.py: {sorted(missing)}"
    assert not extra, f"billing/api/operations.py names routes template.yaml lacks: {sorted(extra)}"
    assert len({r.operation_id for r in routes()}) == len(routes())


def test_the_document_names_every_template_route_and_no_other(document):
    assert document_routes(document) == template_routes()


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_validator_would_notice_a_broken_document(document):
    broken = json.loads(json.dumps(document))
    broken["paths"]["/api/billing/plans"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Nowhere"
    }
    with pytest.raises((OpenAPIValidationError, Unresolvable)):
        validate(broken)


def test_every_operation_documents_success_bodies_and_error_envelopes_with_codes(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = {int(s) for s in operation["responses"]}
            assert any(200 <= s < 300 for s in statuses), (method, path)
            for status, response in operation["responses"].items():
                assert response["content"], (method, path, status)
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["allOf"][0] == {"$ref": "#/components/schemas/ErrorEnvelope"}
                    assert schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
            if operation.get("security") != []:
                assert {401, 403} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {400, 413, 415, 422} <= statuses, (method, path)
            if "{" in path:
                assert 404 in statuses, (method, path)


def test_bodies_queries_and_path_parameters_carry_their_constraints(document):
    usage = document["paths"]["/api/billing/usage"]["post"]
    assert usage["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UsageRequest"
    }
    assert usage["responses"]["402"]["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"][
        "properties"
    ]["code"]["enum"] == ["insufficient_credits"]
    listed = document["paths"]["/api/billing/subscriptions/{subscription_id}/usage"]["get"]["parameters"]
    by_name = {p["name"]: p for p in listed}
    assert by_name["limit"]["schema"] | {} == {"default": 50, "maximum": 200, "minimum": 1, "type": "integer"}
    assert by_name["subscription_id"]["in"] == "path" and by_name["subscription_id"]["required"] is True
    assert "from" in by_name and "to" in by_name
    organization = document["paths"]["/api/billing/organizations/{organization_id}/subscriptions"]["post"]
    assert organization["parameters"][0]["schema"]["pattern"]
    quantity = document["components"]["schemas"]["UsageRequest"]["properties"]["quantity"]["anyOf"]
    assert quantity[0] == {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10**12}
    assert quantity[1]["type"] == "string" and quantity[1]["pattern"]
    # responses are documented as sent: decimals as strings
    event = document["components"]["schemas"]["UsageEvent"]["properties"]["credits"]
    assert event["type"] == "string"


def test_created_resources_link_to_the_operations_their_bodies_name(document):
    draft = document["paths"]["/api/billing/subscriptions/{subscription_id}/invoices/draft"]["post"]
    issue = draft["responses"]["201"]["links"]["issueInvoice"]
    assert issue == {
        "operationId": "issueInvoice",
        "parameters": {
            "subscription_id": "$response.body#/subscription_id",
            "invoice_id": "$response.body#/invoice_id",
        },
    }


def test_public_routes_need_no_token_and_the_rest_a_bearer_jwt(document):
    assert document["components"]["securitySchemes"]["bearer"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "",
    }
    assert document["security"] == [{"bearer": []}]
    public = {(m, p) for m, p, is_public in document_routes(document) if is_public}
    assert public == {
        ("GET", "/api/billing/plans"),
        ("GET", "/api/billing/plans/{plan_id}"),
        ("GET", "/api/billing/plans/{plan_id}/versions"),
        ("GET", "/api/billing/openapi.json"),
    }


def test_a_route_added_to_the_table_appears_in_the_document_with_no_other_change():
    from billing.domain.plans import Plan

    extra = Route("GET", "/api/billing/plans/{plan_id}/drafts", "listPlanDrafts", "Drafts", {200: Plan})
    document = build_document([*routes(), extra])
    assert "get" in document["paths"]["/api/billing/plans/{plan_id}/drafts"]
    validate(document)


def test_the_document_is_built_once_per_container_and_not_on_a_cold_start():
    assert document_json() is document_json()
    probe = (
        "import sys; sys.path[:0] = ['layers/billing', 'functions/plan_catalog']; import app; "
        "print('billing.api.openapi' in sys.modules, 'billing.api.operations' in sys.modules)"
    )
    environment = function_environment()
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    assert found.stdout.split() == ["False", "False"]


def _request_bodies(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS and "requestBody" in operation:
                yield method.upper(), path, operation["requestBody"]["content"]["application/json"]


def test_every_request_body_has_an_example_for_try_it_out(document):
    missing = [(method, path) for method, path, body in _request_bodies(document) if "example" not in body]
    assert not missing, f"add a request example in billing/api/examples.py for: {missing}"


def test_every_request_example_is_a_body_its_route_accepts():
    from billing.api.examples import MERGE_PATCH_EXAMPLE, REQUEST_EXAMPLES
    from billing.domain.plans import merge_patch

    bodies = {route.body.__name__: route.body for route in routes() if isinstance(route.body, type)}
    assert set(REQUEST_EXAMPLES) <= set(bodies), "an example names no request model"
    for name, example in REQUEST_EXAMPLES.items():
        bodies[name].model_validate(example)  # raises on a body the API would refuse with a 422
    patched = bodies["PlanRevision"].model_validate(merge_patch(REQUEST_EXAMPLES["PlanRevision"], MERGE_PATCH_EXAMPLE))
    assert patched.base_fee_cents == MERGE_PATCH_EXAMPLE["base_fee_cents"]


def test_the_document_says_how_to_get_a_token_for_try_it_out(document):
    assert "make token" in document["info"]["description"]
    assert "Authorize" in document["info"]["description"]
    assert "make token" in document["components"]["securitySchemes"]["bearer"]["description"]
    plan = document["paths"]["/api/billing/plans/{plan_id}"]["get"]["parameters"][0]
    assert plan["example"] == "lab-standard"
