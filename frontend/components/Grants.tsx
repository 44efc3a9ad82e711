"use client";
import { useState } from "react";
import { newIdempotencyKey, type ApiError, type CreditGrant, type GrantRequest, type GrantStatus } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDateTime, formatMoney } from "../lib/format";
import { optionalWholeNumber } from "../lib/input";
import { asApiError, useResource } from "../lib/useResource";
import { Field } from "./Field";
import { Empty, ErrorNotice, Loading } from "./Panel";

const KIND_TEXT = { allowance: "Allowance", purchased: "Purchased", promotional: "Promotional" } as const;
const STATUS_TEXT = { active: "Active", depleted: "Depleted", expired: "Expired", voided: "Voided" } as const;
const FILTERS: { value: GrantStatus | ""; label: string }[] = [
  { value: "active", label: "active" },
  { value: "", label: "all" },
  { value: "depleted", label: "depleted" },
  { value: "expired", label: "expired" },
  { value: "voided", label: "voided" },
];

/** An expiry within a week of now is flagged (the billing clock may run ahead; this is only a hint). */
function expiresSoon(iso: string | null, now: Date = new Date()): boolean {
  if (!iso) return false;
  const left = new Date(iso).getTime() - now.getTime();
  return left >= 0 && left < 7 * 86_400_000;
}

const ended = (g: CreditGrant) => g.status === "voided" || g.status === "expired";
/** "2026-11-25 18:08" (the column header says UTC). */
const utcless = (iso: string) => formatDateTime(iso).replace(/ UTC$/, "");

/** The subscription's credit grants, newest first (the API's order), filtered by status;
 * marketplace admins may void an active one (with a reason, after a confirmation). */
