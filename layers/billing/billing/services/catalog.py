"""The plan catalog: partner listings, their versions, and the sandbox's default listing."""

from __future__ import annotations

from ..domain.errors import Conflict, NotFound, RetryableConflict
from ..domain.lab_standard import LAB_STANDARD_ID, lab_standard_terms
from ..domain.paging import Page
from ..domain.plans import Plan, PlanTerms
from .unit_of_work import Billing

REVISION_ATTEMPTS = 5


def list_catalog(billing: Billing, *, limit: int, cursor: str | None) -> Page[Plan]:
    """Active plans, cheapest base fee first. A sandbox whose catalog reads empty gets Lab Standard."""
    page = billing.plans.active_page(limit=limit, cursor=cursor)
    if page.items or cursor is not None or not billing.sandbox:
        return page
    seeded = seed_lab_standard(billing)
    return Page(items=[seeded] if seeded.is_active else [])


def seed_lab_standard(billing: Billing) -> Plan:
    """Create Lab Standard once: the conditional write lets exactly one of many racing first
    calls create it; the others read what the winner wrote."""
    plans = billing.plans
    existing = plans.current(LAB_STANDARD_ID)
    if existing is not None:
        return existing
    try:
        plans.add(Plan.first_version(LAB_STANDARD_ID, lab_standard_terms(), billing.now()))
    except (Conflict, RetryableConflict):
        pass  # a concurrent first call seeded it
    seeded = plans.current(LAB_STANDARD_ID)
    if seeded is None:  # pragma: no cover - only if the winner's write vanished
        raise RetryableConflict("The default plan is being created; retry.")
    return seeded


def get_plan(billing: Billing, plan_id: str, *, version: int | None = None) -> Plan:
    plans = billing.plans
    plan = plans.current(plan_id) if version is None else plans.version(plan_id, version)
    if plan is None:
        suffix = f" version {version}" if version is not None else ""
        raise NotFound(f"No plan '{plan_id}'{suffix}.")
    return plan


def publish_plan(billing: Billing, plan_id: str, terms: PlanTerms) -> Plan:
    plan = Plan.first_version(plan_id, terms, billing.now())
    billing.plans.add(plan)
    return plan


def revise_plan(billing: Billing, plan_id: str, terms: PlanTerms) -> Plan:
    """Write the terms as version n+1. Concurrent revisions each get their own version
    (optimistic concurrency on the current version, retried a bounded number of times)."""
    now = billing.now()
    for _ in range(REVISION_ATTEMPTS):
        current = get_plan(billing, plan_id)
        if not current.is_active:
            raise Conflict(f"Plan '{plan_id}' is archived and can no longer be revised.", code="plan_archived")
        revised = current.revised(terms, now)
        try:
            billing.plans.replace(revised, expected_version=current.version)
            return revised
        except RetryableConflict:
            continue
    raise RetryableConflict(f"Plan '{plan_id}' is being revised concurrently; retry.")


def archive_plan(billing: Billing, plan_id: str) -> Plan:
    """Take the listing out of the catalog. Subscriptions on it go on; archiving twice is a no-op."""
    get_plan(billing, plan_id)
    return billing.plans.archive(plan_id, billing.now())
