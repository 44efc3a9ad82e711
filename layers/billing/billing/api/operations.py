"""The operations of the HTTP API: every Api event of template.yaml (but the `ANY` ones), with the models that describe
it (request body, query, path parameters, success bodies) and the errors it can answer. The OpenAPI
document (`billing.api.openapi`) is generated from this table and the models; tests/unit/
test_openapi.py fails when an operation of template.yaml is missing here or this table names a route the
template lacks (the Lambda has no template.yaml at run time, so the table lives in the layer).

Nothing here is imported on a cold start: `routes()` imports the models when the document is built."""

from __future__ import annotations

from typing import Any

from msgspec import Struct, field

# The error codes every route of a kind can answer (API.md's error table); routes add their own.
AUTH_ERRORS = {401: ("unauthenticated",), 403: ("forbidden",)}
BODY_ERRORS = {
    400: ("malformed_json",),
    413: ("payload_too_large",),
    415: ("unsupported_media_type",),
    422: ("validation_error",),
}
QUERY_ERRORS = {422: ("validation_error",)}
FOUND_ERRORS = {404: ("not_found",)}
WRITE_CONFLICTS = {409: ("concurrent_update",)}

CSV = "text/csv"
MERGE_PATCH = {"type": "object", "description": "A JSON merge patch (RFC 7396) of the plan's terms"}


class Route(Struct, frozen=True):
    method: str
    path: str  # as template.yaml names it: /api/billing/...
    operation_id: str
    summary: str
    responses: dict[int, Any]  # success status -> response model (CSV for a file)
    roles: tuple[str, ...] = ()  # roles that may call it; () = public (no token)
    body: Any = None
    body_required: bool = True
    query: Any = None
    path_types: dict[str, Any] = field(default_factory=dict)  # a path parameter's type when not a plain string
    headers: dict[str, Any] = field(default_factory=dict)  # request headers besides Authorization
    errors: dict[int, tuple[str, ...]] = field(default_factory=dict)  # route-specific statuses and codes
    tag: str = ""

    @property
    def public(self) -> bool:
        return not self.roles

    def error_codes(self) -> dict[int, tuple[str, ...]]:
        """Every status besides the successes that this route can answer, with the codes of each."""
        kinds = [] if self.public else [AUTH_ERRORS]
        if self.body is not None:
            kinds.append(BODY_ERRORS)
        if self.query is not None or self.path_types:
            kinds.append(QUERY_ERRORS)
        if "{" in self.path:
            kinds.append(FOUND_ERRORS)
        if self.method != "GET":
            kinds.append(WRITE_CONFLICTS)
        kinds.append(self.errors)
        merged: dict[int, list[str]] = {}
        for kind in kinds:
            for status, codes in kind.items():
                merged.setdefault(status, [])
                merged[status] += [c for c in codes if c not in merged[status]]
        return {status: tuple(merged[status]) for status in sorted(merged)}


ADMIN = "marketplace:admin"
FINANCE = "finance"
SERVICE = "service"
ORG_ADMIN = "org:admin"
ORG_MEMBER = "org:member"
READERS = (ADMIN, FINANCE, ORG_ADMIN, ORG_MEMBER)
P = "/api/billing"
SUB = P + "/subscriptions/{subscription_id}"
INVOICE = SUB + "/invoices/{invoice_id}"


