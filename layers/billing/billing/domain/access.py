"""Who may do what (API.md, "Callers, roles and residency"): the roles of the contract, the
permissions they hold for any organization or only for their own, and residency checks."""

from __future__ import annotations

from enum import Enum, StrEnum

from msgspec import Struct

from .errors import Forbidden, NotFound


class Role(StrEnum):
    ADMIN = "marketplace:admin"
    FINANCE = "finance"
    SERVICE = "service"
    ORG_ADMIN = "org:admin"
    ORG_MEMBER = "org:member"


ORGANIZATION_ROLES = frozenset({Role.ORG_ADMIN.value, Role.ORG_MEMBER.value})


class Permission(Enum):
    """Each value: its name in error messages, the roles that hold it for any organization, and
    those that hold it for their own. The name keeps values distinct: two permissions held by the
    same roles would otherwise be one enum member under two names (and a 403 would name the other)."""

    MANAGE_PLANS = ("manage_plans", frozenset({Role.ADMIN}), frozenset())
    MANAGE_SUBSCRIPTION = ("manage_subscription", frozenset({Role.ADMIN}), frozenset({Role.ORG_ADMIN}))
    READ_BILLING = ("read_billing", frozenset({Role.ADMIN, Role.FINANCE}), frozenset({Role.ORG_ADMIN, Role.ORG_MEMBER}))
    ADJUST_CREDITS = ("adjust_credits", frozenset({Role.ADMIN}), frozenset())
    RECORD_USAGE = ("record_usage", frozenset({Role.ADMIN, Role.SERVICE}), frozenset())
    MANAGE_INVOICES = ("manage_invoices", frozenset({Role.ADMIN, Role.FINANCE}), frozenset())
    LIST_ACROSS_ORGANIZATIONS = ("list_across_organizations", frozenset({Role.ADMIN, Role.FINANCE}), frozenset())
    CORRECT_USAGE = ("correct_usage", frozenset({Role.ADMIN, Role.FINANCE, Role.SERVICE}), frozenset())
    MANAGE_BILLING_PROFILE = ("manage_billing_profile", frozenset({Role.ADMIN}), frozenset({Role.ORG_ADMIN}))

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def any_organization(self) -> frozenset[Role]:
        return self.value[1]

    @property
    def own_organization(self) -> frozenset[Role]:
        return self.value[2]

    def refused(self) -> Forbidden:
        """The 403 for a caller none of whose roles holds this permission: it names the permission."""
        holders = sorted(r.value for r in self.any_organization | self.own_organization)
        return Forbidden(
            f"Your roles do not allow this: it needs the {self.label} permission ({', '.join(holders)}).",
            details={"permission": self.label, "roles": holders},
        )


class Caller(Struct, frozen=True):
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
        raise permission.refused()

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
        raise permission.refused()


def require_residency(caller: Caller, residency: str) -> None:
    """Credit adjustments and invoices need the caller's residency claim to match the data's."""
    if caller.residency != residency:
        raise Forbidden(
            f"This subscription's data resides in '{residency}'; "
            f"your token's residency is '{caller.residency or 'none'}'.",
            code="residency_mismatch",
        )
