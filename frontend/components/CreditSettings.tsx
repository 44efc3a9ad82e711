"use client";
import { useState } from "react";
import type { ApiError, SettingsRequest, SubscriptionWithHealth } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits } from "../lib/format";
import { wholeNumberOrAsTyped } from "../lib/input";
import { asApiError } from "../lib/useResource";
import { Field, FieldError } from "./Field";
import { ErrorNotice } from "./Panel";

const FIELDS = ["low_balance_threshold_credits", "auto_top_up", "auto_top_up.enabled", "auto_top_up.threshold_credits", "auto_top_up.amount", "auto_top_up.max_per_period"] as const;

type Draft = { threshold: string; enabled: boolean; topUpThreshold: string; amount: string; maxPerPeriod: string };

function draftOf(s: SubscriptionWithHealth): Draft {
  return {
    threshold: s.low_balance_threshold_credits ?? "",
    enabled: s.auto_top_up?.enabled ?? false,
    topUpThreshold: s.auto_top_up?.threshold_credits ?? "",
    amount: s.auto_top_up?.amount ?? "",
    maxPerPeriod: s.auto_top_up ? String(s.auto_top_up.max_per_period) : "",
  };
}

/** What changed since the subscription was read: a field left out stays as it is. */
export function settingsChange(before: Draft, after: Draft): SettingsRequest {
  const change: SettingsRequest = {};
  if (after.threshold.trim() !== before.threshold.trim()) {
    // Blank goes back to the default (10% of the allowance).
    change.low_balance_threshold_credits = after.threshold.trim() === "" ? null : after.threshold.trim();
  }
  const topUp = (d: Draft) => [d.enabled, d.topUpThreshold.trim(), d.amount.trim(), d.maxPerPeriod.trim()].join("|");
  if (topUp(after) !== topUp(before)) {
    const blank = !after.enabled && !after.topUpThreshold.trim() && !after.amount.trim() && !after.maxPerPeriod.trim();
    change.auto_top_up = blank
      ? null
      : {
          enabled: after.enabled,
          threshold_credits: after.topUpThreshold.trim(),
          amount: after.amount.trim(),
          max_per_period: wholeNumberOrAsTyped(after.maxPerPeriod),
        };
  }
  return change;
}

/** Low-balance threshold and auto top-up: editable by org admins (and marketplace admins),
 * read-only for everyone else. */
export function CreditSettings({ subscription, mayEdit, onSaved }: { subscription: SubscriptionWithHealth; mayEdit: boolean; onSaved?: () => void }) {
  const client = useClient();
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState<Draft>(() => draftOf(subscription));
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fields = error?.fields ?? {};
  const set = (patch: Partial<Draft>) => setDraft({ ...draft, ...patch });
  const a = subscription.auto_top_up;

  async function save() {
    const change = settingsChange(draftOf(subscription), draft);
    setError(null);
    setDone(null);
    if (Object.keys(change).length === 0) {
      setEditing(false);
      return;
    }
    setBusy(true);
    try {
      await client.changeSettings(subscription.subscription_id, change);
      setDone("Settings saved.");
      setEditing(false);
      onSaved?.();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  const unplaced = error && !FIELDS.some((name) => fields[name]);

  return (
    <section className="subsection" id="credit-settings" aria-labelledby="settings-title" data-testid="credit-settings">
      <div className="subsection-head">
        <h3 id="settings-title">Low balance and auto top-up</h3>
        {mayEdit && !editing ? (
          <button
            type="button"
            onClick={() => {
              setDraft(draftOf(subscription));
              setError(null);
              setDone(null);
              setEditing(true);
            }}
          >
            Change settings
          </button>
        ) : null}
      </div>
      {done ? (
        <p className="state state-ok" role="status">
          {done}
        </p>
      ) : null}
      {!editing ? (
        <dl className="facts" data-testid="settings-summary">
          <dt>Low-balance alert below</dt>
          <dd>{subscription.low_balance_threshold_credits === null ? "the default (10% of the allowance)" : `${formatCredits(subscription.low_balance_threshold_credits)} credits`}</dd>
          <dt>Auto top-up</dt>
          <dd data-testid="auto-top-up">
            {a?.enabled
              ? `On: buy ${formatCredits(a.amount)} credits when the balance falls below ${formatCredits(a.threshold_credits)}, at most ${a.max_per_period} times a period (${subscription.auto_top_ups_in_period} so far)`
              : "Off"}
          </dd>
        </dl>
      ) : (
        <form
          className="settings-form"
          aria-label="Credit settings"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <Field label="Low-balance threshold (credits)" name="low_balance_threshold_credits" error={fields.low_balance_threshold_credits}>
            {(props) => <input {...props} value={draft.threshold} onChange={(e) => set({ threshold: e.target.value })} inputMode="decimal" placeholder="default: 10% of allowance" />}
          </Field>
          <fieldset>
            <legend>Auto top-up</legend>
            <label className="check">
              <input type="checkbox" checked={draft.enabled} onChange={(e) => set({ enabled: e.target.checked })} aria-invalid={Boolean(fields["auto_top_up.enabled"])} />
              Buy credits automatically when the balance runs low
            </label>
            <FieldError name="auto_top_up.enabled" error={fields["auto_top_up.enabled"]} />
            <div className="grid">
              <Field label="When below (credits)" name="auto_top_up.threshold_credits" error={fields["auto_top_up.threshold_credits"]}>
                {(props) => <input {...props} value={draft.topUpThreshold} onChange={(e) => set({ topUpThreshold: e.target.value })} inputMode="decimal" />}
              </Field>
              <Field label="Buy (credits)" name="auto_top_up.amount" error={fields["auto_top_up.amount"]}>
                {(props) => <input {...props} value={draft.amount} onChange={(e) => set({ amount: e.target.value })} inputMode="decimal" />}
              </Field>
              <Field label="At most (times a period)" name="auto_top_up.max_per_period" error={fields["auto_top_up.max_per_period"]}>
                {(props) => <input {...props} value={draft.maxPerPeriod} onChange={(e) => set({ maxPerPeriod: e.target.value })} inputMode="numeric" />}
              </Field>
            </div>
            <FieldError name="auto_top_up" error={fields.auto_top_up} />
            <p className="muted small">Priced at the plan’s credit price and added to this period’s invoice.</p>
          </fieldset>
          <div className="row">
            <button type="submit" className="primary" disabled={busy}>
              Save settings
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {unplaced ? <ErrorNotice error={error} /> : null}
    </section>
  );
}
