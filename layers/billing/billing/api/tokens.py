"""Bearer tokens (JWT). Verification is the authorizer's job; minting is for the local stack
and tests only. HS256 with a shared secret for local/sandbox, or RS256/ES256 against an
identity provider's JWKS (Cognito, any OIDC) when `BILLING_JWKS_URL` is set.
Only the authorizer function ships PyJWT, so only it (and local tooling) imports this module."""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import jwt
from msgspec import Struct

from ..domain.access import ORGANIZATION_ROLES, Role
from ..domain.errors import Unauthenticated

CONTRACT_ROLES = frozenset(role.value for role in Role)

LOCAL_SECRET = "local-dev-secret"
LOCAL_ISSUER = "billing-local"
AUDIENCE = "billing-api"


class TokenSettings(Struct, frozen=True):
    issuer: str
    audience: str
    secret: str | None = None
    jwks_url: str | None = None
    roles_claim: str = "roles"
    org_claim: str = "org"
    residency_claim: str = "residency"
    leeway_seconds: int = 30

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> TokenSettings:
        settings = cls(
            issuer=environ.get("BILLING_JWT_ISSUER") or LOCAL_ISSUER,
            audience=environ.get("BILLING_JWT_AUDIENCE") or AUDIENCE,
            secret=environ.get("BILLING_JWT_SECRET") or None,
            jwks_url=environ.get("BILLING_JWKS_URL") or None,
            roles_claim=environ.get("BILLING_JWT_ROLES_CLAIM") or "roles",
            org_claim=environ.get("BILLING_JWT_ORG_CLAIM") or "org",
            residency_claim=environ.get("BILLING_JWT_RESIDENCY_CLAIM") or "residency",
        )
        if not settings.secret and not settings.jwks_url:
            raise ValueError("Set BILLING_JWKS_URL (identity provider) or BILLING_JWT_SECRET (sandbox).")
        return settings


class TokenVerifier:
    def __init__(self, settings: TokenSettings):
        self.settings = settings

    @cached_property
    def _jwks(self) -> jwt.PyJWKClient:
        # Keys are cached across invocations of a warm container.
        return jwt.PyJWKClient(self.settings.jwks_url, cache_keys=True, lifespan=3600)

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """The billing claims of a verified bearer token: sub, roles, org, residency."""
        token = _bearer(authorization)
        settings = self.settings
        try:
            if settings.jwks_url:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256", "ES256"]
            else:
                key, algorithms = settings.secret, ["HS256"]
            raw = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError) as error:
            raise Unauthenticated(_why_refused(error)) from None
        _require_numeric_dates(raw)
        return _billing_claims(raw, settings)


def _require_numeric_dates(raw: Mapping[str, Any]) -> None:
    """RFC 7519 times are JSON numbers; PyJWT reads `"exp": "1893456000"` as one. The same
    strictness as every other field: a string (or a boolean) is no time."""
    for claim in ("exp", "nbf", "iat"):
        moment = raw.get(claim)
        if claim in raw and (isinstance(moment, bool) or not isinstance(moment, (int, float))):
            raise Unauthenticated(f"The bearer token's '{claim}' claim must be a JSON number of seconds.")


def _why_refused(error: Exception) -> str:
    """A reason a client developer can act on, in plain words (not the library's)."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"The bearer token has no '{error.claim}' claim."
    reasons = [
        (jwt.ExpiredSignatureError, "The bearer token has expired."),
        (jwt.ImmatureSignatureError, "The bearer token is not valid yet."),
        (jwt.InvalidIssuerError, "The bearer token was issued by another issuer."),
        (jwt.InvalidAudienceError, "The bearer token is meant for another audience."),
        (jwt.InvalidSignatureError, "The bearer token's signature does not verify."),
        (jwt.InvalidAlgorithmError, "The bearer token is signed with an algorithm this API does not accept."),
        (jwt.DecodeError, "The bearer token is malformed: it is not a signed JWT."),
    ]
    return next((reason for kind, reason in reasons if isinstance(error, kind)), "The bearer token was refused.")


def _billing_claims(raw: Mapping[str, Any], settings: TokenSettings) -> dict[str, Any]:
    """Only the contract's roles, and an organization-scoped caller always with its organization
    and residency: a token outside these is refused whole rather than half-understood."""
    roles = raw.get(settings.roles_claim) or []
    if isinstance(roles, str):
        roles = roles.split()  # a space-separated claim, as OAuth scopes are written
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("The token's roles claim must be a list of strings.")
    unknown = sorted(set(roles) - CONTRACT_ROLES)
    if unknown:
        raise Unauthenticated(
            f"The token carries roles this API does not know: {', '.join(r[:64] for r in unknown[:5])}."
        )
    org, residency = raw.get(settings.org_claim) or None, raw.get(settings.residency_claim) or None
    if not all(isinstance(v, str) for v in (org, residency) if v is not None):
        raise Unauthenticated("The token's organization and residency claims must be strings.")
    if org or ORGANIZATION_ROLES & set(roles):
        if not org or not residency:
            raise Unauthenticated("An organization's token must carry both its organization and its residency.")
    return {"sub": str(raw["sub"]), "roles": roles, "org": org, "residency": residency}


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("An 'Authorization: Bearer <token>' header is required.")
    return token.strip()


def mint_token(
    *,
    sub: str,
    roles: list[str],
    org: str | None = None,
    residency: str | None = None,
    secret: str = LOCAL_SECRET,
    issuer: str = LOCAL_ISSUER,
    audience: str = AUDIENCE,
    ttl_seconds: int = 12 * 3600,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": roles,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    if org:
        claims["org"] = org
    if residency:
        claims["residency"] = residency
    return jwt.encode(claims, secret, algorithm="HS256")
