// The one place that turns the API's error envelope into sentences for people: a code becomes
// what it means and what to do, timestamps are formatted, field names become the form's labels.
import type { ApiError } from "./api";
import { formatDateTime } from "./format";

/** The label a person sees for a field the API names (`features.0.key` -> "Feature 1 key"). */
const FIELD_LABELS: Record<string, string> = {
  amount: "Amount",
  reason: "Reason",
  kind: "Kind",
  priority: "Priority",
  effective_at: "Effective from",
  expires_at: "Expires at",
  price_cents: "Price",
  plan_id: "Plan id",
  name: "Name",
  description: "Description",
  partner: "Partner",
  billing_cadence: "Cadence",
  currency: "Currency",
  base_fee_cents: "Base fee",
  credit_allowance: "Credit allowance",
  overage_policy: "Overage policy",
  overage_rate_cents: "Overage rate",
  credit_price_cents: "Credit price",
  usage_rates: "Usage rates",
  features: "Features",
  bundle: "Bundle",
  sla: "SLA",
  "sla.tier": "SLA tier",
  "sla.uptime_percent": "Uptime",
  "sla.response_time_hours": "Response time",
  "sla.support": "Support",
  sla_acceptance: "SLA acceptance",
  "sla_acceptance.accepted_by": "Accepted by",
  "sla_acceptance.sla_version": "SLA version",
  effective: "When",
  quantity: "Quantity",
  residency: "Residency",
  low_balance_threshold_credits: "Low-balance threshold",
  auto_top_up: "Auto top-up",
  "auto_top_up.enabled": "Auto top-up on",
  "auto_top_up.threshold_credits": "When below",
  "auto_top_up.amount": "Buy",
  "auto_top_up.max_per_period": "At most (times a period)",
  from: "From",
  to: "To",
  cursor: "Page",
  limit: "Page size",
};

export function fieldLabel(path: string): string {
  const key = path.replace(/\[(\d+)\]/g, ".$1").replace(/^(body|query|path|header)\./, "");
  if (FIELD_LABELS[key]) return FIELD_LABELS[key];
  const item = /^(features|bundle|usage_rates)\.(\w+)(?:\.(\w+))?$/.exec(key);
  if (item) {
    const [, list = "", index = "", part] = item;
    const what = list === "features" ? "Feature" : list === "bundle" ? "Bundle item" : "Rate for";
    const which = /^\d+$/.test(index) ? String(Number(index) + 1) : index;
    return `${what} ${which}${part ? ` ${part.replace(/_/g, " ")}` : ""}`;
  }
  return key.replace(/[._]/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

const TIMESTAMP = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g;

/** A message with its timestamps formatted and the field names it quotes as labels. */
export function humanize(message: string, fields: string[] = []): string {
  let text = message.replace(TIMESTAMP, (t) => formatDateTime(t));
  const names = [...new Set([...fields, ...Object.keys(FIELD_LABELS)])].sort((a, b) => b.length - a.length);
  for (const name of names) {
    // Whole words only (quoted or bare): "must be after effective_at" -> "must be after Effective from".
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    if (!name.includes("_") && !name.includes(".")) continue; // plain words ("amount") stay as written
    text = text.replace(new RegExp(`'?\\b${escaped}\\b'?`, "g"), fieldLabel(name));
  }
  return text;
}

type Sentence = (error: ApiError) => string;

/** Codes whose own message is not what a person needs: what it means and what to do. Every
 * other code keeps the API's message (plain sentences by contract), made readable. */
const SENTENCES: Record<string, Sentence> = {
  network_error: () => "The billing service did not answer. Check the connection and try again.",
  http_error: (e) => `The billing service could not answer (status ${e.status}). Try again in a moment.`,
  precondition_failed: () => "Someone changed this plan since you opened it. Reload it to see the current version, then make your change again.",
  idempotency_in_progress: () => "The same request is still being processed. Wait a moment, then reload.",
  malformed_json: () => "The request could not be read. Reload the page and try again.",
  // Plan changes
  plan_unchanged: () => "Your subscription is already on this version of the plan: there is nothing to change.",
  plan_archived: () => "This plan has been archived: it takes no new subscriptions or changes. Choose another plan.",
  currency_mismatch: () => "This plan is billed in another currency than your subscription. A plan change keeps the currency: choose a plan in the same one.",
  no_pending_plan_change: () => "There is no pending plan change any more: the next period starts on your current plan.",
  // Usage corrections
  period_invoiced: (e) => {
    const number = typeof e.details.number === "string" ? e.details.number : "its invoice";
    return `This usage is billed on ${number}, which is issued and never changes. Correct it with a credit note on ${number} instead.`;
  },
  event_voided: () => "This event is voided already, so it cannot be amended. Reload to see its current state.",
};

/** The sentence for an error: its code's meaning, or its own message made readable. */
export function errorSentence(error: ApiError): string {
  if (error.code === "validation_error") {
    const fields = Object.keys(error.fields);
    if (fields.length === 0) return humanize(error.message);
    return `Check ${fields.length === 1 ? "this field" : "these fields"}: ${fields.map(fieldLabel).join(", ")}.`;
  }
  const sentence = SENTENCES[error.code];
  return sentence ? sentence(error) : humanize(error.message, Object.keys(error.details));
}

/** A 422 field message made readable ("must be after effective_at" -> "must be after Effective from"). */
export function fieldMessage(message: string): string {
  return humanize(message);
}
