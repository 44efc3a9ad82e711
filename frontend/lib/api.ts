// The one API client of the storefront: every call to /api/billing goes through here, typed by
// lib/api-types.ts (generated from the service's OpenAPI document). Components never call fetch.
import type { components } from "./api-types";
import { fieldMessage } from "./errors";

export type Schemas = components["schemas"];
export type Plan = Schemas["Plan"];
export type PlanListing = Schemas["PlanListing"];
export type Subscription = Schemas["Subscription"];
export type SubscriptionWithHealth = Schemas["SubscriptionWithHealth"];
export type PendingPlanChange = Schemas["PendingPlanChange"];
export type NextPeriod = Schemas["NextPeriod"];
export type PlanChangePreview = Schemas["PlanChangePreview"];
/** `POST .../plan-change`: `sla_acceptance` and `preview` have defaults (none, false). */
export type PlanChangeRequest = Omit<Schemas["PlanChangeRequest"], "sla_acceptance" | "preview"> & Partial<Pick<Schemas["PlanChangeRequest"], "sla_acceptance" | "preview">>;
export type PlanChangeEffective = PlanChangeRequest["effective"];
export type Health = Schemas["Health"];
export type UsageEvent = Schemas["UsageEvent"];
export type VoidUsageRequest = Schemas["VoidUsageRequest"];
/** `POST /usage/{event_id}/amend`: `guardrail` and `metadata` left out keep the event's own. */
export type AmendUsageRequest = Omit<Schemas["AmendUsageRequest"], "guardrail" | "metadata"> & Partial<Pick<Schemas["AmendUsageRequest"], "guardrail" | "metadata">>;
export type DailyUsage = Schemas["DailyUsage"];
export type Invoice = Schemas["Invoice"];
export type ExportFormat = "pdf" | "csv" | "json";
const EXPORT_TYPES: Record<ExportFormat, string> = { pdf: "application/pdf", csv: "text/csv", json: "application/json" };
export type UpcomingInvoice = Schemas["UpcomingInvoice"];
export type LineItem = Schemas["LineItem"];
export type LedgerEntry = Schemas["LedgerEntry"];
export type ErrorEnvelope = Schemas["ErrorEnvelope"];
export type CreditGrant = Schemas["CreditGrant"];
export type GrantRequest = Schemas["GrantRequest"];
export type GrantStatus = CreditGrant["status"];
export type Hold = Schemas["Hold"];
export type AutoTopUp = Schemas["AutoTopUp-Output"];
/** `PUT .../settings`: a field left out stays as it is. */
export type SettingsRequest = Partial<Schemas["SettingsRequest"]>;
export type Page<T> = { items: T[]; next_cursor: string | null };
export type BillingProfile = Schemas["BillingProfile"];
export type CreditNote = Schemas["CreditNote"];
export type CreditNoteRequest = Schemas["CreditNoteRequest"];
export type BillingProfileRequest = Schemas["BillingProfileRequest"];
export type GuardrailGroup = Schemas["GuardrailGroup"];
export type GuardrailReport = Schemas["GuardrailReport"];
/** `GET /analytics/guardrails` filters: days as `2026-11-24`, `group_by` a comma list. */
export type GuardrailQuery = { from?: string; to?: string; group_by?: string; organization_id?: string; cursor?: string };
export type FieldError = { field: string; location?: string; message: string };

export const API_BASE = "/api/billing";
export const LOCAL_TOKEN_PATH = "/_local/token";

/** An answer in the API's error envelope (or a network failure, status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** 422's `details.fields`, keyed by field path (`features[0].key`, `base_fee_cents`), each
   * message readable (the field names it quotes as labels, timestamps formatted). */
  get fields(): Record<string, string> {
    const fields = (this.details.fields as FieldError[] | undefined) ?? [];
    return Object.fromEntries(fields.map((f) => [f.field, fieldMessage(f.message)]));
  }
}

type Options = { method?: string; body?: unknown; headers?: Record<string, string>; query?: Record<string, string | undefined> };

