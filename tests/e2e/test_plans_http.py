"""The plan catalog over HTTP against the local stack: every status and error code of API.md."""

import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy

import jwt
import pytest

from .server import ROOT

TERMS = {
    "name": "Genomics Pro",
    "description": "High-throughput sequencing analysis.",
    "partner": "Helix Partners",
    "bundle": [{"sku": "seq-pro", "name": "Sequence analysis pro"}],
    "billing_cadence": "quarterly",
    "currency": "USD",
    "base_fee_cents": 129900,
    "credit_allowance": "5000",
    "overage_policy": "block",
    "overage_rate_cents": "9.75",
    "usage_rates": {
        "analytics": {"unit": "sample", "credits_per_unit": 0.2},
        "planner": {"unit": "finalization", "credits_per_unit": "2"},
    },
    "sla": {"tier": "premium", "uptime_percent": "99.95", "response_time_hours": 2, "support": "24x7"},
    "features": [
        {"key": "sso", "label": "Single sign-on", "included": True},
        {"key": "seats", "label": "Seats", "included": True, "limit": 100},
    ],
}


def new_plan_id() -> str:
    return f"plan-{uuid.uuid4().hex[:10]}"


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"]
    return body["error"]


def publish(server, admin, plan_id=None, **changes):
    plan_id = plan_id or new_plan_id()
    response = server.request("POST", "/plans", token=admin, json={"plan_id": plan_id, **TERMS, **changes})
    assert response.status_code == 201, response.text
    return response.json()


def test_the_catalog_is_public_and_lists_lab_standard(server):
    response = server.request("GET", "/plans")
    assert response.status_code == 200
    plans = {p["plan_id"]: p for p in response.json()["items"]}
    lab = plans["lab-standard"]
    assert lab["name"] == "Lab Standard" and lab["billing_cadence"] == "monthly" and lab["status"] == "active"
    assert set(lab["usage_rates"]) >= {"planner", "instrumentation", "analytics"}
    assert lab["credit_allowance"] == "1000" and lab["overage_rate_cents"] == "12.5"
    assert lab["created_at"].endswith("Z") and "next_cursor" in response.json()
    assert server.request("GET", "/plans/lab-standard").json() == lab


def test_an_unknown_plan_is_404(server):
    response = server.request("GET", "/plans/no-such-plan")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_an_admin_publishes_a_plan_with_exact_decimals(server, admin):
    plan_id = new_plan_id()
    response = server.request("POST", "/plans", token=admin, json={"plan_id": plan_id, **TERMS})
    assert response.status_code == 201
    plan = response.json()
    assert response.headers["Location"] == f"/api/billing/plans/{plan_id}"
    assert plan["version"] == 1 and plan["status"] == "active"
    assert plan["usage_rates"]["analytics"]["credits_per_unit"] == "0.2"  # sent as a JSON number, kept exact
    assert plan["sla"]["uptime_percent"] == "99.95" and plan["base_fee_cents"] == 129900
    assert server.request("GET", f"/plans/{plan_id}").json() == plan


def test_publishing_a_taken_plan_id_is_409_and_changes_nothing(server, admin):
    plan = publish(server, admin)
    response = server.request(
        "POST", "/plans", token=admin, json={"plan_id": plan["plan_id"], **TERMS, "base_fee_cents": 1}
    )
    assert response.status_code == 409 and error_of(response)["code"] == "plan_exists"
    assert server.request("GET", f"/plans/{plan['plan_id']}").json()["base_fee_cents"] == TERMS["base_fee_cents"]