def routes() -> list[Route]:
    from ..domain.billing_profiles import BillingProfile, BillingProfileRequest
    from ..domain.credit_notes import CreditNote, CreditNoteRequest
    from ..domain.grants import CreditGrant
    from ..domain.guardrail_analytics import GuardrailReport
    from ..domain.hold_records import Hold
    from ..domain.ids import OrganizationId
    from ..domain.invoices import Invoice, UpcomingInvoice
    from ..domain.ledger import LedgerEntry
    from ..domain.paging import Page
    from ..domain.plans import Plan, PlanId, PlanRevision
    from ..domain.subscriptions import Subscription
    from ..domain.usage import UsageEvent, UsageRequest
    from ..services.credits import CreditChangeRequest, GrantRequest, VoidRequest
    from ..services.holds import Entitlement, EntitlementRequest, HoldRequest, SettleRequest
    from ..services.invoices import DraftRequest
    from ..services.plan_changes import PlanChangeRequest
    from ..services.subscriptions import ProvisionRequest, SettingsRequest, SubscriptionWithHealth
    from ..services.usage import BatchReport
    from ..services.usage_corrections import AmendUsageRequest, VoidUsageRequest
    from ..services.usage_reporting import BillingPeriod, DailyUsage, UsageSummary
    from .headers import IDEMPOTENCY_KEY
    from .models.credits import GrantsQuery
    from .models.document_export import ExportQuery
    from .models.guardrail_analytics import GuardrailExportQuery, GuardrailQuery
    from .models.holds import HoldsQuery
    from .models.invoices import CreditNotesQuery, InvoicesQuery, UpcomingQuery
    from .models.paging import PageQuery
    from .models.plan_admin import PlanListing
    from .models.plan_catalog import PlanQuery
    from .models.plan_changes import PlanChangeAnswer
    from .models.subscriptions import SubscriptionsQuery
    from .models.usage_recording import UsageBatch
    from .models.usage_reporting import DailyQuery, SummaryQuery, UsageQuery

    idempotency_header = {
        "Idempotency-Key": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern, "minLength": 1, "maxLength": 255}
    }
    if_match_header = {"If-Match": {"type": "string", "description": 'An ETag this API returned, such as "3"'}}
    return [
        # --- plans
        Route("GET", P + "/plans", "listPlans", "Active plans, cheapest base fee first", {200: Page[Plan]},
              query=PageQuery, tag="plans"),
        Route("GET", P + "/plans/{plan_id}", "getPlan", "A plan (latest version, or ?version=n)", {200: Plan},
              query=PlanQuery, tag="plans"),
        Route("POST", P + "/plans", "publishPlan", "Publish a partner listing (version 1)", {201: Plan},
              roles=(ADMIN,), body=PlanListing, errors={409: ("plan_exists",)}, tag="plans"),
        Route("GET", P + "/plans/{plan_id}/versions", "listPlanVersions", "Every version of a plan, newest first",
              {200: Page[Plan]}, query=PageQuery, tag="plans"),
        Route("PUT", P + "/plans/{plan_id}", "revisePlan", "Revise a plan's terms (version + 1)", {200: Plan},
              roles=(ADMIN,), body=PlanRevision, path_types={"plan_id": PlanId}, headers=if_match_header,
              errors={409: ("plan_archived",), 412: ("precondition_failed",)}, tag="plans"),
        Route("PATCH", P + "/plans/{plan_id}", "patchPlan", "A JSON merge patch (RFC 7396) of a plan's terms",
              {200: Plan}, roles=(ADMIN,), body=MERGE_PATCH, path_types={"plan_id": PlanId}, headers=if_match_header,
              errors={409: ("plan_archived",), 412: ("precondition_failed",)}, tag="plans"),
        Route("POST", P + "/plans/{plan_id}/archive", "archivePlan", "Archive a plan", {200: Plan},
              roles=(ADMIN,), path_types={"plan_id": PlanId}, tag="plans"),
        Route("GET", P + "/openapi.json", "getOpenApi", "This document (OpenAPI 3.1)", {200: dict}, tag="meta"),
        # --- subscriptions
        Route("POST", P + "/organizations/{organization_id}/subscriptions", "provisionSubscription",
              "Subscribe an organization to a plan, accepting its SLA", {201: Subscription, 200: Subscription},
              roles=(ADMIN, ORG_ADMIN), body=ProvisionRequest, path_types={"organization_id": OrganizationId},
              headers=idempotency_header,
              errors={
                  403: ("residency_mismatch", "residency_not_served"),
                  409: ("subscription_exists", "plan_archived", "idempotency_in_progress"),
                  422: ("idempotency_key_reused",),
              }, tag="subscriptions"),
        Route("GET", P + "/organizations/{organization_id}/subscriptions", "listOrganizationSubscriptions",
              "An organization's subscriptions, newest first", {200: Page[Subscription]}, roles=READERS,
              query=PageQuery, tag="subscriptions"),
        Route("GET", P + "/subscriptions", "searchSubscriptions", "Subscriptions across organizations, newest first",
              {200: Page[Subscription]}, roles=(ADMIN, FINANCE), query=SubscriptionsQuery, tag="subscriptions"),
        Route("GET", SUB + "/periods", "listPeriods", "A subscription's billing periods, newest first",
              {200: Page[BillingPeriod]}, roles=READERS, query=PageQuery, tag="subscriptions"),
        Route("GET", SUB, "getSubscription", "A subscription with its health", {200: SubscriptionWithHealth},
              roles=READERS, tag="subscriptions"),
        Route("POST", SUB + "/cancel", "cancelSubscription", "Cancel a subscription", {200: Subscription},
              roles=(ADMIN, ORG_ADMIN), tag="subscriptions"),
        Route("PUT", SUB + "/settings", "changeSettings", "Low-balance threshold and auto top-up",
              {200: SubscriptionWithHealth}, roles=(ADMIN, ORG_ADMIN), body=SettingsRequest, tag="subscriptions"),
        Route("POST", SUB + "/plan-change", "changePlan",
              "Change plan now or at the period's end (or preview it: the subscription, or what it would bill)",
              {200: PlanChangeAnswer}, roles=(ADMIN, ORG_ADMIN), body=PlanChangeRequest,
              errors={402: ("insufficient_credits",),
                      409: ("no_active_subscription", "plan_archived", "plan_unchanged", "currency_mismatch",
                            "period_open"),
                      422: ("idempotency_key_reused",)}, tag="subscriptions"),
        Route("DELETE", SUB + "/plan-change", "cancelPendingPlanChange", "Drop the pending plan change",
              {200: Subscription}, roles=(ADMIN, ORG_ADMIN), errors={409: ("no_pending_plan_change",)},
              tag="subscriptions"),
        # --- credits
        Route("POST", SUB + "/credits", "changeCredits", "A top-up or an adjustment, as a ledger entry",
              {201: LedgerEntry, 200: LedgerEntry}, roles=(ADMIN,), body=CreditChangeRequest,
              errors={
                  403: ("residency_mismatch",),
                  409: ("insufficient_credits", "no_active_subscription", "idempotency_in_progress"),
                  422: ("idempotency_key_reused",),
              }, tag="credits"),
        Route("GET", SUB + "/ledger", "readLedger", "The credit ledger, oldest first (by seq)",
              {200: Page[LedgerEntry]}, roles=READERS, query=PageQuery, tag="credits"),
        Route("POST", SUB + "/grants", "createGrant", "A purchased or promotional credit grant",
              {201: CreditGrant, 200: CreditGrant}, roles=(ADMIN,), body=GrantRequest,
              errors={
                  403: ("residency_mismatch",),
                  409: ("no_active_subscription", "grant_limit_reached", "idempotency_in_progress"),
                  422: ("idempotency_key_reused",),
              }, tag="credits"),
        Route("GET", SUB + "/grants", "listGrants", "A subscription's credit grants, newest first",
              {200: Page[CreditGrant]}, roles=READERS, query=GrantsQuery, tag="credits"),
        Route("POST", SUB + "/grants/{grant_id}/void", "voidGrant", "Void a grant: its remaining credits leave",
              {200: CreditGrant}, roles=(ADMIN,), body=VoidRequest, body_required=False,
              errors={403: ("residency_mismatch",), 409: ("grant_not_active",)}, tag="credits"),
        # --- usage
        Route("POST", P + "/usage", "recordUsage", "Record one usage event (a credit debit)",
              {201: UsageEvent, 200: UsageEvent}, roles=(ADMIN, SERVICE), body=UsageRequest,
              errors={
                  402: ("insufficient_credits",),
                  409: ("no_active_subscription", "idempotency_in_progress"),
                  422: ("idempotency_key_reused", "unknown_service"),
              }, tag="usage"),
        Route("POST", P + "/usage/batch", "recordUsageBatch", "Record up to 100 usage events, one result each",
              {200: BatchReport}, roles=(ADMIN, SERVICE), body=UsageBatch, tag="usage"),
        Route("POST", P + "/usage/{event_id}/void", "voidUsage",
              "Void a usage event: its credits go back to the grants that paid them", {200: UsageEvent},
              roles=(ADMIN, FINANCE, SERVICE), body=VoidUsageRequest,
              errors={
                  403: ("residency_mismatch",),
                  409: ("period_invoiced", "idempotency_in_progress"),
                  422: ("idempotency_key_reused",),
              }, tag="usage"),
        Route("POST", P + "/usage/{event_id}/amend", "amendUsage",
              "Amend a usage event: it is voided and a new event with the right quantity replaces it",
              {201: UsageEvent, 200: UsageEvent}, roles=(ADMIN, FINANCE, SERVICE), body=AmendUsageRequest,
              errors={
                  402: ("insufficient_credits",),
                  403: ("residency_mismatch",),
                  409: ("period_invoiced", "event_voided", "no_active_subscription", "idempotency_in_progress"),
                  422: ("idempotency_key_reused", "unknown_service"),
              }, tag="usage"),
        Route("GET", SUB + "/usage", "listUsage", "Usage events, newest first", {200: Page[UsageEvent]},
              roles=READERS, query=UsageQuery, tag="usage"),
        Route("GET", SUB + "/usage/daily", "dailyUsage", "Usage per UTC day, oldest first", {200: Page[DailyUsage]},
              roles=READERS, query=DailyQuery, tag="usage"),
        Route("GET", SUB + "/usage/summary", "usageSummary", "Per-service totals of a period",
              {200: UsageSummary}, roles=READERS, query=SummaryQuery, tag="usage"),
        # --- entitlement checks and holds
        Route("POST", P + "/entitlements/check", "checkEntitlement", "What POST /usage would do now (writes nothing)",
              {200: Entitlement}, roles=(ADMIN, SERVICE), body=EntitlementRequest, tag="holds"),
        Route("POST", P + "/holds", "placeHold", "Reserve a run's credits before it starts",
              {201: Hold, 200: Hold}, roles=(ADMIN, SERVICE), body=HoldRequest,
              errors={
                  402: ("insufficient_credits",),
                  409: ("no_active_subscription", "hold_limit_reached", "idempotency_in_progress"),
                  422: ("idempotency_key_reused", "unknown_service"),
              }, tag="holds"),
        Route("GET", P + "/holds/{hold_id}", "getHold", "A hold", {200: Hold},
              roles=(ADMIN, SERVICE, FINANCE, ORG_ADMIN, ORG_MEMBER), tag="holds"),
        Route("POST", P + "/holds/{hold_id}/settle", "settleHold", "Charge the run: one usage event it guarantees",
              {201: UsageEvent, 200: UsageEvent}, roles=(ADMIN, SERVICE), body=SettleRequest,
              errors={
                  402: ("insufficient_credits",),
                  409: ("hold_not_active", "no_active_subscription"),
                  422: ("idempotency_key_reused",),
              }, tag="holds"),
        Route("POST", P + "/holds/{hold_id}/release", "releaseHold", "Release a hold: nothing charged",
              {200: Hold}, roles=(ADMIN, SERVICE), errors={409: ("hold_not_active",)}, tag="holds"),
        Route("GET", SUB + "/holds", "listHolds", "A subscription's holds, newest first", {200: Page[Hold]},
              roles=(ADMIN, SERVICE, FINANCE, ORG_ADMIN, ORG_MEMBER), query=HoldsQuery, tag="holds"),
        # --- invoices
        Route("POST", SUB + "/invoices/draft", "draftInvoice", "Draft (or redraft) a period's invoice",
              {201: Invoice, 200: Invoice}, roles=(ADMIN, FINANCE), body=DraftRequest, body_required=False,
              errors={403: ("residency_mismatch",), 409: ("invoice_not_draft",)}, tag="invoices"),
        Route("GET", P + "/invoices", "searchInvoices", "Invoices across subscriptions, newest period first",
              {200: Page[Invoice]}, roles=(ADMIN, FINANCE), query=InvoicesQuery, tag="invoices"),
        Route("GET", SUB + "/invoices", "listInvoices", "A subscription's invoices, newest period first",
              {200: Page[Invoice]}, roles=READERS, query=PageQuery, tag="invoices"),
        Route("GET", SUB + "/invoices/upcoming", "upcomingInvoice",
              "The current period's invoice as it would be drafted (or the final one, canceled now); never stored",
              {200: UpcomingInvoice}, roles=READERS, query=UpcomingQuery, errors={409: ("no_active_subscription",)},
              tag="invoices"),
        Route("GET", INVOICE, "getInvoice", "An invoice", {200: Invoice}, roles=READERS, tag="invoices"),
        Route("POST", INVOICE + "/issue", "issueInvoice", "Issue a draft (gapless number)", {200: Invoice},
              roles=(ADMIN, FINANCE), errors={403: ("residency_mismatch",), 409: ("invoice_not_draft", "period_open")},
              tag="invoices"),
        Route("POST", INVOICE + "/void", "voidInvoice", "Void an invoice", {200: Invoice}, roles=(ADMIN, FINANCE),
              errors={403: ("residency_mismatch",), 409: ("invoice_not_draft", "invoice_credited")}, tag="invoices"),
        Route("PUT", P + "/organizations/{organization_id}/billing-profile", "saveBillingProfile",
              "Set what the organization's invoices are addressed to", {200: BillingProfile},
              roles=(ADMIN, ORG_ADMIN), body=BillingProfileRequest, path_types={"organization_id": OrganizationId},
              errors={403: ("residency_mismatch", "residency_not_served")}, tag="invoices"),
        Route("GET", P + "/organizations/{organization_id}/billing-profile", "getBillingProfile",
              "The organization's billing profile", {200: BillingProfile}, roles=READERS,
              path_types={"organization_id": OrganizationId}, errors={403: ("residency_mismatch",)}, tag="invoices"),
        Route("GET", INVOICE + "/export", "exportInvoice", "An invoice as a CSV or JSON file, or a PDF document",
              {200: CSV}, roles=READERS, query=ExportQuery, errors={403: ("residency_mismatch",)},
              tag="invoices"),
        # --- credit notes
        Route("POST", INVOICE + "/credit-notes", "issueCreditNote", "Correct an issued invoice with a credit note",
              {201: CreditNote, 200: CreditNote}, roles=(ADMIN, FINANCE), body=CreditNoteRequest,
              errors={
                  403: ("residency_mismatch",),
                  409: ("invoice_not_issued", "no_active_subscription", "grant_limit_reached",
                        "idempotency_in_progress"),
                  422: ("idempotency_key_reused",),
              }, tag="invoices"),
        Route("GET", INVOICE + "/credit-notes", "listCreditNotes", "An invoice's credit notes, newest first",
              {200: Page[CreditNote]}, roles=READERS, query=PageQuery, tag="invoices"),
        Route("GET", P + "/credit-notes", "searchCreditNotes", "Credit notes across organizations, newest first",
              {200: Page[CreditNote]}, roles=(ADMIN, FINANCE), query=CreditNotesQuery, tag="invoices"),
        Route("GET", INVOICE + "/credit-notes/{credit_note_id}/export", "exportCreditNote",
              "A credit note as a CSV or JSON file, or a PDF document", {200: CSV}, roles=READERS,
              query=ExportQuery, errors={403: ("residency_mismatch",)}, tag="invoices"),
        # --- compliance analytics
        Route("GET", P + "/analytics/guardrails", "guardrailAnalytics",
              "Guardrail flags and escalation codes grouped by day, week, month, organization, service",
              {200: GuardrailReport}, roles=READERS, query=GuardrailQuery,
              errors={403: ("residency_mismatch", "residency_not_served"), 404: ("not_found",)}, tag="analytics"),
        Route("GET", P + "/analytics/guardrails/export", "exportGuardrailAnalytics",
              "The guardrail report's groups as a CSV file", {200: CSV}, roles=READERS, query=GuardrailExportQuery,
              errors={403: ("residency_mismatch", "residency_not_served"), 404: ("not_found",)}, tag="analytics"),
    ]  # fmt: skip
