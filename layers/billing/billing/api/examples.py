"""Request bodies that work, for the OpenAPI document: the API reference's "Try it out" starts from
these instead of bodies generated from the schema ("string", 0), which the API refuses or, for ids
such as `plan_id`, answers with a 409. Keyed by the request model's name; a test validates each
against its model, so an example never drifts from what the API accepts.

They follow one story on a fresh sandbox (the README's walk): `org-acme` subscribes to the seeded
Lab Standard, records usage, and so on. Fixed idempotency keys replay (200) when sent twice."""

from __future__ import annotations

from typing import Any

ORGANIZATION = "org-acme"
PLAN = "lab-standard"

_PLAN_TERMS: dict[str, Any] = {
    "name": "Genomics Pro",
    "description": "Sequence analysis at volume, with a named support engineer.",
    "partner": "HelixWorks",
    "bundle": [{"sku": "helix-pipelines", "name": "Helix pipelines", "description": "Variant calling and QC."}],
    "billing_cadence": "monthly",
    "currency": "USD",
    "base_fee_cents": 129900,
    "credit_allowance": "5000",
    "overage_policy": "allow",
    "overage_rate_cents": "9.5",
    "credit_price_cents": "8",
    "usage_rates": {"analytics": {"unit": "sample", "credits_per_unit": "0.2"}},
    "sla": {"tier": "premium", "uptime_percent": "99.95", "response_time_hours": "4", "support": "24/7 phone"},
    "features": [{"key": "samples", "label": "Samples a month", "included": True, "limit": 25000}],
}

_USAGE: dict[str, Any] = {
    "organization_id": ORGANIZATION,
    "service": "planner",
    "quantity": "3",
    "idempotency_key": "docs-usage-1",
    "source": {"kind": "planner_finalization", "id": "plan-42"},
    "guardrail": {"flags": [], "escalation_codes": ["ESC-12"]},
}

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "PlanListing": {"plan_id": "genomics-pro", **_PLAN_TERMS},
    "PlanRevision": {**_PLAN_TERMS, "base_fee_cents": 139900},
    "ProvisionRequest": {
        "plan_id": PLAN,
        "residency": "us",
        "sla_acceptance": {"accepted_by": "ada@acme.example", "sla_version": "standard@1"},
    },
    "SettingsRequest": {
        "low_balance_threshold_credits": "150",
        "auto_top_up": {"enabled": True, "threshold_credits": "200", "amount": "500", "max_per_period": 2},
    },
    "CreditChangeRequest": {
        "type": "top_up",
        "amount": "250",
        "reason": "Credit pack",
        "idempotency_key": "docs-pack-1",
    },
    "GrantRequest": {
        "amount": "100",
        "kind": "promotional",
        "priority": 50,
        "expires_at": "2027-12-31T23:59:59Z",
        "reason": "Conference promotion",
        "idempotency_key": "docs-promo-1",
    },
    "VoidRequest": {"reason": "Granted twice"},
    "UsageRequest": _USAGE,
    "UsageBatch": {
        "events": [
            _USAGE,
            {
                "organization_id": ORGANIZATION,
                "service": "analytics",
                "quantity": "10.5",
                "idempotency_key": "docs-usage-2",
            },
        ]
    },
    "EntitlementRequest": {"organization_id": ORGANIZATION, "service": "instrumentation", "quantity": "4"},
    "HoldRequest": {
        "organization_id": ORGANIZATION,
        "service": "instrumentation",
        "quantity": "4",
        "idempotency_key": "docs-hold-1",
        "expires_in_seconds": 7200,
        "source": {"kind": "instrumentation_run", "id": "run-7"},
    },
    "SettleRequest": {"idempotency_key": "docs-settle-1", "quantity": "3.5", "guardrail": {"flags": ["dose_limit"]}},
    "DraftRequest": {},
    "BillingProfileRequest": {
        "legal_name": "Acme Labs Inc.",
        "email": "ap@acme.example",
        "address": {
            "line1": "1 Market Street",
            "city": "San Francisco",
            "postal_code": "94105",
            "region": "CA",
            "country": "US",
        },
        "tax_id": "US12-3456789",
        "net_terms_days": 30,
    },
    # A preview (writes nothing) of moving org-acme to the plan PlanListing's example publishes.
    "PlanChangeRequest": {
        "plan_id": "genomics-pro",
        "effective": "period_end",
        "idempotency_key": "docs-plan-change-1",
        "sla_acceptance": {"accepted_by": "ada@acme.example", "sla_version": "premium@1"},
        "preview": True,
    },
    "VoidUsageRequest": {"reason": "Recorded against the wrong lab", "idempotency_key": "docs-void-1"},
    "AmendUsageRequest": {"quantity": "2", "reason": "The run was sized twice", "idempotency_key": "docs-amend-1"},
    "CreditNoteRequest": {
        "lines": [{"line": 0, "amount_cents": 1000}],
        "reason": "Goodwill for the outage",
        "idempotency_key": "docs-credit-note-1",
    },
}

#: A JSON merge patch of a plan's terms (`PATCH /plans/{plan_id}`): the body has no model.
MERGE_PATCH_EXAMPLE: dict[str, Any] = {"base_fee_cents": 59900, "description": "Now with faster support."}

#: Path parameters whose values a reader can know before calling anything.
PATH_EXAMPLES: dict[str, str] = {"organization_id": ORGANIZATION, "plan_id": PLAN}