@pytest.mark.parametrize(
    "method, path", [("POST", "/plans"), ("PUT", "/plans/lab-standard"), ("POST", "/plans/lab-standard/archive")]
)
def test_writes_without_a_valid_token_are_401(server, token, method, path):
    expired = token("marketplace:admin", now=time.time() - 86400)
    forged = token("marketplace:admin", secret="not-the-local-secret")
    unsigned = jwt.encode(
        {
            "sub": "x",
            "roles": ["marketplace:admin"],
            "iss": "billing-local",
            "aud": "billing-api",
            "exp": time.time() + 60,
        },
        None,
        algorithm="none",
    )
    for headers in (
        {},
        {"Authorization": "Bearer " + expired},
        {"Authorization": "Bearer " + forged},
        {"Authorization": "Bearer " + unsigned},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer"},
    ):
        response = server.request(method, path, json={"plan_id": new_plan_id(), **TERMS}, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert error_of(response)["code"] == "unauthenticated"
    assert server.request("GET", "/plans/lab-standard").json()["status"] == "active"


@pytest.mark.parametrize("role", ["finance", "service", "org:admin", "org:member"])
def test_writes_by_non_admins_are_403_and_write_nothing(server, token, admin, role):
    caller = token(role, org="org-helix" if role.startswith("org:") else None)
    plan = publish(server, admin)
    plan_id = new_plan_id()
    attempts = [
        ("POST", "/plans", {"plan_id": plan_id, **TERMS}),
        ("PUT", f"/plans/{plan['plan_id']}", {**TERMS, "base_fee_cents": 5}),
        ("POST", f"/plans/{plan['plan_id']}/archive", None),
    ]
    for method, path, body in attempts:
        response = server.request(method, path, token=caller, json=body)
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden", response.text
    assert server.request("GET", f"/plans/{plan_id}").status_code == 404
    assert server.request("GET", f"/plans/{plan['plan_id']}").json() == plan


@pytest.mark.parametrize(
    "change, field",
    [
        ({"plan_id": "Not A Slug"}, "plan_id"),
        ({"base_fee_cents": 10.5}, "base_fee_cents"),
        ({"base_fee_cents": "100"}, "base_fee_cents"),
        ({"credit_allowance": "1.0000001"}, "credit_allowance"),
        ({"credit_allowance": "NaN"}, "credit_allowance"),
        ({"credit_allowance": "1e13"}, "credit_allowance"),
        ({"overage_policy": "sometimes"}, "overage_policy"),
        ({"currency": "dollars"}, "currency"),
        ({"usage_rates": {"planner": {"unit": "run", "credits_per_unit": -1}}}, "usage_rates.planner.credits_per_unit"),
        ({"sla": {"tier": "gold"}}, "sla.support"),
        ({"unexpected": True}, "unexpected"),
    ],
)
def test_invalid_plans_are_422_naming_the_field_and_write_nothing(server, admin, change, field):
    body = {"plan_id": new_plan_id(), **deepcopy(TERMS), **change}
    response = server.request("POST", "/plans", token=admin, json=body)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert field in [f["field"] for f in error["details"]["fields"]], error
    if isinstance(body["plan_id"], str) and field != "plan_id":
        assert server.request("GET", f"/plans/{body['plan_id']}").status_code == 404


def test_a_missing_field_is_422(server, admin):
    body = {"plan_id": new_plan_id(), **{k: v for k, v in TERMS.items() if k != "usage_rates"}}
    response = server.request("POST", "/plans", token=admin, json=body)
    assert response.status_code == 422 and [f["field"] for f in error_of(response)["details"]["fields"]] == [
        "usage_rates"
    ]


@pytest.mark.parametrize(
    "raw", ['{"plan_id": ', "not json", "[1, 2, 3]", '"a string"', "", '{"credit_allowance": NaN}']
)
def test_bodies_that_are_not_a_json_object_are_400(server, admin, raw):
    response = server.request("POST", "/plans", token=admin, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_of(response)["code"] == "malformed_json"


def test_bodies_over_256_kib_are_413(server, admin):
    plan_id = new_plan_id()
    body = json.dumps({"plan_id": plan_id, **TERMS, "description": "x" * (256 * 1024)})
    response = server.request("POST", "/plans", token=admin, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    assert server.request("GET", f"/plans/{plan_id}").status_code == 404


def test_revising_writes_a_new_version_and_keeps_the_old_one(server, admin):
    plan = publish(server, admin)
    path = f"/plans/{plan['plan_id']}"
    response = server.request("PUT", path, token=admin, json={**TERMS, "base_fee_cents": 99, "name": "Genomics Pro 2"})
    assert response.status_code == 200
    revised = response.json()
    assert revised["version"] == 2 and revised["base_fee_cents"] == 99 and revised["created_at"] == plan["created_at"]
    assert server.request("GET", path).json() == revised
    assert server.request("GET", path, params={"version": 1}).json() == plan
    assert server.request("GET", path, params={"version": 3}).status_code == 404
    assert server.request("GET", path, params={"version": "zero"}).status_code == 422


def test_revising_an_unknown_plan_is_404_and_an_invalid_revision_is_422(server, admin):
    response = server.request("PUT", "/plans/no-such-plan", token=admin, json=TERMS)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    plan = publish(server, admin)
    response = server.request(
        "PUT", f"/plans/{plan['plan_id']}", token=admin, json={**TERMS, "billing_cadence": "weekly"}
    )
    assert response.status_code == 422 and error_of(response)["details"]["fields"][0]["field"] == "billing_cadence"
    assert server.request("GET", f"/plans/{plan['plan_id']}").json()["version"] == 1


def test_archiving_takes_a_plan_out_of_the_catalog_and_freezes_it(server, admin):
    plan = publish(server, admin, base_fee_cents=1)
    path = f"/plans/{plan['plan_id']}"
    listed = [p["plan_id"] for p in server.request("GET", "/plans", params={"limit": 200}).json()["items"]]
    assert plan["plan_id"] in listed
    response = server.request("POST", f"{path}/archive", token=admin)
    assert response.status_code == 200 and response.json()["status"] == "archived"
    assert server.request("POST", f"{path}/archive", token=admin).json() == response.json()  # idempotent
    listed = [p["plan_id"] for p in server.request("GET", "/plans", params={"limit": 200}).json()["items"]]
    assert plan["plan_id"] not in listed
    assert server.request("GET", path).json()["status"] == "archived"
    revise = server.request("PUT", path, token=admin, json=TERMS)
    assert revise.status_code == 409 and error_of(revise)["code"] == "plan_archived"
    missing = server.request("POST", "/plans/no-such-plan/archive", token=admin)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_the_catalog_pages_cheapest_first(server, admin):
    for fee in (3, 2, 1):
        publish(server, admin, base_fee_cents=fee)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = server.request("GET", "/plans", params=params).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    fees = [(p["base_fee_cents"], p["plan_id"]) for p in seen]
    assert fees == sorted(fees) and len({p["plan_id"] for p in seen}) == len(seen)
    assert all(p["status"] == "active" for p in seen)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"cursor": "garbage!"},
        {"cursor": "eyJsaXN0aW5nIjoiYXJjaGl2ZWQifQ"},
        {"colour": "blue"},
    ],
)
def test_bad_list_parameters_are_422(server, params):
    response = server.request("GET", "/plans", params=params)
    assert response.status_code == 422 and error_of(response)["code"] == "validation_error"
    assert error_of(response)["details"]["fields"][0]["location"] == "query"


