"""The API's answers as typed models: credits, quantities and rates are `Decimal` (exact, parsed from
the API's decimal strings), money is `int` cents, timestamps are aware `datetime`s in UTC.

Written by hand so that those types are exact (the OpenAPI document says only "string" for a
decimal or a timestamp) and checked against the document by a test
(tests/client/test_models_match_openapi.py): each model names the schema it mirrors in
`__openapi__`, and the test fails when a property is added, removed, made optional or changes its
JSON type there without the model following. Models take unknown fields too (`extra="allow"`),
so a newer server never breaks an older client; statuses and kinds are `str` for the same reason."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_utc)]
"""An RFC 3339 instant from the API, as an aware `datetime` in UTC."""


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    __openapi__: ClassVar[str | None] = None  # the schema in components.schemas this model mirrors


# --- plans --------------------------------------------------------------------------------------


class BundleItem(Model):
    __openapi__ = "BundleItem"
    sku: str
    name: str
    description: str = ""


class UsageRate(Model):
    __openapi__ = "UsageRate-Output"
    unit: str
    credits_per_unit: Decimal


class SlaTerms(Model):
    __openapi__ = "SlaTerms-Output"
    tier: str
    uptime_percent: Decimal
    response_time_hours: Decimal
    support: str


class Feature(Model):
    __openapi__ = "Feature-Output"
    key: str
    label: str
    included: bool
    limit: int | str | None = None


class Plan(Model):
    __openapi__ = "Plan"
    plan_id: str
    version: int
    name: str
    description: str = ""
    status: str
    partner: str
    bundle: list[BundleItem] = []
    billing_cadence: str
    currency: str
    base_fee_cents: int
    credit_allowance: Decimal
    overage_policy: str
    overage_rate_cents: Decimal
    credit_price_cents: Decimal | None = None
    usage_rates: dict[str, UsageRate]
    sla: SlaTerms
    features: list[Feature] = []
    created_at: Timestamp
    updated_at: Timestamp


# --- subscriptions ------------------------------------------------------------------------------


class SlaAcceptance(Model):
    __openapi__ = "SlaAcceptance"
    accepted_by: str
    accepted_at: Timestamp
    sla_tier: str
    sla_version: str


class AutoTopUp(Model):
    __openapi__ = "AutoTopUp-Output"
    enabled: bool
    threshold_credits: Decimal
    amount: Decimal
    max_per_period: int


class ActiveGrant(Model):
    __openapi__ = "ActiveGrant"
    grant_id: str
    kind: str
    amount: Decimal
    remaining: Decimal
    priority: int
    effective_at: Timestamp
    expires_at: Timestamp | None = None


class ActiveHold(Model):
    __openapi__ = "ActiveHold"
    hold_id: str
    credits: Decimal
    expires_at: Timestamp


class PendingPlanChange(Model):
    """`pending_plan_change` (API.md, "Subscriptions"): applied by the close of the current period."""

    __openapi__ = "PendingPlanChange"
    plan_id: str
    plan_version: int
    effective_at: Timestamp


class Health(Model):
    __openapi__ = "Health"
    period_usage_credits: Decimal
    period_overage_credits: Decimal
    burn_rate_credits_per_day: Decimal
    projected_depletion_at: Timestamp | None
    status: str


class Subscription(Model):
    __openapi__ = "Subscription"
    subscription_id: str
    organization_id: str
    plan_id: str
    plan_version: int
    status: str
    residency: str
    billing_cadence: str
    billing_cycle_anchor: Timestamp
    sla_acceptance: SlaAcceptance
    current_period_start: Timestamp
    current_period_end: Timestamp
    credit_balance: Decimal
    allowance_balance: Decimal
    purchased_balance: Decimal
    held_credits: Decimal = Decimal(0)
    available_credits: Decimal
    ledger_seq: int
    created_at: Timestamp
    canceled_at: Timestamp | None = None
    final_period_closed: bool = False
    grants: list[ActiveGrant] = []
    holds: list[ActiveHold] = []
    revision: int = 0
    auto_top_up: AutoTopUp | None = None
    low_balance_threshold_credits: Decimal | None = None
    auto_top_ups_in_period: int = 0
    pending_plan_change: PendingPlanChange | None = None
    health: Health | None = Field(default=None, json_schema_extra={"beyond_schema": True})  # GET .../{id} only


class NextPeriod(Model):
    """What a plan change would start (`preview: true`)."""

    __openapi__ = "NextPeriod"
    period_start: Timestamp
    period_end: Timestamp
    plan_id: str
    plan_version: int
    base_fee_cents: int
    credit_allowance: Decimal


# --- usage, entitlements, holds -------------------------------------------------------------------


class Guardrail(Model):
    __openapi__ = "Guardrail"
    flags: list[str] = []
    escalation_codes: list[str] = []


class UsageSource(Model):
    __openapi__ = "UsageSource"
    kind: str
    id: str


class UsageEvent(Model):
    __openapi__ = "UsageEvent"
    event_id: str
    subscription_id: str
    organization_id: str
    service: str
    quantity: Decimal
    unit: str
    credits: Decimal
    debited_credits: Decimal
    overage_credits: Decimal
    balance_after: Decimal
    guardrail: Guardrail
    source: UsageSource | None = None
    metadata: dict[str, Any] = {}
    idempotency_key: str
    occurred_at: Timestamp
    recorded_at: Timestamp
    period_start: Timestamp
    ledger_seq: int
    hold_id: str | None = None
    # Corrections (API.md, "Corrections: void and amend").
    status: str = "recorded"
    voided_at: Timestamp | None = None
    void_reason: str | None = None
    replaces: str | None = None
    replaced_by: str | None = None


class UsageResult(Model):
    """One event's outcome in a batch: `accepted` (charged now), `duplicate` (its key was charged
    before: `event` is that charge when the API returns it) or `rejected` (`error`: its envelope)."""

    status: str
    idempotency_key: str | None = None
    error: dict[str, Any] | None = None
    event: UsageEvent | None = None

    @property
    def charged(self) -> bool:
        return self.status in ("accepted", "duplicate")


class Entitlement(Model):
    __openapi__ = "Entitlement"
    allowed: bool
    reason: str | None
    subscription_id: str | None
    credits_required: Decimal | None
    available_credits: Decimal | None
    overage_policy: str | None


class Hold(Model):
    __openapi__ = "Hold"
    hold_id: str
    subscription_id: str
    organization_id: str
    service: str
    quantity: Decimal
    credits: Decimal
    status: str = "held"
    expires_at: Timestamp
    created_at: Timestamp
    ended_at: Timestamp | None = None
    settled_event_id: str | None = None
    source: UsageSource | None = None
    metadata: dict[str, Any] = {}


# --- invoices and the ledger --------------------------------------------------------------------


class LineItem(Model):
    __openapi__ = "LineItem"
    kind: str
    description: str
    service: str | None = None
    quantity: Decimal
    unit_amount_cents: Decimal
    amount_cents: int


class PostalAddress(Model):
    __openapi__ = "PostalAddress"
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    region: str | None = None
    country: str  # ISO 3166-1 alpha-2


class BillTo(Model):
    """Who an invoice is addressed to: the organization's billing profile (copied when issued),
    or its id alone when it has none."""

    __openapi__ = "BillTo"
    organization_id: str
    legal_name: str | None = None
    email: str | None = None
    address: PostalAddress | None = None
    tax_id: str | None = None


class Issuer(Model):
    """Who issues the deployment's invoices."""

    __openapi__ = "Issuer"
    name: str
    address: PostalAddress
    tax_id: str | None = None
    email: str | None = None


