"use client";
import { useState } from "react";
import type { ApiError, Plan, PlanListing } from "../lib/api";
import { optionalWholeNumber, wholeNumberOrAsTyped } from "../lib/input";
import { asApiError } from "../lib/useResource";
import { Field, FieldError } from "./Field";
import { ErrorNotice } from "./Panel";

// The full partner-listing form. 422 answers name fields as `features.0.key` (or
// `features[0].key`); each message is shown beside that field.

type Rate = { service: string; unit: string; credits_per_unit: string };
type Feature = { key: string; label: string; included: boolean; limit: string };
type Bundle = { sku: string; name: string; description: string };
export type PlanDraft = {
  plan_id: string;
  name: string;
  description: string;
  partner: string;
  billing_cadence: "monthly" | "quarterly" | "annual";
  currency: string;
  base_fee_cents: string;
  credit_allowance: string;
  overage_policy: "allow" | "block";
  overage_rate_cents: string;
  credit_price_cents: string;
  sla: { tier: string; uptime_percent: string; response_time_hours: string; support: string };
  usage_rates: Rate[];
  features: Feature[];
  bundle: Bundle[];
};

export const EMPTY_PLAN: PlanDraft = {
  plan_id: "",
  name: "",
  description: "",
  partner: "",
  billing_cadence: "monthly",
  currency: "USD",
  base_fee_cents: "",
  credit_allowance: "",
  overage_policy: "allow",
  overage_rate_cents: "",
  credit_price_cents: "",
  sla: { tier: "standard", uptime_percent: "99.9", response_time_hours: "8", support: "" },
  usage_rates: [{ service: "", unit: "", credits_per_unit: "" }],
  features: [{ key: "", label: "", included: true, limit: "" }],
  bundle: [],
};

export function draftFromPlan(plan: Plan): PlanDraft {
  return {
    plan_id: plan.plan_id,
    name: plan.name,
    description: plan.description,
    partner: plan.partner,
    billing_cadence: plan.billing_cadence,
    currency: plan.currency,
    base_fee_cents: String(plan.base_fee_cents),
    credit_allowance: plan.credit_allowance,
    overage_policy: plan.overage_policy,
    overage_rate_cents: plan.overage_rate_cents,
    credit_price_cents: plan.credit_price_cents ?? "",
    sla: { ...plan.sla },
    usage_rates: Object.entries(plan.usage_rates).map(([service, r]) => ({ service, unit: r.unit, credits_per_unit: r.credits_per_unit })),
    features: (plan.features ?? []).map((f) => ({ key: f.key, label: f.label, included: f.included, limit: f.limit === null || f.limit === undefined ? "" : String(f.limit) })),
    bundle: (plan.bundle ?? []).map((b) => ({ ...b })),
  };
}

/** The body the API takes. Whole cents stay text when they are not a plain integer, so the API names them (422). */
export function listingFromDraft(draft: PlanDraft): PlanListing {
  return {
    plan_id: draft.plan_id.trim(),
    name: draft.name,
    description: draft.description,
    partner: draft.partner,
    billing_cadence: draft.billing_cadence,
    currency: draft.currency.trim().toUpperCase(),
    base_fee_cents: wholeNumberOrAsTyped(draft.base_fee_cents),
    credit_allowance: draft.credit_allowance.trim(),
    overage_policy: draft.overage_policy,
    overage_rate_cents: draft.overage_rate_cents.trim(),
    credit_price_cents: draft.credit_price_cents.trim() === "" ? null : draft.credit_price_cents.trim(),
    sla: draft.sla,
    usage_rates: Object.fromEntries(draft.usage_rates.filter((r) => r.service.trim()).map((r) => [r.service.trim(), { unit: r.unit, credits_per_unit: r.credits_per_unit.trim() }])),
    features: draft.features.map((f) => ({ key: f.key, label: f.label, included: f.included, limit: optionalWholeNumber(f.limit) })),
    bundle: draft.bundle,
  };
}

