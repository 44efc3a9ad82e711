"use client";
import { useEffect, useState } from "react";
import { newIdempotencyKey, type ApiError, type Plan, type PlanChangeEffective, type PlanChangePreview, type PlanChangeRequest, type Subscription } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDate, formatDateTime, formatMoney } from "../lib/format";
import type { Session } from "../lib/session";
import { useIntentKey } from "../lib/useIntentKey";
import { asApiError, useResource } from "../lib/useResource";
import { InvoiceLines } from "./InvoiceLines";
import { ErrorNotice, Loading } from "./Panel";
import { SlaAcceptanceFields, slaVersion } from "./SlaAcceptance";

/** A change to `target` needs its SLA accepted when it is not the one the subscription accepted:
 * another tier, or other terms than the current plan version's (the API answers 422 without it).
 * `current`: the plan version the subscription is on, once read. */
export function needsSlaAcceptance(subscription: Subscription, target: Plan, current: Plan | null): boolean {
  if (subscription.sla_acceptance.sla_tier !== target.sla.tier) return true;
  if (!current) return false;
  const terms = (sla: Plan["sla"]) => [sla.tier, sla.uptime_percent, sla.response_time_hours, sla.support].join("|");
  return terms(current.sla) !== terms(target.sla);
}

const WHEN: Record<PlanChangeEffective, string> = {
  now: "Now: the current period closes and is billed today",
  period_end: "When the current period ends",
};

type Preview = { state: "idle" } | { state: "loading" } | { state: "ready"; preview: PlanChangePreview } | { state: "error"; error: ApiError };

/**
 * An org admin's "Change to this plan" on a catalog card: choose now or at the period's end, read
 * what the change bills (the closing invoice) and what the next period costs
 * (`POST .../plan-change` with `preview: true`, which writes nothing), accept the SLA when it is
 * not the one accepted before, then Confirm.
 */