export function GrantsList({ subscriptionId, refreshKey = 0, mayVoid = false, onChanged }: { subscriptionId: string; refreshKey?: number; mayVoid?: boolean; onChanged?: () => void }) {
  const client = useClient();
  const [status, setStatus] = useState<GrantStatus | "">("active");
  const [generation, setGeneration] = useState(0);
  const grants = useResource(() => client.grants(subscriptionId, status || undefined), [client, subscriptionId, status, refreshKey, generation]);
  const [voiding, setVoiding] = useState<CreditGrant | null>(null);
  const [reason, setReason] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function confirmVoid() {
    if (!voiding) return;
    setBusy(true);
    setError(null);
    try {
      const voided = await client.voidGrant(voiding, reason);
      setDone(`Voided the ${KIND_TEXT[voided.kind].toLowerCase()} grant of ${formatCredits(voided.amount)} credits.`);
      setVoiding(null);
      setReason("");
      setGeneration((g) => g + 1);
      onChanged?.();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="subsection" aria-labelledby="grants-title" data-testid="grants">
      <div className="subsection-head">
        <h3 id="grants-title">Credit grants</h3>
        <label className="inline">
          Show
          <select value={status} onChange={(e) => setStatus(e.target.value as GrantStatus | "")} aria-label="Grant status">
            {FILTERS.map((f) => (
              <option key={f.label} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {done ? (
        <p className="state state-ok" role="status">
          {done}
        </p>
      ) : null}
      {grants.state === "loading" ? <Loading what="credit grants" /> : null}
      {grants.state === "error" ? <ErrorNotice error={grants.error} onRetry={grants.reload} /> : null}
      {grants.state === "ready" && grants.data.items.length === 0 ? <Empty>{status ? `No ${status} grants.` : "No grants."}</Empty> : null}
      {grants.state === "ready" && grants.data.items.length > 0 ? (
        <div className="scroll" tabIndex={0} role="region" aria-label="Credit grants table">
          <table className="data grants stack" data-testid="grant-list">
            <caption className="sr-only">Credit grants{status ? ` (${status})` : ""}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Grant</th>
                <th scope="col" className="num">
                  Remaining
                </th>
                <th scope="col">Valid (UTC)</th>
                <th scope="col" className="num">
                  Price
                </th>
                {mayVoid ? (
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {grants.data.items.map((g) => (
                <tr key={g.grant_id} data-testid={`grant-${g.grant_id}`} data-kind={g.kind} data-status={g.status}>
                  <td data-label="Grant">
                    <span className="badges">
                      <span className={`badge kind-${g.kind}`}>{KIND_TEXT[g.kind]}</span>
                      <span className={`badge grant-${g.status}`}>{STATUS_TEXT[g.status]}</span>
                    </span>
                    <span className="grant-reason">{g.reason}</span>
                    <span className="muted small">priority {g.priority}</span>
                  </td>
                  <td className="num" data-label="Remaining">
                    {/* An ended grant holds 0; `ended_amount` is what left the balance with it. */}
                    <strong>{formatCredits(g.remaining)}</strong> <span className="muted">/ {formatCredits(g.amount)}</span>
                    {ended(g) && g.ended_amount && g.ended_amount !== "0" ? (
                      <span className="ended-note muted small">
                        {formatCredits(g.ended_amount)} {g.status}
                      </span>
                    ) : null}
                  </td>
                  <td className="valid" data-label="Valid (UTC)">
                    <span className="muted">from {utcless(g.effective_at)}</span>
                    {g.expires_at ? (
                      <span className={expiresSoon(g.expires_at) && g.status === "active" ? "expiry soon" : "expiry"}>until {utcless(g.expires_at)}</span>
                    ) : (
                      <span className="expiry none">no expiry</span>
                    )}
                  </td>
                  <td className="num" data-label="Price">
                    {g.price_cents ? formatMoney(g.price_cents, g.currency) : <span className="muted">free</span>}
                  </td>
                  {mayVoid ? (
                    <td className="actions">
                      {g.status === "active" ? (
                        <button
                          type="button"
                          className="danger small"
                          onClick={() => {
                            setVoiding(g);
                            setError(null);
                            setDone(null);
                          }}
                          aria-label={`Void ${KIND_TEXT[g.kind].toLowerCase()} grant of ${formatCredits(g.amount)} credits (${g.reason})`}
                        >
                          Void
                        </button>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {voiding ? (
        <form
          className="confirm row filters"
          aria-label="Void grant"
          onSubmit={(e) => {
            e.preventDefault();
            void confirmVoid();
          }}
        >
          <p className="confirm-text">
            Void the {KIND_TEXT[voiding.kind].toLowerCase()} grant “{voiding.reason}”? Its remaining {formatCredits(voiding.remaining)} credits leave the
            balance.
          </p>
          <label>
            Reason (optional)
            <input value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
          <button type="submit" className="danger" disabled={busy}>
            Confirm void
          </button>
          <button
            type="button"
            onClick={() => {
              setVoiding(null);
              setError(null);
            }}
          >
            Cancel
          </button>
          {error ? (
            <div className="confirm-error">
              <ErrorNotice error={error} />
            </div>
          ) : null}
        </form>
      ) : null}
    </section>
  );
}

/** Credits reserved by running work (`GET .../holds?status=held`). */
export function HoldsList({ subscriptionId, refreshKey = 0 }: { subscriptionId: string; refreshKey?: number }) {
  const client = useClient();
  const holds = useResource(() => client.holds(subscriptionId, "held"), [client, subscriptionId, refreshKey]);
  return (
    <section className="subsection" aria-labelledby="holds-title" data-testid="holds">
      <h3 id="holds-title">Active holds</h3>
      {holds.state === "loading" ? <Loading what="holds" /> : null}
      {holds.state === "error" ? <ErrorNotice error={holds.error} onRetry={holds.reload} /> : null}
      {holds.state === "ready" && holds.data.items.length === 0 ? <Empty>No credits are held for running work.</Empty> : null}
      {holds.state === "ready" && holds.data.items.length > 0 ? (
        <div className="scroll" tabIndex={0} role="region" aria-label="Active holds table">
          <table className="data stack" data-testid="hold-list">
            <caption className="sr-only">Active holds, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col" className="num">
                  Credits
                </th>
                <th scope="col">Expires at</th>
              </tr>
            </thead>
            <tbody>
              {holds.data.items.map((h) => (
                <tr key={h.hold_id}>
                  <td data-label="Service">{h.service}</td>
                  <td className="num" data-label="Credits">
                    {formatCredits(h.credits)}
                  </td>
                  <td data-label="Expires at">{formatDateTime(h.expires_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

/** "2026-12-31T23:59" (a datetime-local value, read as UTC) -> "2026-12-31T23:59:00Z"; blank -> null. */
export function utcFromInput(value: string): string | null {
  const v = value.trim();
  if (!v) return null;
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(v) ? `${v}:00Z` : v;
}

const GRANT_FIELDS = ["amount", "kind", "priority", "effective_at", "expires_at", "price_cents", "reason"] as const;
type GrantDraft = { kind: "promotional" | "purchased"; amount: string; price: string; priority: string; effective: string; expires: string; reason: string };
const EMPTY_GRANT: GrantDraft = { kind: "promotional", amount: "", price: "", priority: "", effective: "", expires: "", reason: "" };

/** marketplace:admin: grant purchased or promotional credits to the selected subscription. */
export function GrantForm({ subscriptionId, onChanged }: { subscriptionId: string | null; onChanged: () => void }) {
  const client = useClient();
  const [draft, setDraft] = useState<GrantDraft>(EMPTY_GRANT);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fields = error?.fields ?? {};
  const set = (patch: Partial<GrantDraft>) => setDraft({ ...draft, ...patch });

  async function submit() {
    if (!subscriptionId) return;
    setBusy(true);
    setError(null);
    setDone(null);
    const request: GrantRequest = {
      kind: draft.kind,
      amount: draft.amount.trim(),
      reason: draft.reason,
      idempotency_key: newIdempotencyKey("grant"),
      priority: optionalWholeNumber(draft.priority),
      effective_at: utcFromInput(draft.effective),
      expires_at: utcFromInput(draft.expires),
      // Blank: the plan's credit price. Promotional credits are free (nothing is sent).
      price_cents: draft.kind === "purchased" ? optionalWholeNumber(draft.price) : null,
    };
    try {
      const grant = await client.createGrant(subscriptionId, request);
      setDone(
        `Granted ${formatCredits(grant.amount)} ${grant.kind} credits${grant.expires_at ? `, expiring ${formatDateTime(grant.expires_at)}` : ""}${grant.price_cents ? ` for ${formatMoney(grant.price_cents, grant.currency)}` : ""}.`,
      );
      setDraft(EMPTY_GRANT);
      onChanged();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  const unplaced = error && !GRANT_FIELDS.some((name) => fields[name]);

  return (
    <div className="admin-block">
      <h3>Grant credits</h3>
      {!subscriptionId ? (
        <Empty>Select a subscription to grant it credits.</Empty>
      ) : (
        <form
          className="grant-form"
          aria-label="Grant credits"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <Field label="Kind" name="kind" id="grant-kind" error={fields.kind}>
            {(props) => (
              <select {...props} value={draft.kind} onChange={(e) => set({ kind: e.target.value as GrantDraft["kind"] })}>
                <option value="promotional">promotional (free)</option>
                <option value="purchased">purchased</option>
              </select>
            )}
          </Field>
          <Field label="Amount (credits)" name="amount" id="grant-amount" error={fields.amount}>
            {(props) => <input {...props} value={draft.amount} onChange={(e) => set({ amount: e.target.value })} inputMode="decimal" />}
          </Field>
          <Field label="Price (cents, optional)" name="price_cents" id="grant-price_cents" error={fields.price_cents}>
            {(props) => (
              <input
                {...props}
                value={draft.kind === "purchased" ? draft.price : ""}
                onChange={(e) => set({ price: e.target.value })}
                inputMode="numeric"
                placeholder={draft.kind === "purchased" ? "plan's price" : "free"}
                disabled={draft.kind !== "purchased"}
              />
            )}
          </Field>
          <Field label="Priority (0–1000, optional)" name="priority" id="grant-priority" error={fields.priority}>
            {(props) => <input {...props} value={draft.priority} onChange={(e) => set({ priority: e.target.value })} inputMode="numeric" placeholder="default" />}
          </Field>
          <Field label="Effective from (UTC, optional)" name="effective_at" id="grant-effective_at" error={fields.effective_at}>
            {(props) => <input {...props} type="datetime-local" value={draft.effective} onChange={(e) => set({ effective: e.target.value })} />}
          </Field>
          <Field label="Expires at (UTC, optional)" name="expires_at" id="grant-expires_at" error={fields.expires_at}>
            {(props) => <input {...props} type="datetime-local" value={draft.expires} onChange={(e) => set({ expires: e.target.value })} />}
          </Field>
          <Field label="Reason" name="reason" id="grant-reason" className="wide" error={fields.reason}>
            {(props) => <input {...props} value={draft.reason} onChange={(e) => set({ reason: e.target.value })} />}
          </Field>
          <div className="form-actions row">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? "Granting…" : "Grant credits"}
            </button>
            {/* Beside the button that caused it, where the eye already is. */}
            {done ? (
              <p className="state state-ok" role="status" data-testid="grant-done">
                {done}
              </p>
            ) : null}
          </div>
        </form>
      )}
      {unplaced ? <ErrorNotice error={error} /> : null}
    </div>
  );
}