/** `features[0].key` and `features.0.key` are the same field. */
export function fieldKey(path: string): string {
  return path.replace(/\[(\d+)\]/g, ".$1").replace(/^body\./, "");
}

/** `onReload` (a revision): read the plan again when the API answers 412 (it moved on). */
export function PlanForm({
  initial,
  editing,
  onSubmit,
  onCancel,
  onReload,
}: {
  initial: PlanDraft;
  editing: boolean;
  onSubmit: (draft: PlanDraft) => Promise<unknown>;
  onCancel: () => void;
  onReload?: () => void;
}) {
  const [draft, setDraft] = useState<PlanDraft>(initial);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const errors: Record<string, string> = error ? Object.fromEntries(Object.entries(error.fields).map(([k, v]) => [fieldKey(k), v])) : {};
  const set = <K extends keyof PlanDraft>(key: K, value: PlanDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const rateErrors = (service: string, i: number, key: string) => errors[`usage_rates.${service.trim()}.${key}`] ?? errors[`usage_rates.${i}.${key}`];

  async function submit() {
    setBusy(true);
    setError(null);
    try {
      await onSubmit(draft);
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  const text = (label: string, path: string, value: string, change: (v: string) => void, extra: { disabled?: boolean; inputMode?: "numeric" | "decimal" } = {}) => (
    <Field label={label} name={path} error={errors[path]}>
      {(props) => <input {...props} value={value} onChange={(e) => change(e.target.value)} {...extra} />}
    </Field>
  );

  return (
    <form
      className="plan-form"
      aria-label={editing ? `Revise ${initial.name}` : "New partner listing"}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {error ? <ErrorNotice error={error} onReload={onReload} /> : null}
      <div className="grid">
        {text("Plan id (slug)", "plan_id", draft.plan_id, (v) => set("plan_id", v), { disabled: editing })}
        {text("Name", "name", draft.name, (v) => set("name", v))}
        {text("Partner", "partner", draft.partner, (v) => set("partner", v))}
        <Field label="Cadence" name="billing_cadence" error={errors.billing_cadence}>
          {(props) => (
            <select {...props} value={draft.billing_cadence} onChange={(e) => set("billing_cadence", e.target.value as PlanDraft["billing_cadence"])}>
              <option value="monthly">monthly</option>
              <option value="quarterly">quarterly</option>
              <option value="annual">annual</option>
            </select>
          )}
        </Field>
        {text("Currency (ISO 4217)", "currency", draft.currency, (v) => set("currency", v))}
        {text("Base fee (cents)", "base_fee_cents", draft.base_fee_cents, (v) => set("base_fee_cents", v), { inputMode: "numeric" })}
        {text("Credit allowance", "credit_allowance", draft.credit_allowance, (v) => set("credit_allowance", v), { inputMode: "decimal" })}
        <Field label="Overage policy" name="overage_policy" error={errors.overage_policy}>
          {(props) => (
            <select {...props} value={draft.overage_policy} onChange={(e) => set("overage_policy", e.target.value as PlanDraft["overage_policy"])}>
              <option value="allow">allow (bill overage)</option>
              <option value="block">block (stop at zero)</option>
            </select>
          )}
        </Field>
        {text("Overage rate (cents / credit)", "overage_rate_cents", draft.overage_rate_cents, (v) => set("overage_rate_cents", v), { inputMode: "decimal" })}
        {text("Top-up price (cents / credit, optional)", "credit_price_cents", draft.credit_price_cents, (v) => set("credit_price_cents", v), { inputMode: "decimal" })}
        {text("SLA tier", "sla.tier", draft.sla.tier, (v) => set("sla", { ...draft.sla, tier: v }))}
        {text("SLA uptime %", "sla.uptime_percent", draft.sla.uptime_percent, (v) => set("sla", { ...draft.sla, uptime_percent: v }), { inputMode: "decimal" })}
        {text("SLA response (hours)", "sla.response_time_hours", draft.sla.response_time_hours, (v) => set("sla", { ...draft.sla, response_time_hours: v }), { inputMode: "decimal" })}
        {text("SLA support", "sla.support", draft.sla.support, (v) => set("sla", { ...draft.sla, support: v }))}
      </div>
      <Field label="Description" name="description" error={errors.description}>
        {(props) => <textarea {...props} rows={2} value={draft.description} onChange={(e) => set("description", e.target.value)} />}
      </Field>

      <fieldset>
        <legend>Usage rates</legend>
        <FieldError name="usage_rates" error={errors.usage_rates} />
        {draft.usage_rates.map((rate, i) => (
          <div className="row" key={i}>
            {(["service", "unit", "credits_per_unit"] as const).map((key) => {
              const label = key === "credits_per_unit" ? "Credits per unit" : key === "unit" ? "Unit" : "Service";
              const error = key === "service" ? undefined : rateErrors(rate.service, i, key);
              return (
                <Field key={key} label={label} name={`usage_rates.${i}.${key}`} id={`rate-${i}-${key}`} error={error}>
                  {(props) => <input {...props} value={rate[key]} onChange={(e) => set("usage_rates", draft.usage_rates.map((r, j) => (j === i ? { ...r, [key]: e.target.value } : r)))} />}
                </Field>
              );
            })}
            <button type="button" aria-label={`Remove usage rate ${i + 1}`} onClick={() => set("usage_rates", draft.usage_rates.filter((_, j) => j !== i))}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" onClick={() => set("usage_rates", [...draft.usage_rates, { service: "", unit: "", credits_per_unit: "" }])}>
          Add usage rate
        </button>
      </fieldset>

      <fieldset>
        <legend>Features</legend>
        <FieldError name="features" error={errors.features} />
        {draft.features.map((feature, i) => (
          <div className="row" key={i}>
            {(["key", "label", "limit"] as const).map((key) => {
              const name = `features.${i}.${key}`;
              return (
                <Field key={key} label={key === "key" ? "Key" : key === "label" ? "Label" : "Limit (optional)"} name={name} id={`feature-${i}-${key}`} error={errors[name]}>
                  {(props) => <input {...props} value={feature[key]} data-field={name} onChange={(e) => set("features", draft.features.map((f, j) => (j === i ? { ...f, [key]: e.target.value } : f)))} />}
                </Field>
              );
            })}
            <label className="check">
              <input type="checkbox" checked={feature.included} onChange={(e) => set("features", draft.features.map((f, j) => (j === i ? { ...f, included: e.target.checked } : f)))} />
              Included
            </label>
            <button type="button" aria-label={`Remove feature ${i + 1}`} onClick={() => set("features", draft.features.filter((_, j) => j !== i))}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" onClick={() => set("features", [...draft.features, { key: "", label: "", included: true, limit: "" }])}>
          Add feature
        </button>
      </fieldset>

      <fieldset>
        <legend>Bundle</legend>
        {draft.bundle.map((item, i) => (
          <div className="row" key={i}>
            {(["sku", "name", "description"] as const).map((key) => {
              const name = `bundle.${i}.${key}`;
              return (
                <Field key={key} label={key === "sku" ? "SKU" : key === "name" ? "Name" : "Description"} name={name} id={`bundle-${i}-${key}`} error={errors[name]}>
                  {(props) => <input {...props} value={item[key]} onChange={(e) => set("bundle", draft.bundle.map((b, j) => (j === i ? { ...b, [key]: e.target.value } : b)))} />}
                </Field>
              );
            })}
            <button type="button" aria-label={`Remove bundle item ${i + 1}`} onClick={() => set("bundle", draft.bundle.filter((_, j) => j !== i))}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" onClick={() => set("bundle", [...draft.bundle, { sku: "", name: "", description: "" }])}>
          Add bundle item
        </button>
      </fieldset>
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : editing ? "Save revision" : "Create listing"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
