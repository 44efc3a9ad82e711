"""Callers, roles and bearer tokens."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from billing.api.auth import Caller, Permission, allow_policy, caller_from_authorizer
from billing.api.tokens import TokenSettings, TokenVerifier, mint_token
from billing.domain.errors import Forbidden, NotFound, Unauthenticated

LOCAL = TokenSettings(issuer="billing-local", audience="billing-api", secret="local-dev-secret")


def caller(*roles, org=None):
    return Caller("someone", frozenset(roles), org, "us")


@pytest.mark.parametrize(
    "permission, allowed",
    [
        (Permission.MANAGE_PLANS, {"marketplace:admin"}),
        (Permission.ADJUST_CREDITS, {"marketplace:admin"}),
        (Permission.RECORD_USAGE, {"marketplace:admin", "service"}),
        (Permission.MANAGE_INVOICES, {"marketplace:admin", "finance"}),
        (Permission.READ_BILLING, {"marketplace:admin", "finance", "org:admin", "org:member"}),
        (Permission.MANAGE_SUBSCRIPTION, {"marketplace:admin", "org:admin"}),
    ],
)
def test_roles_hold_the_permissions_of_the_contract(permission, allowed):
    for role in ("marketplace:admin", "finance", "service", "org:admin", "org:member"):
        org = "org-1" if role.startswith("org:") else None
        if role in allowed:
            caller(role, org=org).authorize_for(permission, "org-1")
        else:
            with pytest.raises(Forbidden):
                caller(role, org=org).authorize_for(permission, "org-1")


def test_organization_callers_get_404_for_other_organizations():
    with pytest.raises(NotFound):
        caller("org:admin", org="org-1").authorize_for(Permission.READ_BILLING, "org-2")
    caller("finance").authorize_for(Permission.READ_BILLING, "org-2")


def test_an_org_role_without_an_org_claim_holds_nothing():
    with pytest.raises(Forbidden):
        caller("org:admin").authorize(Permission.MANAGE_SUBSCRIPTION)


def test_authorizer_context_round_trips_into_a_caller():
    claims = TokenVerifier(LOCAL).claims(
        "Bearer " + mint_token(sub="u1", roles=["finance", "org:member"], org="org-9", residency="EU")
    )
    policy = allow_policy("arn:aws:execute-api:us-east-1:123:abc/dev/POST/api/billing/plans", claims)
    assert policy["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:123:abc/dev/*"
    who = caller_from_authorizer(policy["context"])
    assert who == Caller("u1", frozenset({"finance", "org:member"}), "org-9", "eu")
    with pytest.raises(Unauthenticated):
        caller_from_authorizer(None)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "Bearer not.a.jwt",
        "Bearer " + mint_token(sub="u", roles=["finance"], secret="someone-elses-secret"),
        "Bearer " + mint_token(sub="u", roles=["finance"], now=time.time() - 7200, ttl_seconds=600),
        "Bearer " + mint_token(sub="u", roles=["finance"], audience="another-api"),
        "Bearer " + mint_token(sub="u", roles=["finance"], issuer="https://evil.example"),
        "Bearer "
        + jwt.encode(
            {"sub": "u", "roles": [], "iss": "billing-local", "aud": "billing-api"}, "local-dev-secret"
        ),  # no exp
        "Bearer "
        + jwt.encode(
            {"sub": "u", "roles": [], "iss": "billing-local", "aud": "billing-api", "exp": 9e9}, None, algorithm="none"
        ),
    ],
)
def test_missing_expired_and_forged_tokens_are_refused(header):
    with pytest.raises(Unauthenticated):
        TokenVerifier(LOCAL).claims(header)


def test_roles_may_come_from_another_claim_as_a_string():
    settings = TokenSettings(issuer="billing-local", audience="billing-api", secret="s", roles_claim="cognito:groups")
    token = jwt.encode(
        {
            "sub": "u",
            "cognito:groups": "finance org:member",
            "org": "org-1",
            "residency": "us",
            "iss": "billing-local",
            "aud": "billing-api",
            "exp": time.time() + 60,
        },
        "s",
    )
    assert TokenVerifier(settings).claims(f"Bearer {token}")["roles"] == ["finance", "org:member"]


def test_tokens_from_an_identity_provider_are_checked_against_its_jwks():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [public | {"kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        issuer = "https://idp.example/pool"
        settings = TokenSettings(
            issuer=issuer,
            audience="client-1",
            jwks_url=f"http://127.0.0.1:{server.server_port}/jwks.json",
            org_claim="custom:org",
        )
        claims = {
            "sub": "u",
            "roles": ["org:admin"],
            "custom:org": "org-7",
            "residency": "eu",
            "iss": issuer,
            "aud": "client-1",
            "exp": time.time() + 60,
        }
        good = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        assert TokenVerifier(settings).claims(f"Bearer {good}") == {
            "sub": "u",
            "roles": ["org:admin"],
            "org": "org-7",
            "residency": "eu",
        }
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "k1"})
        with pytest.raises(Unauthenticated):
            TokenVerifier(settings).claims(f"Bearer {forged}")
        hs_confusion = jwt.encode(claims, "guess", algorithm="HS256", headers={"kid": "k1"})
        with pytest.raises(Unauthenticated):
            TokenVerifier(settings).claims(f"Bearer {hs_confusion}")
    finally:
        server.shutdown()


def test_settings_need_a_secret_or_a_jwks_url():
    with pytest.raises(ValueError):
        TokenSettings.from_environment({})
    assert TokenSettings.from_environment({"BILLING_JWKS_URL": "https://idp/jwks"}).jwks_url == "https://idp/jwks"


def verified(**claims):
    raw = {"sub": "u", "iss": "billing-local", "aud": "billing-api", "exp": time.time() + 60} | claims
    return TokenVerifier(LOCAL).claims("Bearer " + jwt.encode(raw, "local-dev-secret"))


@pytest.mark.parametrize(
    "roles", [["org:member,marketplace:admin"], ["superuser"], ["finance", "Finance"], "org:member,finance"]
)
def test_tokens_with_roles_outside_the_contract_are_refused_whole(roles):
    with pytest.raises(Unauthenticated, match="roles this API does not know"):
        verified(roles=roles, org="org-1", residency="us")


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": ["org:admin"], "org": "org-1"},
        {"roles": ["org:member"], "residency": "us"},
        {"roles": ["finance"], "org": "org-1"},
        {"roles": ["org:admin"], "org": 7, "residency": "us"},
    ],
)
def test_organization_tokens_carry_their_organization_and_residency(claims):
    with pytest.raises(Unauthenticated):
        verified(**claims)


def test_roles_reach_the_function_in_a_form_no_role_name_can_split():
    context = allow_policy("arn:aws:execute-api:us-east-1:123:abc/dev/GET/x", verified(roles=["finance"]))["context"]
    assert json.loads(context["roles"]) == ["finance"]
    with pytest.raises(Unauthenticated):  # a comma-joined string (the old form) is not read as roles
        caller_from_authorizer(context | {"roles": "org:member,marketplace:admin"})
    joined = caller_from_authorizer(context | {"roles": json.dumps(["org:member,marketplace:admin"])})
    assert joined.roles == {"org:member,marketplace:admin"} and not joined.holds(
        Permission.MANAGE_PLANS.any_organization
    )
