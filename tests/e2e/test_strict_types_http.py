"""One strictness for every count and switch (issue 20): a request field the contract types as an
integer takes a JSON number and one typed as a boolean takes true or false; a string, or the other
type, is 422 naming the field and writes nothing. The fields are read from the service's own
OpenAPI document, so a field added later is covered without a change here."""

import time
import uuid

import jwt
import pytest

from billing.api.tokens import AUDIENCE, LOCAL_ISSUER, LOCAL_SECRET

from .test_plans_http import error_of, new_plan_id, publish
from .test_subscriptions_http import new_org, subscribe

PREFIX = "/api/billing"
WRONG = {"integer": ["5", "1e2", True, 5.5], "boolean": ["yes", "true", 1, 0, None]}


def typed_fields(document: dict, kinds=("integer", "boolean")) -> list[tuple[str, str, tuple, str]]:
    """(method, path, field path, type) for every field of those types in every request body
    ("text": a string without a pattern, a format or a list of values: free text)."""
    schemas = document["components"]["schemas"]

    def resolved(schema):
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def walk(schema, where):
        schema = resolved(schema)
        for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
            yield from walk(alternative, where)
        kind = schema.get("type")
        if kind == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
            kind = "text"
        if kind in kinds:
            yield where, kind
        for name, field in schema.get("properties", {}).items():
            yield from walk(field, (*where, name))
        if isinstance(schema.get("items"), dict):
            yield from walk(schema["items"], (*where, 0))

    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            found += [(method.upper(), path, where, kind) for where, kind in walk(body or {}, ())]
    return found


def nested(where: tuple, value):
    """A body holding `value` at `where` alone: ("features", 0, "included") -> {"features": [{...}]}."""
    for step in reversed(where):
        value = [value] if isinstance(step, int) else {step: value}
    return value


@pytest.fixture(scope="module")
def fields_and_ids(server):
    from billing.api.tokens import mint_token

    admin = mint_token(sub="strict|admin", roles=["marketplace:admin"], residency="us")
    document = server.request("GET", "/openapi.json").json()
    org = new_org()
    server.request("GET", "/plans")
    sid = server.request(
        "POST",
        f"/organizations/{org}/subscriptions",
        token=admin,
        json={
            "plan_id": "lab-standard",
            "residency": "us",
            "sla_acceptance": {"accepted_by": "grace@lab.example", "sla_version": "1"},
        },
    ).json()["subscription_id"]
    plan = publish(server, admin)["plan_id"]
    ids = {"organization_id": org, "subscription_id": sid, "plan_id": plan, "grant_id": "g", "hold_id": "h"}
    ids |= {"invoice_id": "i", "credit_note_id": "c", "event_id": "e"}  # bodies are checked before ids are looked up
    return typed_fields(document), ids, admin


def test_the_walk_finds_the_counts_and_switches_the_contract_names(fields_and_ids):
    fields, _, _ = fields_and_ids
    names = {where[-1] for _, _, where, _ in fields}
    assert {"priority", "max_per_period", "enabled", "included", "expires_in_seconds", "price_cents"} <= names


def test_a_string_or_another_type_for_any_integer_or_boolean_field_is_422_naming_it(server, fields_and_ids):
    fields, ids, admin = fields_and_ids
    accepted = []
    for method, path, where, kind in fields:
        for wrong in WRONG[kind]:
            response = server.request(
                method, path.removeprefix(PREFIX).format(**ids), token=admin, json=nested(where, wrong)
            )
            named = ".".join(str(step) for step in where)
            error = error_of(response) if response.status_code >= 400 else {}
            fields_named = {(f["field"], f["location"]) for f in error.get("details", {}).get("fields", [])}
            if response.status_code != 422 or (named, "body") not in fields_named:
                accepted.append((method, path, named, wrong, response.status_code, response.text[:200]))
    assert accepted == []


def test_the_same_fields_take_their_json_types(server, token):
    """The strictness refuses strings, not the values the contract asks for."""
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    admin = token("marketplace:admin")
    grant = {"amount": "5", "kind": "promotional", "reason": "promo", "idempotency_key": uuid.uuid4().hex}
    created = server.request("POST", f"/subscriptions/{sid}/grants", token=admin, json=grant | {"priority": 5})
    assert created.status_code == 201 and created.json()["priority"] == 5, created.text
    auto = {"enabled": True, "threshold_credits": "10", "amount": "50", "max_per_period": 2}
    settings = server.request("PUT", f"/subscriptions/{sid}/settings", token=admin, json={"auto_top_up": auto})
    assert settings.status_code == 200 and settings.json()["auto_top_up"]["enabled"] is True, settings.text
    plan = publish(server, admin, plan_id=new_plan_id())
    assert all(isinstance(f["included"], bool) for f in plan["features"])


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_a_token_whose_time_claim_is_a_numeric_string_is_401(server, claim):
    now = int(time.time())
    claims = {"sub": "u", "roles": ["marketplace:admin"], "residency": "us", "iss": LOCAL_ISSUER, "aud": AUDIENCE}
    claims |= {"iat": now, "exp": now + 3600} | {claim: str(now + 3600 if claim == "exp" else now - 60)}
    token = jwt.encode(claims, LOCAL_SECRET, algorithm="HS256")
    response = server.request("POST", "/plans", token=token, json={})
    assert response.status_code == 401 and f"'{claim}'" in error_of(response)["message"], response.text
