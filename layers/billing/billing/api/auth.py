"""Callers and what their roles allow (API.md, "Callers, roles and residency").

The API Gateway authorizer has already verified the token; it hands the claims to the
function in `requestContext.authorizer`. Here they become a `Caller` with role checks."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

from ..domain.errors import Forbidden, NotFound, Unauthenticated


class Role(str, Enum):
    ADMIN = "marketplace:admin"
    FINANCE = "finance"
    SERVICE = "service"
    ORG_ADMIN = "org:admin"
    ORG_MEMBER = "org:member"


class Permission(Enum):
    """Each value: the roles that hold it for any organization, and those that hold it for their own."""

    MANAGE_PLANS = (frozenset({Role.ADMIN}), frozenset())
    MANAGE_SUBSCRIPTION = (frozenset({Role.ADMIN}), frozenset({Role.ORG_ADMIN}))
    READ_BILLING = (frozenset({Role.ADMIN, Role.FINANCE}), frozenset({Role.ORG_ADMIN, Role.ORG_MEMBER}))
    ADJUST_CREDITS = (frozenset({Role.ADMIN}), frozenset())
    RECORD_USAGE = (frozenset({Role.ADMIN, Role.SERVICE}), frozenset())
    MANAGE_INVOICES = (frozenset({Role.ADMIN, Role.FINANCE}), frozenset())

    @property
    def any_organization(self) -> frozenset[Role]:
        return self.value[0]

    @property
    def own_organization(self) -> frozenset[Role]:
        return self.value[1]


@dataclass(frozen=True)
class Caller:
    principal: str
    roles: frozenset[str]
    organization_id: str | None
    residency: str | None

    def holds(self, roles: frozenset[Role]) -> bool:
        return any(role.value in self.roles for role in roles)

    def authorize(self, permission: Permission) -> "Caller":
        """403 unless some role of the caller's grants `permission` (for some organization)."""
        if self.holds(permission.any_organization):
            return self
        if self.organization_id and self.holds(permission.own_organization):
            return self
        raise Forbidden(f"Your roles do not allow this ({permission.name.lower()}).")

    def authorize_for(self, permission: Permission, organization_id: str) -> "Caller":
        """As `authorize`, for one organization's resource. An organization-scoped caller asking
        about another organization gets 404, never a hint that the resource exists."""
        if self.holds(permission.any_organization):
            return self
        if self.organization_id == organization_id and self.holds(permission.own_organization):
            return self
        if self.organization_id and self.organization_id != organization_id:
            raise NotFound("No such resource.")
        raise Forbidden(f"Your roles do not allow this ({permission.name.lower()}).")


def caller_from_authorizer(context: Mapping[str, Any] | None) -> Caller:
    """The authorizer's context holds strings only: roles arrive comma-joined."""
    if not context or not context.get("sub"):
        raise Unauthenticated("A valid bearer token is required.")
    roles = context.get("roles") or ""
    return Caller(
        principal=str(context["sub"]),
        roles=frozenset(r.strip() for r in str(roles).split(",") if r.strip()),
        organization_id=(str(context.get("org") or "").strip() or None),
        residency=(str(context.get("residency") or "").strip().lower() or None),
    )


def authorizer_context(claims: Mapping[str, Any]) -> dict[str, str]:
    """The inverse of `caller_from_authorizer`: what the authorizer puts in its context."""
    return {
        "sub": str(claims["sub"]),
        "roles": ",".join(claims.get("roles") or []),
        "org": str(claims.get("org") or ""),
        "residency": str(claims.get("residency") or ""),
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