export function PlanChange({ plan, subscription, session, onChanged }: { plan: Plan; subscription: Subscription; session: Session; onChanged: () => void }) {
  const client = useClient();
  const [open, setOpen] = useState(false);
  const [effective, setEffective] = useState<PlanChangeEffective>("period_end");
  const [acceptedBy, setAcceptedBy] = useState(session.sub);
  const [accepted, setAccepted] = useState(false);
  // A 422 naming the SLA acceptance shows its fields even where this page thought them not needed.
  const [slaAsked, setSlaAsked] = useState(false);
  const [preview, setPreview] = useState<Preview>({ state: "idle" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const intent = useIntentKey("plan-change");
  // The version the subscription is on (read once per page: the client keeps plan versions).
  const current = useResource(open ? () => client.planVersion(subscription.plan_id, subscription.plan_version) : null, [client, open, subscription.plan_id, subscription.plan_version]);
  const needsSla = slaAsked || needsSlaAcceptance(subscription, plan, current.state === "ready" ? current.data : null);
  const request = (key: string): Omit<PlanChangeRequest, "preview"> => ({
    plan_id: plan.plan_id,
    effective,
    idempotency_key: key,
    ...(needsSla ? { sla_acceptance: { accepted_by: acceptedBy.trim(), sla_version: slaVersion(plan) } } : {}),
  });

  useEffect(() => {
    if (!open) return;
    let current = true;
    setPreview({ state: "loading" });
    // The preview is its own request (it writes nothing): its key is never the change's.
    client.previewPlanChange(subscription.subscription_id, request(newIdempotencyKey("plan-preview"))).then(
      (answer) => current && setPreview({ state: "ready", preview: answer }),
      (e: unknown) => {
        const refusal = asApiError(e);
        if (refusal.code === "validation_error" && Object.keys(refusal.fields).some((f) => f.startsWith("sla_acceptance"))) setSlaAsked(true);
        if (current) setPreview({ state: "error", error: refusal });
      },
    );
    return () => {
      current = false;
    };
    // The acceptance's text is not part of what the preview shows: it is read again on Confirm.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open, effective, needsSla, client, subscription.subscription_id, plan.plan_id, plan.version]);

  if (subscription.status !== "active") return null;

  async function confirm() {
    // One key per intent (this plan, this timing, this acceptance): a retry after a failure sends
    // the same one, so a change that did go through is answered again, never made twice.
    const body = request("");
    setBusy(true);
    setError(null);
    try {
      await client.changePlan(subscription.subscription_id, { ...body, idempotency_key: intent.keyFor(body) });
      intent.done();
      setOpen(false);
      onChanged();
    } catch (e) {
      const refusal = asApiError(e);
      if (refusal.code === "validation_error" && Object.keys(refusal.fields).some((f) => f.startsWith("sla_acceptance"))) setSlaAsked(true);
      setError(refusal);
    } finally {
      setBusy(false);
    }
  }

  if (!open) {
    return (
      <button
        type="button"
        onClick={() => {
          setOpen(true);
          setError(null);
        }}
      >
        Change to this plan
      </button>
    );
  }

  const ready = preview.state === "ready";
  return (
    <form
      className="confirm plan-change"
      aria-label={`Change to ${plan.name}`}
      data-testid={`plan-change-${plan.plan_id}`}
      onSubmit={(e) => {
        e.preventDefault();
        void confirm();
      }}
    >
      <fieldset className="choices">
        <legend>When</legend>
        {(["period_end", "now"] as const).map((when) => (
          <label key={when} className="check">
            <input type="radio" name={`plan-change-when-${plan.plan_id}`} value={when} checked={effective === when} onChange={() => setEffective(when)} />
            {when === "period_end" ? `${WHEN.period_end} (${formatDate(subscription.current_period_end)})` : WHEN.now}
          </label>
        ))}
      </fieldset>
      {preview.state === "loading" ? <Loading what="what the change bills" /> : null}
      {preview.state === "error" ? <ErrorNotice error={preview.error} /> : null}
      {ready ? <PreviewText preview={preview.preview} plan={plan} subscription={subscription} /> : null}
      {needsSla ? (
        <div className="sla-acceptance">
          <SlaAcceptanceFields
            plan={plan}
            organization={subscription.organization_id}
            acceptedBy={acceptedBy}
            onAcceptedBy={setAcceptedBy}
            accepted={accepted}
            onAccepted={setAccepted}
          />
        </div>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
      <div className="row">
        <button type="submit" className="primary" disabled={!ready || busy || (needsSla && (!accepted || !acceptedBy.trim()))}>
          {busy ? "Changing…" : "Confirm"}
        </button>
        <button type="button" disabled={busy} onClick={() => setOpen(false)}>
          Not now
        </button>
      </div>
    </form>
  );
}

/** What closes now and what it bills, and what the next period costs. */
function PreviewText({ preview, plan, subscription }: { preview: PlanChangePreview; plan: Plan; subscription: Subscription }) {
  const next = preview.next_period;
  const invoice = preview.closing_invoice;
  return (
    <div className="plan-change-preview" data-testid="plan-change-preview">
      {invoice ? (
        <>
          <p className="confirm-text">
            The current period closes now ({formatDate(invoice.period_start)} → {formatDate(invoice.period_end)}) and its invoice is drafted at once; the
            allowance left in it expires:
          </p>
          <InvoiceLines invoice={invoice} caption="The invoice the change drafts now" />
          <p>
            Billed now: <strong data-testid="closing-total">{formatMoney(invoice.total_cents, invoice.currency)}</strong>
          </p>
        </>
      ) : (
        <p className="confirm-text" data-testid="closing-none">
          Nothing is billed now: the current period runs to its end ({formatDateTime(subscription.current_period_end)}) on your current plan and is invoiced as usual.
        </p>
      )}
      <p className="confirm-text" data-testid="next-period">
        From {formatDate(next.period_start)} to {formatDate(next.period_end)}: {plan.name} version {next.plan_version},{" "}
        <strong data-testid="next-base-fee">{formatMoney(next.base_fee_cents, plan.currency)}</strong> base fee with{" "}
        <strong data-testid="next-allowance">{formatCredits(next.credit_allowance)}</strong> credits of allowance. Purchased and promotional credits, holds
        and settings carry over.
      </p>
    </div>
  );
}

/** A change waiting for the period's end, with "Keep current plan" for those who may change plans. */
export function PendingPlanChangeNotice({ subscription, mayChange, onChanged }: { subscription: Subscription; mayChange: boolean; onChanged: () => void }) {
  const client = useClient();
  const pending = subscription.pending_plan_change ?? null;
  const target = useResource(pending ? () => client.planVersion(pending.plan_id, pending.plan_version) : null, [client, pending?.plan_id, pending?.plan_version]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  if (!pending || subscription.status !== "active") return null;

  async function keep() {
    setBusy(true);
    setError(null);
    try {
      await client.keepCurrentPlan(subscription.subscription_id);
      onChanged();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  const name = target.state === "ready" ? target.data.name : pending.plan_id;
  return (
    <div className="state state-pending" data-testid="pending-plan-change">
      <p>
        <strong>
          Changes to {name} (version {pending.plan_version}) on {formatDateTime(pending.effective_at)}.
        </strong>{" "}
        The next period starts on it{target.state === "ready" ? `: ${formatMoney(target.data.base_fee_cents, target.data.currency)} base fee, ${formatCredits(target.data.credit_allowance)} credits of allowance` : ""}.
      </p>
      {error ? <ErrorNotice error={error} /> : null}
      {mayChange ? (
        <button type="button" disabled={busy} onClick={() => void keep()}>
          {busy ? "Keeping…" : "Keep current plan"}
        </button>
      ) : null}
    </div>
  );
}
