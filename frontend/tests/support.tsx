import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { BillingClient } from "../lib/api";
import { ClientContext } from "../lib/context";
import { sessionFromToken, type Role, type Session } from "../lib/session";

type Answer = { status?: number; body: unknown; headers?: Record<string, string> } | "pending";
/** A route's answer, or a function of the request's JSON body that chooses it. */
type Route = Answer | ((body: Record<string, unknown>) => Answer);

/** A client whose fetch answers from a table of `METHOD /path` prefixes ("pending": never answers);
 * `sent` records each request's JSON body. */
export function fakeClient(routes: Record<string, Route>): { client: BillingClient; calls: string[]; sent: { call: string; body: Record<string, unknown> }[] } {
  const calls: string[] = [];
  const sent: { call: string; body: Record<string, unknown> }[] = [];
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const key = `${init?.method ?? "GET"} ${url}`;
    calls.push(key);
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : {};
    if (typeof init?.body === "string") sent.push({ call: key, body });
    const match = Object.keys(routes)
      .filter((route) => key.startsWith(route))
      .sort((a, b) => b.length - a.length)[0];
    const route = match ? routes[match] : { status: 404, body: { error: { code: "not_found", message: `No route ${key}`, details: {} } } };
    const answer = typeof route === "function" ? route(body) : route;
    if (answer === "pending" || answer === undefined) return new Promise<Response>(() => {});
    return new Response(JSON.stringify(answer.body), {
      status: answer.status ?? 200,
      headers: { "Content-Type": "application/json", ...(answer.headers ?? {}) },
    });
  }) as typeof fetch;
  return { client: new BillingClient("/api/billing", fetcher), calls, sent };
}

export function renderWith(client: BillingClient, ui: ReactElement) {
  return render(<ClientContext.Provider value={client}>{ui}</ClientContext.Provider>);
}

function b64(value: object): string {
  return btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

export function sessionFor(role: Role, org?: string): Session {
  const token = `${b64({ alg: "HS256" })}.${b64({ sub: `test|${role}`, roles: [role], org, residency: "us", exp: 9999999999 })}.sig`;
  return sessionFromToken(token) as Session;
}

export const refusal = (status: number, code: string, message: string, details: object = {}) => ({
  status,
  body: { error: { code, message, details } },
});

/** A list answer: one page of `items`. */
export const page = (items: unknown[], next_cursor: string | null = null) => ({ body: { items, next_cursor } });

export const PLAN = {
  plan_id: "lab-standard",
  version: 1,
  status: "active",
  name: "Lab Standard",
  description: "Everything a lab needs.",
  partner: "Marketplace",
  bundle: [],
  billing_cadence: "monthly",
  currency: "USD",
  base_fee_cents: 49900,
  credit_allowance: "1000",
  overage_policy: "allow",
  overage_rate_cents: "12.5",
  credit_price_cents: "10",
  usage_rates: { planner: { unit: "finalization", credits_per_unit: "2" } },
  sla: { tier: "standard", uptime_percent: "99.9", response_time_hours: "8", support: "Business hours" },
  features: [
    { key: "seats", label: "Team seats", included: true, limit: 25 },
    { key: "sso", label: "Single sign-on", included: false, limit: null },
  ],
  created_at: "2026-11-01T00:00:00Z",
  updated_at: "2026-11-01T00:00:00Z",
};

export const SUBSCRIPTION = {
  subscription_id: "01SUB",
  organization_id: "org-lab",
  plan_id: "lab-standard",
  plan_version: 1,
  status: "active",
  residency: "us",
  billing_cadence: "monthly",
  billing_cycle_anchor: "2026-11-01T00:00:00Z",
  sla_acceptance: { accepted_by: "grace", accepted_at: "2026-11-01T00:00:00Z", sla_tier: "standard", sla_version: "standard@1" },
  current_period_start: "2026-11-01T00:00:00Z",
  current_period_end: "2026-12-01T00:00:00Z",
  credit_balance: "1234567.123456",
  allowance_balance: "1000",
  purchased_balance: "1233567.123456",
  held_credits: "40",
  available_credits: "1234527.123456",
  grants: [],
  holds: [],
  auto_top_up: null,
  low_balance_threshold_credits: null,
  auto_top_ups_in_period: 0,
  revision: 3,
  ledger_seq: 3,
  created_at: "2026-11-01T00:00:00Z",
  canceled_at: null,
  final_period_closed: false,
  health: {
    period_usage_credits: "12.5",
    period_overage_credits: "0",
    burn_rate_credits_per_day: "0.5",
    projected_depletion_at: null,
    status: "low",
  },
};

/** One recorded usage event of the subscription above (its correction fields as the API answers them). */
export const USAGE_EVENT = {
  event_id: "01EV",
  subscription_id: "01SUB",
  organization_id: "org-lab",
  service: "planner",
  quantity: "3",
  unit: "finalization",
  credits: "6",
  debited_credits: "4",
  overage_credits: "2",
  balance_after: "0",
  guardrail: { flags: [] as string[], escalation_codes: [] as string[] },
  source: null,
  idempotency_key: "k",
  occurred_at: "2026-11-20T10:00:00Z",
  recorded_at: "2026-11-20T10:00:00Z",
  period_start: "2026-11-01T00:00:00Z",
  ledger_seq: 2,
  hold_id: null,
  status: "recorded",
  voided_at: null,
  void_reason: null,
  replaces: null,
  replaced_by: null,
};

export const INVOICE = {
  invoice_id: "01INV",
  subscription_id: "01SUB",
  organization_id: "org-lab",
  number: null,
  status: "draft",
  period_start: "2026-11-01T00:00:00Z",
  period_end: "2026-12-01T00:00:00Z",
  currency: "USD",
  plan_id: "lab-standard",
  plan_version: 1,
  revision: 1,
  line_items: [
    { kind: "base_fee", description: "Lab Standard base fee", service: null, quantity: "1", unit_amount_cents: "49900", amount_cents: 49900 },
    { kind: "overage", description: "planner overage", service: "planner", quantity: "258.625", unit_amount_cents: "12.5", amount_cents: 3233 },
  ],
  subtotal_cents: 53133,
  total_cents: 53133,
  created_at: "2026-12-01T00:00:00Z",
  updated_at: "2026-12-01T00:00:00Z",
  issued_at: null,
  voided_at: null,
};

/** The draft a period cut short after 10 of 30 days would make (never stored: `invoice_id` null). */
export const SHORT_PERIOD_DRAFT = {
  invoice_id: null,
  subscription_id: "01SUB",
  organization_id: "org-lab",
  number: null,
  status: "draft",
  period_start: "2026-11-01T00:00:00Z",
  period_end: "2026-11-11T00:00:00Z",
  currency: "USD",
  plan_id: "lab-standard",
  plan_version: 1,
  line_items: [{ kind: "base_fee", description: "Lab Standard base fee, prorated 10 of 30 days", service: null, quantity: "1", unit_amount_cents: "16633", amount_cents: 16633 }],
  subtotal_cents: 16633,
  total_cents: 16633,
};