export class BillingClient {
  private token: string | null = null;
  private onUnauthorized: (reason: string) => void = () => {};
  private readonly versions = new Map<string, Promise<Plan>>();

  constructor(private readonly base: string = API_BASE, private readonly fetcher: typeof fetch = (...a) => fetch(...a)) {}

  setToken(token: string | null): void {
    this.token = token;
  }

  /** Called with the API's reason when it answers 401 (forged or expired token). */
  setUnauthorizedHandler(handler: (reason: string) => void): void {
    this.onUnauthorized = handler;
  }

  private async send(path: string, options: Options = {}): Promise<Response> {
    const query = Object.entries(options.query ?? {}).filter(([, v]) => v !== undefined && v !== "");
    const url = this.base + path + (query.length ? "?" + new URLSearchParams(query as [string, string][]).toString() : "");
    const headers: Record<string, string> = { Accept: "application/json", ...(options.headers ?? {}) };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetcher(url, {
        method: options.method ?? "GET",
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch (error) {
      throw new ApiError(0, "network_error", `The billing API did not answer (${String(error)}).`);
    }
    if (!response.ok) throw await this.refusal(response);
    return response;
  }

  private async refusal(response: Response): Promise<ApiError> {
    let envelope: ErrorEnvelope | null = null;
    try {
      envelope = (await response.json()) as ErrorEnvelope;
    } catch {
      envelope = null;
    }
    const error = envelope?.error
      ? new ApiError(response.status, envelope.error.code, envelope.error.message, envelope.error.details ?? {})
      : new ApiError(response.status, "http_error", `The billing API answered ${response.status}.`);
    if (response.status === 401 && this.token) this.onUnauthorized(error.message);
    return error;
  }

  private async json<T>(path: string, options: Options = {}): Promise<T> {
    return (await (await this.send(path, options)).json()) as T;
  }

  /** The local stack's sandbox sign-in (`POST /_local/token`, never deployed). */
  async sandboxToken(request: { roles: string[]; org?: string; residency: string }): Promise<string> {
    let response: Response;
    try {
      response = await this.fetcher(LOCAL_TOKEN_PATH, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request),
      });
    } catch (error) {
      throw new ApiError(0, "network_error", `The local stack did not answer (${String(error)}).`);
    }
    if (!response.ok) throw await this.refusal(response);
    return ((await response.json()) as { token: string }).token;
  }

  // Plans
  listPlans(): Promise<Page<Plan>> {
    return this.json("/plans", { query: { limit: "200" } });
  }
  async getPlan(planId: string): Promise<{ plan: Plan; etag: string | null }> {
    const response = await this.send(`/plans/${encodeURIComponent(planId)}`);
    return { plan: (await response.json()) as Plan, etag: response.headers.get("ETag") };
  }
  /** One version of a plan, archived or not. Versions never change, so each is read once. */
  planVersion(planId: string, version: number): Promise<Plan> {
    const key = `${planId}@${version}`;
    let plan = this.versions.get(key);
    if (!plan) {
      plan = this.json<Plan>(`/plans/${encodeURIComponent(planId)}`, { query: { version: String(version) } });
      this.versions.set(key, plan);
      plan.catch(() => this.versions.delete(key)); // a refusal is not remembered
    }
    return plan;
  }
  createPlan(listing: PlanListing): Promise<Plan> {
    return this.json("/plans", { method: "POST", body: listing });
  }
  revisePlan(planId: string, terms: Schemas["PlanRevision"], etag: string | null): Promise<Plan> {
    return this.json(`/plans/${encodeURIComponent(planId)}`, {
      method: "PUT",
      body: terms,
      headers: etag ? { "If-Match": etag } : {},
    });
  }
  archivePlan(planId: string): Promise<Plan> {
    return this.json(`/plans/${encodeURIComponent(planId)}/archive`, { method: "POST" });
  }

