"use client";
import { useState } from "react";
import type { ApiError, BillingProfile, BillingProfileRequest } from "../lib/api";
import { useClient } from "../lib/context";
import { wholeNumberOrAsTyped } from "../lib/input";
import { asApiError, useResource } from "../lib/useResource";
import { Field } from "./Field";
import { ErrorNotice, Loading, Panel } from "./Panel";

type Draft = Record<"legal_name" | "email" | "line1" | "line2" | "city" | "postal_code" | "region" | "country" | "tax_id" | "net_terms_days", string>;

const EMPTY: Draft = { legal_name: "", email: "", line1: "", line2: "", city: "", postal_code: "", region: "", country: "", tax_id: "", net_terms_days: "30" };

function draftOf(profile: BillingProfile | null): Draft {
  if (!profile) return EMPTY;
  const a = profile.address;
  return {
    legal_name: profile.legal_name,
    email: profile.email,
    line1: a.line1,
    line2: a.line2 ?? "",
    city: a.city,
    postal_code: a.postal_code,
    region: a.region ?? "",
    country: a.country,
    tax_id: profile.tax_id ?? "",
    net_terms_days: String(profile.net_terms_days),
  };
}

/** The request for a draft: blanks of optional parts left out, the country as the API spells it. */
export function profileRequest(d: Draft): BillingProfileRequest {
  const optional = (text: string) => (text.trim() ? text.trim() : null);
  return {
    legal_name: d.legal_name.trim(),
    email: d.email.trim(),
    address: {
      line1: d.line1.trim(),
      line2: optional(d.line2),
      city: d.city.trim(),
      postal_code: d.postal_code.trim(),
      region: optional(d.region),
      country: d.country.trim().toUpperCase(),
    },
    tax_id: optional(d.tax_id),
    // Sent as typed when it is no whole number: the API's 422 then names the field.
    net_terms_days: wholeNumberOrAsTyped(d.net_terms_days),
  };
}

const LABELS: [keyof Draft, string, string][] = [
  ["legal_name", "Legal name", "legal_name"],
  ["email", "Billing e-mail", "email"],
  ["line1", "Address", "address.line1"],
  ["line2", "Address, second line (optional)", "address.line2"],
  ["postal_code", "Postal code", "address.postal_code"],
  ["city", "City", "address.city"],
  ["region", "Region (optional)", "address.region"],
  ["country", "Country (ISO code, e.g. CH)", "address.country"],
  ["tax_id", "Tax ID (optional)", "tax_id"],
  ["net_terms_days", "Payment terms (days)", "net_terms_days"],
];

/**
 * Who the organization's invoices are addressed to. Org admins keep it; everyone else reads it.
 * Issued invoices keep the profile they were issued with; drafts show the current one.
 */
export function BillingProfilePanel({ organizationId, mayEdit }: { organizationId: string; mayEdit: boolean }) {
  const client = useClient();
  const profile = useResource(() => client.billingProfile(organizationId).catch((e: unknown) => (asApiError(e).status === 404 ? null : Promise.reject(e))), [organizationId]);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fields = error?.fields ?? {};

  async function save(current: Draft) {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await client.saveBillingProfile(organizationId, profileRequest(current));
      setDone("Billing profile saved: invoices issued from now on are addressed to it.");
      setDraft(null);
      profile.reload();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  if (profile.state === "loading") return <Panel id="billing-profile" title="Billing profile"><Loading what="the billing profile" /></Panel>;
  if (profile.state === "error") return <Panel id="billing-profile" title="Billing profile"><ErrorNotice error={profile.error} onRetry={profile.reload} /></Panel>;
  const stored = profile.data;
  const edit = () => setDraft(draftOf(stored));
  return (
    <Panel id="billing-profile" title="Billing profile" actions={mayEdit && !draft ? <button type="button" onClick={edit}>{stored ? "Edit" : "Add billing profile"}</button> : null}>
      {done ? <p className="saved" role="status">{done}</p> : null}
      {draft ? (
        <form
          className="profile-form"
          onSubmit={(event) => {
            event.preventDefault();
            void save(draft);
          }}
        >
          {error && !Object.keys(fields).length ? <ErrorNotice error={error} /> : null}
          {LABELS.map(([key, label, name]) => (
            <Field key={key} label={label} name={name} error={fields[name]}>
              {(control) => <input {...control} value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />}
            </Field>
          ))}
          <div className="row">
            <button type="submit" className="primary" disabled={busy}>
              Save profile
            </button>
            <button type="button" onClick={() => setDraft(null)} disabled={busy}>
              Cancel
            </button>
          </div>
        </form>
      ) : stored ? (
        <address className="bill-to" data-testid="billing-profile">
          <strong>{stored.legal_name}</strong> · {stored.email}
          <br />
          {[stored.address.line1, stored.address.line2, `${stored.address.postal_code} ${stored.address.city}`, stored.address.region, stored.address.country].filter(Boolean).join(", ")}
          <br />
          {stored.tax_id ? `Tax ID ${stored.tax_id} · ` : ""}payment due {stored.net_terms_days} days after issue
        </address>
      ) : (
        <p className="state state-empty">No billing profile yet: invoices name the organization id alone.{mayEdit ? " Add one so invoices carry your legal name and address." : ""}</p>
      )}
    </Panel>
  );
}
