"""The sandbox's default listing, created when a sandbox catalog is first read empty."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from .plans import PlanTerms

LAB_STANDARD_ID = "lab-standard"


@lru_cache(maxsize=1)
def lab_standard_terms() -> PlanTerms:
    """Built on first use: validating it at import would build the plan schemas during every cold start."""
    return PlanTerms(
        name="Lab Standard",
        description=(
            "Everything a working lab needs to plan, run and analyse experiments: protocol planning, "
            "instrument runs with guardrails, and sequence analysis, billed monthly against a credit allowance."
        ),
        partner="Marketplace",
        bundle=[
            {
                "sku": "planner-core",
                "name": "Protocol planner",
                "description": "Plan finalizations with escalation review.",
            },
            {
                "sku": "instrument-link",
                "name": "Instrument link",
                "description": "Instrument runs with guardrail flags.",
            },
            {"sku": "seq-analysis", "name": "Sequence analysis", "description": "Analysis pipelines billed per unit."},
        ],
        billing_cadence="monthly",
        currency="USD",
        base_fee_cents=49_900,
        credit_allowance=Decimal("1000"),
        overage_policy="allow",
        overage_rate_cents=Decimal("12.5"),
        credit_price_cents=Decimal("10"),
        usage_rates={
            "planner": {"unit": "finalization", "credits_per_unit": Decimal("2")},
            "instrumentation": {"unit": "run", "credits_per_unit": Decimal("5")},
            "analytics": {"unit": "sample", "credits_per_unit": Decimal("0.25")},
        },
        sla={
            "tier": "standard",
            "uptime_percent": Decimal("99.9"),
            "response_time_hours": Decimal("8"),
            "support": "Business hours, email and chat",
        },
        features=[
            {"key": "planner.finalizations", "label": "Protocol finalizations", "included": True},
            {"key": "instrumentation.runs", "label": "Instrument runs", "included": True},
            {"key": "analytics.samples", "label": "Sequence analysis samples", "included": True},
            {"key": "guardrails.escalations", "label": "Guardrail escalation review", "included": True},
            {"key": "seats", "label": "Team seats", "included": True, "limit": 25},
            {"key": "sso", "label": "Single sign-on", "included": False},
            {"key": "support.dedicated", "label": "Dedicated support engineer", "included": False},
        ],
    )
