"""The plan catalog: partner listings, their versions, and the sandbox's default listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ..domain.errors import Conflict, NotFound, PreconditionFailed, RetryableConflict, ValidationFailed
from ..domain.lab_standard import LAB_STANDARD_ID, lab_standard_terms
from ..domain.paging import Page
from ..domain.plans import Plan, PlanRevision, PlanTerms, active_currency, merge_patch
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
    _require_active_currency(terms)
    plan = Plan.first_version(plan_id, terms, billing.now())
    billing.plans.add(plan)
    return plan


def list_versions(billing: Billing, plan_id: str, *, limit: int, cursor: str | None) -> Page[Plan]:
    """Every version of a plan, newest first (subscriptions stay on the version they signed up to)."""
    get_plan(billing, plan_id)
    return billing.plans.versions_page(plan_id, limit=limit, cursor=cursor)


def revise_plan(billing: Billing, plan_id: str, revision: PlanTerms, *, if_match: int | None = None) -> Plan:
    """Write the terms as version n+1. Without `if_match`, concurrent revisions each get their own
    version (optimistic concurrency on the current version, retried a bounded number of times);
    with it, the revision applies only to that version (412 once the plan has moved on)."""
    terms = _terms_of(revision, plan_id)
    return _revise(billing, plan_id, lambda _current: terms, if_match=if_match)


def patch_plan(billing: Billing, plan_id: str, patch: dict[str, Any], *, if_match: int | None = None) -> Plan:
    """A JSON merge patch (RFC 7396) of the current terms, written as version n+1."""

    def patched(current: Plan) -> PlanTerms:
        terms = current.model_dump(mode="json", include=set(PlanTerms.model_fields))  # as GET shows them
        merged = merge_patch(terms, patch)
        try:
            revision = PlanRevision.model_validate(merged)
        except ValidationError as error:
            raise ValidationFailed.from_pydantic(error, location="body") from None
        return _terms_of(revision, plan_id)

    return _revise(billing, plan_id, patched, if_match=if_match)


def _revise(billing: Billing, plan_id: str, new_terms: Callable[[Plan], PlanTerms], *, if_match: int | None) -> Plan:
    now = billing.now()
    for _ in range(REVISION_ATTEMPTS):
        current = get_plan(billing, plan_id)
        if if_match is not None and current.version != if_match:
            raise _moved_on(plan_id, current.version)
        if not current.is_active:
            raise Conflict(f"Plan '{plan_id}' is archived and can no longer be revised.", code="plan_archived")
        revised = current.revised(new_terms(current), now)
        try:
            billing.plans.replace(revised, expected_version=current.version)
            return revised
        except RetryableConflict:
            if if_match is not None:  # the version the client read is gone: it must read again
                raise _moved_on(plan_id, get_plan(billing, plan_id).version) from None
    raise RetryableConflict(f"Plan '{plan_id}' is being revised concurrently; retry.")


def _terms_of(revision: PlanTerms, plan_id: str) -> PlanTerms:
    """The terms a revision writes: its read-only fields dropped, its currency an active one."""
    if isinstance(revision, PlanRevision):
        if revision.plan_id is not None and revision.plan_id != plan_id:
            raise ValidationFailed.of("plan_id", f"is this plan's id, '{plan_id}', or left out")
        revision = revision.terms()
    _require_active_currency(revision)
    return revision


def _moved_on(plan_id: str, version: int) -> PreconditionFailed:
    return PreconditionFailed(
        f"Plan '{plan_id}' is at version {version}; read it again and revise that version.",
        details={"current_version": version, "etag": f'"{version}"'},
    )


def _require_active_currency(terms: PlanTerms) -> None:
    try:
        active_currency(terms.currency)
    except ValueError as refused:
        raise ValidationFailed.of("currency", str(refused)) from None


def archive_plan(billing: Billing, plan_id: str) -> Plan:
    """Take the listing out of the catalog. Subscriptions on it go on; archiving twice is a no-op."""
    get_plan(billing, plan_id)
    return billing.plans.archive(plan_id, billing.now())