def test_unknown_routes_are_404_in_the_envelope(server, admin):
    for method, path in (("GET", "/nothing"), ("DELETE", "/plans/lab-standard/nothing")):
        response = server.request(method, path, token=admin)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_twenty_racing_first_calls_create_exactly_one_plan(fresh_server):
    def first_call(_):
        return fresh_server.request("GET", "/plans")

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(first_call, range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    for response in responses:
        assert [p["plan_id"] for p in response.json()["items"]] == ["lab-standard"]
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1  # all saw the one winner's plan
    assert [p["plan_id"] for p in fresh_server.request("GET", "/plans").json()["items"]] == ["lab-standard"]
    assert fresh_server.request("GET", "/plans/lab-standard", params={"version": 2}).status_code == 404


def test_make_token_mints_what_the_local_stack_accepts(server):
    printed = subprocess.run(
        [sys.executable, "-m", "local_stack.token", "--role", "org:admin", "--org", "org-42", "--residency", "eu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    claims = jwt.decode(
        printed, "local-dev-secret", algorithms=["HS256"], audience="billing-api", issuer="billing-local"
    )
    assert claims["roles"] == ["org:admin"] and claims["org"] == "org-42" and claims["residency"] == "eu"
    response = server.request("POST", "/plans", token=printed, json={"plan_id": new_plan_id(), **TERMS})
    assert response.status_code == 403  # accepted as a token, refused by role


def test_local_invoke_delivers_an_event_to_a_template_function(server):
    response = server.request(
        "POST", "/_local/invoke/InvoicingRunFunction", json={"scheduled_time": "2000-01-01T00:00:00Z"}
    )
    assert (
        response.status_code == 200
        and response.json()["now"] == "2000-01-01T00:00:00Z"
        and response.json()["subscriptions_due"] == 0
    )
    missing = server.request("POST", "/_local/invoke/NoSuchFunction", json={})
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def mint(**changes):
    from billing.api.tokens import mint_token

    return mint_token(**({"sub": "u", "roles": ["marketplace:admin"], "residency": "us"} | changes))


@pytest.mark.parametrize(
    "header, reason",
    [
        (None, "A bearer token is required: send Authorization: Bearer <token>."),
        ("Bearer not-a-jwt", "The bearer token is malformed: it is not a signed JWT."),
        ("Bearer " + mint(now=time.time() - 86400, ttl_seconds=60), "The bearer token has expired."),
        (
            "Bearer " + mint(secret="someone-elses-secret-0123456789abcdef"),
            "The bearer token's signature does not verify.",
        ),
        ("Bearer " + mint(issuer="https://elsewhere.example"), "The bearer token was issued by another issuer."),
        ("Bearer " + mint(audience="another-api"), "The bearer token is meant for another audience."),
        ("Bearer " + mint(roles=["superuser"]), "The token carries roles this API does not know: superuser."),
    ],
)
def test_a_401_says_why(server, header, reason):
    response = server.request("POST", "/plans", json={}, headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and error_of(response) == {
        "code": "unauthenticated",
        "message": reason,
        "details": {},
    }


# --- revisions: PUT what GET returned, PATCH a merge patch, If-Match, versions ----------------------


def test_a_plan_read_changed_in_one_field_and_put_back_is_the_next_version(server, admin):
    plan = publish(server, admin)
    path = f"/plans/{plan['plan_id']}"
    read = server.request("GET", path)
    assert read.headers["ETag"] == '"1"'
    changed = read.json() | {"base_fee_cents": 139_900}
    put = server.request("PUT", path, token=admin, json=changed, headers={"If-Match": read.headers["ETag"]})
    assert put.status_code == 200 and put.headers["ETag"] == '"2"'
    assert put.json() == changed | {"version": 2, "updated_at": put.json()["updated_at"]}
    stale = server.request("PUT", path, token=admin, json=changed, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and error_of(stale)["code"] == "precondition_failed"
    assert error_of(stale)["details"]["current_version"] == 2
    assert server.request("GET", path).json()["version"] == 2  # the stale write wrote nothing


def test_a_merge_patch_changes_only_what_it_names_and_honours_if_match(server, admin):
    plan = publish(server, admin)
    path = f"/plans/{plan['plan_id']}"
    patch = {"sla": {"tier": "platinum"}, "description": None, "usage_rates": {"planner": None}}
    response = server.request(
        "PATCH",
        path,
        token=admin,
        json=patch,
        headers={"If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (
        patched["version"] == 2
        and patched["sla"] == plan["sla"] | {"tier": "platinum"}
        and patched["description"] == ""
    )
    assert set(patched["usage_rates"]) == {"analytics"} and patched["base_fee_cents"] == plan["base_fee_cents"]
    stale = server.request("PATCH", path, token=admin, json={"name": "Late"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and server.request("GET", path).json()["name"] == plan["name"]
    versions = server.request("GET", f"{path}/versions").json()["items"]
    assert [(v["version"], v["sla"]["tier"]) for v in versions] == [(2, "platinum"), (1, plan["sla"]["tier"])]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "XAU"}, "currency"),
        ({"plan_id": "another-plan"}, "plan_id"),
        (
            {
                "features": [
                    {"key": "sso", "label": "SSO", "included": True},
                    {"key": "sso", "label": "Again", "included": False},
                ]
            },
            "features",
        ),
    ],
)
def test_revisions_refuse_unknown_currencies_repeated_feature_keys_and_another_plan_id(server, admin, change, field):
    plan = publish(server, admin)
    response = server.request("PUT", f"/plans/{plan['plan_id']}", token=admin, json=plan | change)
    assert response.status_code == 422 and [f["field"] for f in error_of(response)["details"]["fields"]] == [field]
    assert server.request("GET", f"/plans/{plan['plan_id']}").json() == plan


def test_publishing_in_a_currency_that_is_not_active_is_422(server, admin):
    response = server.request(
        "POST", "/plans", token=admin, json={"plan_id": new_plan_id(), **TERMS, "currency": "XYZ"}
    )
    assert response.status_code == 422 and error_of(response)["details"]["fields"][0]["field"] == "currency"
    assert publish(server, admin, currency="JPY")["currency"] == "JPY"


def test_a_known_path_with_another_method_is_405_with_allow_and_options_lists_them(server, admin):
    plan = publish(server, admin)
    refused = server.request("DELETE", f"/plans/{plan['plan_id']}", token=admin)
    assert refused.status_code == 405 and error_of(refused)["code"] == "method_not_allowed"
    assert refused.headers["Allow"] == "GET, PATCH, PUT, OPTIONS"
    assert server.request("PUT", "/plans").headers["Allow"] == "GET, POST, OPTIONS"
    options = server.request("OPTIONS", f"/plans/{plan['plan_id']}/versions")
    assert options.status_code == 204 and options.headers["Allow"] == "GET, OPTIONS"
    assert server.request("DELETE", "/no/such/path").status_code == 404
    assert server.request("GET", f"/plans/{plan['plan_id']}").json() == plan  # the path's own methods still answer


def test_cors_answers_only_the_configured_origins():
    from .server import LocalServer

    server = LocalServer(BILLING_CORS_ORIGINS="https://shop.example,https://admin.example")
    try:
        asked = {
            "Origin": "https://admin.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        preflight = server.request("OPTIONS", "/usage", headers=asked)
        assert (
            preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "https://admin.example"
        )
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
        catalog = server.request("GET", "/plans", headers={"Origin": "https://shop.example"})
        assert catalog.headers[
            "Access-Control-Allow-Origin"
        ] == "https://shop.example" and "ETag" in catalog.headers.get("Access-Control-Expose-Headers", "")
        elsewhere = server.request("GET", "/plans", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in elsewhere.headers
    finally:
        server.stop()