  // Subscriptions
  subscribe(org: string, request: Schemas["ProvisionRequest"], idempotencyKey: string): Promise<Subscription> {
    return this.json(`/organizations/${encodeURIComponent(org)}/subscriptions`, {
      method: "POST",
      body: request,
      headers: { "Idempotency-Key": idempotencyKey },
    });
  }
  organizationSubscriptions(org: string): Promise<Page<Subscription>> {
    return this.json(`/organizations/${encodeURIComponent(org)}/subscriptions`);
  }
  listSubscriptions(filters: { status?: string; organization_id?: string; residency?: string; cursor?: string; limit?: string }): Promise<Page<Subscription>> {
    return this.json("/subscriptions", { query: filters });
  }
  getSubscription(id: string): Promise<SubscriptionWithHealth> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}`);
  }

  /** Org admins of that org and marketplace admins. Canceling twice answers the canceled subscription. */
  cancelSubscription(id: string): Promise<Subscription> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/cancel`, { method: "POST" });
  }

  /** The current period's invoice as it would be drafted now (never stored); with `cancelNow`,
   * the final invoice a cancellation now would make. */
  upcomingInvoice(id: string, cancelNow: boolean): Promise<UpcomingInvoice> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/invoices/upcoming`, { query: { cancel_now: cancelNow ? "true" : undefined } });
  }

  /** What a plan change would bill and start (`preview: true`: writes nothing). */
  previewPlanChange(id: string, request: Omit<PlanChangeRequest, "preview">): Promise<PlanChangePreview> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/plan-change`, { method: "POST", body: { ...request, preview: true } });
  }
  /** Org admins of that org and marketplace admins: now, or pending until the period ends. */
  changePlan(id: string, request: Omit<PlanChangeRequest, "preview">): Promise<Subscription> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/plan-change`, { method: "POST", body: request });
  }
  /** Drops a pending change: the next period starts on the current plan. */
  keepCurrentPlan(id: string): Promise<Subscription> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/plan-change`, { method: "DELETE" });
  }

  /** Org admins of that org and marketplace admins: low-balance threshold and auto top-up. */
  changeSettings(id: string, settings: SettingsRequest): Promise<SubscriptionWithHealth> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/settings`, { method: "PUT", body: settings });
  }

  // Credit grants and holds
  grants(id: string, status?: GrantStatus): Promise<Page<CreditGrant>> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/grants`, { query: { limit: "200", status } });
  }
  createGrant(id: string, request: GrantRequest): Promise<CreditGrant> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/grants`, { method: "POST", body: request });
  }
  voidGrant(grant: Pick<CreditGrant, "subscription_id" | "grant_id">, reason: string): Promise<CreditGrant> {
    return this.json(`/subscriptions/${encodeURIComponent(grant.subscription_id)}/grants/${encodeURIComponent(grant.grant_id)}/void`, {
      method: "POST",
      body: reason.trim() ? { reason: reason.trim() } : {},
    });
  }
  holds(id: string, status: Hold["status"] = "held"): Promise<Page<Hold>> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/holds`, { query: { limit: "200", status } });
  }

  // Usage
  dailyUsage(id: string, from: string, to: string): Promise<Page<DailyUsage>> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/usage/daily`, { query: { from, to } });
  }
  /** Newest first by `occurred_at`, in [from, to) when given; 20 a page unless `limit` says. */
  usageEvents(id: string, filters: { service?: string; guardrail_flag?: string; cursor?: string; from?: string; to?: string; limit?: string; status?: "recorded" | "voided" }): Promise<Page<UsageEvent>> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/usage`, { query: { limit: "20", ...filters } });
  }
  /** Finance and marketplace admins (and services): the event's credits go back where they came from. */
  voidUsage(eventId: string, request: VoidUsageRequest): Promise<UsageEvent> {
    return this.json(`/usage/${encodeURIComponent(eventId)}/void`, { method: "POST", body: request });
  }
  /** Voids the event and records its replacement with the new quantity (201: the new event). */
  amendUsage(eventId: string, request: AmendUsageRequest): Promise<UsageEvent> {
    return this.json(`/usage/${encodeURIComponent(eventId)}/amend`, { method: "POST", body: request });
  }

  // Invoices
  subscriptionInvoices(id: string): Promise<Page<Invoice>> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/invoices`);
  }
  listInvoices(filters: { status?: string; organization_id?: string; cursor?: string }): Promise<Page<Invoice>> {
    return this.json("/invoices", { query: filters });
  }
  draftInvoice(id: string): Promise<Invoice> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/invoices/draft`, { method: "POST", body: {} });
  }
  issueInvoice(invoice: Invoice): Promise<Invoice> {
    return this.json(`/subscriptions/${encodeURIComponent(invoice.subscription_id)}/invoices/${encodeURIComponent(invoice.invoice_id)}/issue`, { method: "POST" });
  }
  voidInvoice(invoice: Invoice): Promise<Invoice> {
    return this.json(`/subscriptions/${encodeURIComponent(invoice.subscription_id)}/invoices/${encodeURIComponent(invoice.invoice_id)}/void`, { method: "POST" });
  }
  /** The export as a Blob (the bearer token rides along, so this is a fetch, not a link). */
  async exportInvoice(invoice: Invoice, format: ExportFormat): Promise<Blob> {
    const response = await this.send(
      `/subscriptions/${encodeURIComponent(invoice.subscription_id)}/invoices/${encodeURIComponent(invoice.invoice_id)}/export`,
      { query: { format }, headers: { Accept: EXPORT_TYPES[format] } },
    );
    return response.blob();
  }

  // Credit notes (an issued invoice's corrections)
  creditNotes(invoice: Invoice): Promise<Page<CreditNote>> {
    return this.json(`${invoicePath(invoice)}/credit-notes`, { query: { limit: "200" } });
  }
  issueCreditNote(invoice: Invoice, note: CreditNoteRequest): Promise<CreditNote> {
    return this.json(`${invoicePath(invoice)}/credit-notes`, { method: "POST", body: note });
  }
  async exportCreditNote(note: CreditNote): Promise<Blob> {
    const path = `/subscriptions/${encodeURIComponent(note.subscription_id)}/invoices/${encodeURIComponent(note.invoice_id)}/credit-notes/${encodeURIComponent(note.credit_note_id)}/export`;
    return (await this.send(path, { query: { format: "pdf" }, headers: { Accept: "application/pdf" } })).blob();
  }

  // Billing profile (what invoices are addressed to)
  billingProfile(organizationId: string): Promise<BillingProfile> {
    return this.json(`/organizations/${encodeURIComponent(organizationId)}/billing-profile`);
  }
  saveBillingProfile(organizationId: string, profile: BillingProfileRequest): Promise<BillingProfile> {
    return this.json(`/organizations/${encodeURIComponent(organizationId)}/billing-profile`, { method: "PUT", body: profile });
  }

  // Compliance analytics
  guardrails(query: GuardrailQuery): Promise<GuardrailReport> {
    return this.json("/analytics/guardrails", { query: { group_by: query.group_by, limit: "200", ...query } });
  }
  async exportGuardrails(query: GuardrailQuery): Promise<Blob> {
    const response = await this.send("/analytics/guardrails/export", { query: { format: "csv", ...query }, headers: { Accept: "text/csv" } });
    return response.blob();
  }

  // Ledger and credits
  ledger(id: string, cursor?: string): Promise<Page<LedgerEntry>> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/ledger`, { query: { limit: "200", cursor } });
  }
  changeCredits(id: string, change: Schemas["CreditChangeRequest"]): Promise<LedgerEntry> {
    return this.json(`/subscriptions/${encodeURIComponent(id)}/credits`, { method: "POST", body: change });
  }
}

/** The page's client; tests make their own with a fake fetch. */
export const api = new BillingClient();

export function newIdempotencyKey(prefix: string): string {
  const random = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return `${prefix}-${random}`;
}

function invoicePath(invoice: Invoice): string {
  return `/subscriptions/${encodeURIComponent(invoice.subscription_id)}/invoices/${encodeURIComponent(invoice.invoice_id)}`;
}
