"""Who may do what (API.md, "Callers, roles and residency"): the roles of the contract, the
permissions they hold for any organization or only for their own, and residency checks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from .errors import Forbidden, NotFound


class Role(StrEnum):
    ADMIN = "marketplace:admin"
    FINANCE = "finance"
    SERVICE = "service"
    ORG_ADMIN = "org:admin"
    ORG_MEMBER = "org:member"


ORGANIZATION_ROLES = frozenset({Role.ORG_ADMIN.value, Role.ORG_MEMBER.value})


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

    def authorize(self, permission: Permission) -> Caller:
        """403 unless some role of the caller's grants `permission` (for some organization)."""
        if self.holds(permission.any_organization):
            return self
        if self.organization_id and self.holds(permission.own_organization):
            return self
        raise Forbidden(f"Your roles do not allow this ({permission.name.lower()}).")

    def is_outsider(self, permission: Permission, organization_id: str) -> bool:
        """An organization-scoped caller looking at another organization's resource: it must get
        the very answer a missing resource gets (404), never a hint that the resource exists."""
        return (
            not self.holds(permission.any_organization)
            and bool(self.organization_id)
            and self.organization_id != organization_id
        )

    def authorize_for(
        self, permission: Permission, organization_id: str, *, hidden_as: NotFound | None = None
    ) -> Caller:
        """As `authorize`, for one organization's resource; an outsider gets `hidden_as` (404)."""
        if self.is_outsider(permission, organization_id):
            raise hidden_as or NotFound("No such resource.")
        if self.holds(permission.any_organization):
            return self
        if self.organization_id == organization_id and self.holds(permission.own_organization):
            return self
        raise Forbidden(f"Your roles do not allow this ({permission.name.lower()}).")


def require_residency(caller: Caller, residency: str) -> None:
    """Credit adjustments and invoices need the caller's residency claim to match the data's."""
    if caller.residency != residency:
        raise Forbidden(
            f"This subscription's data resides in '{residency}'; "
            f"your token's residency is '{caller.residency or 'none'}'.",
            code="residency_mismatch",
        )
