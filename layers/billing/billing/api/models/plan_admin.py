"""The plan admin function's request models."""

from __future__ import annotations

from ...domain.plans import PlanId, PlanTerms


class PlanListing(PlanTerms):
    """`POST /plans`: the terms of version 1 plus the slug the plan will be known by."""

    plan_id: PlanId
