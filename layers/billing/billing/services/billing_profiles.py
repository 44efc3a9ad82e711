"""Organizations' billing profiles: what their invoices are addressed to.

A profile is kept in the organization's residency: the residency its callers act in (the token's
`residency` claim, which for an organization's own users is its residency), which must be one this
deployment serves and, where the organization has an active subscription, that subscription's. It
stays there: a profile kept in one residency is never rewritten from another."""

from __future__ import annotations

from ..domain.access import Caller, Permission, require_residency
from ..domain.billing_profiles import BillingProfile, BillingProfileRequest
from ..domain.errors import Forbidden, NotFound
from .unit_of_work import Billing


def _missing(organization_id: str) -> NotFound:
    """Also what another organization's callers get: byte for byte the answer for none."""
    return NotFound(f"No billing profile for organization '{organization_id[:128]}'.")


def _residency_of(billing: Billing, caller: Caller, organization_id: str) -> str:
    residency = caller.residency
    if not residency:
        raise Forbidden("Your token carries no residency to keep this profile in.", code="residency_mismatch")
    if residency not in billing.residencies:
        raise Forbidden(
            f"This deployment does not serve residency '{residency}'.",
            code="residency_not_served",
            details={"served": list(billing.residencies)},
        )
    active = billing.subscriptions.active_for(organization_id)
    if active is not None:
        require_residency(caller, active.residency)
    return residency


def save_billing_profile(
    billing: Billing, caller: Caller, organization_id: str, request: BillingProfileRequest
) -> BillingProfile:
    """Create or replace the profile (org:admin of the organization, marketplace:admin)."""
    caller.authorize_for(Permission.MANAGE_BILLING_PROFILE, organization_id, hidden_as=_missing(organization_id))
    profile = BillingProfile(
        **dict(request),
        organization_id=organization_id,
        residency=_residency_of(billing, caller, organization_id),
        updated_at=billing.now(),
    )
    billing.invoices.save_billing_profile(profile)
    return profile


def get_billing_profile(billing: Billing, caller: Caller, organization_id: str) -> BillingProfile:
    """The organization's own users, and finance and staff of its residency."""
    caller.authorize_for(Permission.READ_BILLING, organization_id, hidden_as=_missing(organization_id))
    profile = billing.invoices.billing_profile(organization_id)
    if profile is None:
        raise _missing(organization_id)
    if caller.holds(Permission.READ_BILLING.any_organization):
        require_residency(caller, profile.residency)
    return profile
