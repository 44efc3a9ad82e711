// The bodies of the plan-change and usage-correction routes, written by hand from ../shared/API.md
// ("Subscriptions": plan-change; "Usage events": corrections) while the service builds them. Once
// the OpenAPI document has them, lib/api-types.ts is regenerated and these become aliases of the
// generated schemas (nothing else imports from here but lib/api.ts).
import type { components } from "./api-types";

type Schemas = components["schemas"];

/** `pending_plan_change` of a subscription: the version the next period starts on. */
export type PendingPlanChange = { plan_id: string; plan_version: number; effective_at: string };

export type PlanChangeEffective = "now" | "period_end";

/** `POST /subscriptions/{id}/plan-change`. */
export type PlanChangeRequest = {
  plan_id: string;
  effective: PlanChangeEffective;
  idempotency_key: string;
  sla_acceptance?: { accepted_by: string; sla_version: string };
  preview?: boolean;
};

/** What the next period of a plan change costs. */
export type NextPeriod = {
  period_start: string;
  period_end: string;
  plan_id: string;
  plan_version: number;
  base_fee_cents: number;
  credit_allowance: string;
};

/** `preview: true`: the invoice a "now" change drafts (null at period end) and the next period. */
export type PlanChangePreview = { closing_invoice: Schemas["UpcomingInvoice"] | null; next_period: NextPeriod };

/** What a usage event carries about its corrections. */
export type UsageCorrectionFields = {
  status: "recorded" | "voided";
  voided_at: string | null;
  void_reason: string | null;
  replaces: string | null;
  replaced_by: string | null;
};

/** `POST /usage/{event_id}/void`. */
export type VoidUsageRequest = { reason: string; idempotency_key: string };
/** `POST /usage/{event_id}/amend`. */
export type AmendUsageRequest = { quantity: string; reason: string; idempotency_key: string };
