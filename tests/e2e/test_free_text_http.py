"""Bidirectional controls (U+202E right-to-left override and its kin) make text display otherwise
than it reads: every free-text field of every request refuses them, 422 naming the field, as
organization ids already did. The fields come from the OpenAPI document's request bodies."""

import uuid

import pytest

from .test_plans_http import TERMS, error_of, new_plan_id
from .test_strict_types_http import PREFIX, nested, typed_fields
from .test_subscriptions_http import new_org, subscribe
from .test_usage_http import usage_body

BIDI_CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
BIDI_CONTROLS += ["\u200e", "\u200f", "\u061c"]
IGNORED = {"plan_id", "status", "created_at", "updated_at"}  # read-only fields a PUT may echo back, ignored


def named_fields(response) -> set[str]:
    return {f["field"] for f in error_of(response)["details"]["fields"] if f["location"] == "body"}


@pytest.fixture(scope="module")
def ids(server):
    from billing.api.tokens import mint_token

    admin = mint_token(sub="text|admin", roles=["marketplace:admin"], residency="us")
    server.request("GET", "/plans")
    org = new_org()
    body = {"plan_id": "lab-standard", "residency": "us", "sla_acceptance": {"accepted_by": "a", "sla_version": "1"}}
    sid = server.request("POST", f"/organizations/{org}/subscriptions", token=admin, json=body).json()
    plan = new_plan_id()
    assert server.request("POST", "/plans", token=admin, json={"plan_id": plan, **TERMS}).status_code == 201
    return {"organization_id": org, "subscription_id": sid["subscription_id"], "plan_id": plan, "admin": admin}


def test_every_free_text_field_refuses_each_bidi_control_naming_the_field(server, ids):
    fields = [
        f for f in typed_fields(server.request("GET", "/openapi.json").json(), ("text",)) if f[2][-1] not in IGNORED
    ]
    assert {"name", "description", "label", "reason", "accepted_by", "unit"} <= {f[2][-1] for f in fields}
    accepted = []
    for method, path, where, _ in fields:
        for control in BIDI_CONTROLS:
            text = f"Lab {control}gnp.exe"
            response = server.request(
                method,
                path.removeprefix(PREFIX).format(
                    grant_id="g", hold_id="h", invoice_id="i", credit_note_id="c", event_id="e", **ids
                ),
                token=ids["admin"],
                json=nested(where, text),
            )
            named = ".".join(str(step) for step in where)
            if response.status_code != 422 or named not in named_fields(response):
                accepted.append((method, path, named, hex(ord(control)), response.status_code))
    assert accepted == []


def test_a_plan_name_or_a_reason_with_an_override_writes_nothing_and_plain_text_passes(server, token):
    admin = token("marketplace:admin")
    plan = new_plan_id()
    refused = server.request("POST", "/plans", token=admin, json={"plan_id": plan, **TERMS, "name": "Pro \u202egnp"})
    assert refused.status_code == 422 and named_fields(refused) == {"name"}
    assert server.request("GET", f"/plans/{plan}").status_code == 404
    org = new_org()
    sid = subscribe(server, token, org)["subscription_id"]
    body = {"amount": "5", "type": "top_up", "idempotency_key": uuid.uuid4().hex}
    refused = server.request("POST", f"/subscriptions/{sid}/credits", token=admin, json=body | {"reason": "\u2067x"})
    assert refused.status_code == 422 and named_fields(refused) == {"reason"}
    accepted = server.request(
        "POST", f"/subscriptions/{sid}/credits", token=admin, json=body | {"reason": "مرحبا pack"}
    )
    assert accepted.status_code == 201, accepted.text  # right-to-left text itself is welcome


@pytest.mark.parametrize(
    "change, field",
    [
        ({"metadata": {"note": "a\u202eb"}}, "metadata.note"),
        ({"source": {"kind": "run", "id": "r\u20661"}}, "source.id"),
    ],
)
def test_usage_text_values_refuse_bidi_controls(server, token, ids, change, field):
    response = server.request(
        "POST", "/usage", token=token("service"), json=usage_body(ids["organization_id"]) | change
    )
    assert response.status_code == 422 and field in named_fields(response), response.text


def test_a_feature_limit_given_as_text_refuses_bidi_controls(server, token):
    features = [{"key": "seats", "label": "Seats", "included": True, "limit": "un\u202elimited"}]
    response = server.request(
        "POST",
        "/plans",
        token=token("marketplace:admin"),
        json={"plan_id": new_plan_id(), **TERMS, "features": features},
    )
    assert response.status_code == 422 and "features.0.limit" in named_fields(response), response.text


@pytest.mark.parametrize("control", ["\u0000", "\u001b", "\u007f", "\u0008"])
def test_a_reason_with_a_control_character_is_refused_while_tabs_and_line_breaks_pass(server, token, control):
    admin = token("marketplace:admin")
    sid = subscribe(server, token, new_org())["subscription_id"]
    body = {"amount": "5", "type": "top_up", "idempotency_key": uuid.uuid4().hex}
    path = f"/subscriptions/{sid}/credits"
    refused = server.request("POST", path, token=admin, json=body | {"reason": f"ok{control}"})
    assert refused.status_code == 422 and named_fields(refused) == {"reason"}, refused.text
    fine = server.request("POST", path, token=admin, json=body | {"reason": "line one\n\tline two"})
    assert fine.status_code == 201, fine.text
