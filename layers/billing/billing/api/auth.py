"""The authorizer's side of callers: the context it hands to functions, the policy it returns,
and turning that context back into a `Caller` inside a function."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..domain.access import Caller, Permission, Role, require_residency  # noqa: F401 - re-exported for handlers
from ..domain.errors import Unauthenticated


def caller_from_authorizer(context: Mapping[str, Any] | None) -> Caller:
    """The authorizer's context holds strings only: roles arrive as a JSON list, which no role
    name can break out of (a comma-joined list let `"org:member,marketplace:admin"` become two)."""
    if not context or not context.get("sub"):
        raise Unauthenticated("A valid bearer token is required.")
    try:
        roles = json.loads(context.get("roles") or "[]")
    except ValueError:
        roles = None
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("The authorizer passed no readable roles.")
    return Caller(
        principal=str(context["sub"]),
        roles=frozenset(roles),
        organization_id=(str(context.get("org") or "").strip() or None),
        residency=(str(context.get("residency") or "").strip().lower() or None),
    )


def authorizer_context(claims: Mapping[str, Any]) -> dict[str, str]:
    """The inverse of `caller_from_authorizer`: what the authorizer puts in its context."""
    return {
        "sub": str(claims["sub"]),
        "roles": json.dumps(list(claims.get("roles") or [])),
        "org": str(claims.get("org") or ""),
        "residency": str(claims.get("residency") or ""),
    }


def deny_policy(method_arn: str, reason: str) -> dict[str, Any]:
    """A refused token: API Gateway answers with the ACCESS_DENIED gateway response, which the
    template makes a 401 whose message is `reason` (so a 401 says why). The reason goes into a
    JSON template as is: keep it to plain printable text without quotes or backslashes."""
    plain = "".join(c for c in reason if c.isprintable() and c not in '"\\')[:300]
    return {
        "principalId": "refused",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": method_arn}],
        },
        "context": {"reason": plain},
    }


def allow_policy(method_arn: str, claims: Mapping[str, Any]) -> dict[str, Any]:
    """A TOKEN authorizer's answer. The policy covers every route of the stage (not just the one
    asked for) because API Gateway caches it per token and reuses it on other routes; what a
    caller may do is decided by the functions from the roles in the context."""
    arn_prefix, _, route = method_arn.partition("/")
    api_id_stage = "/".join([arn_prefix, *route.split("/")[:1]])
    return {
        "principalId": str(claims["sub"]),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{api_id_stage}/*"}],
        },
        "context": authorizer_context(claims),
    }