class Invoice(Model):
    __openapi__ = "Invoice"
    invoice_id: str
    subscription_id: str
    organization_id: str
    number: str | None = None
    status: str
    period_start: Timestamp
    period_end: Timestamp
    currency: str
    plan_id: str
    plan_version: int
    revision: int = 0
    line_items: list[LineItem] = []
    subtotal_cents: int
    total_cents: int
    created_at: Timestamp
    updated_at: Timestamp
    issued_at: Timestamp | None = None
    voided_at: Timestamp | None = None
    credited_cents: int = 0  # what its credit notes gave back
    amount_due_cents: int
    bill_to: BillTo | None = None
    issuer: Issuer | None = None
    due_at: Timestamp | None = None


class PlanChangePreview(Model):
    """What `change_plan(..., preview=True)` answers: the invoice it would draft (None for
    `period_end`) and the period it would start. Writes nothing."""

    __openapi__ = "PlanChangePreview"
    closing_invoice: Invoice | None
    next_period: NextPeriod


class GrantAllocation(Model):
    __openapi__ = "GrantAllocation"
    grant_id: str
    amount: Decimal


class LedgerEntry(Model):
    __openapi__ = "LedgerEntry"
    subscription_id: str
    seq: int
    entry_id: str
    type: str
    amount: Decimal
    bucket: str
    balance_after: Decimal
    reference: str
    actor: str
    reason: str
    created_at: Timestamp
    grant_id: str | None = None
    allocation: list[GrantAllocation] | None = None
    overage_credits: Decimal | None = None
