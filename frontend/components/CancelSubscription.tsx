"use client";
import { useState } from "react";
import type { ApiError, SubscriptionWithHealth, UpcomingInvoice } from "../lib/api";
import { useClient } from "../lib/context";
import { formatDate, formatDateTime, formatMoney } from "../lib/format";
import { asApiError } from "../lib/useResource";
import { InvoiceLines } from "./InvoiceLines";
import { ErrorNotice, Loading } from "./Panel";

/** What a canceled subscription still means: when it ended and what is billed. */
export function CanceledNotice({ subscription }: { subscription: SubscriptionWithHealth }) {
  if (subscription.status !== "canceled") return null;
  return (
    <div className="state state-canceled" data-testid="canceled-state">
      <strong>Canceled {formatDateTime(subscription.canceled_at)}.</strong> No more usage is accepted. The final period ({formatDate(subscription.current_period_start)} →{" "}
      {formatDate(subscription.canceled_at)}) is invoiced with its usage and the base fee prorated.
    </div>
  );
}

type Step = { at: "closed" } | { at: "loading" } | { at: "preview"; invoice: UpcomingInvoice } | { at: "error"; error: ApiError };

/** Org admins (and marketplace admins): cancel, after reading the final invoice a cancellation now
 * would make (`GET .../invoices/upcoming?cancel_now=true`, never stored). */
export function CancelSubscription({ subscription, mayCancel, onCanceled }: { subscription: SubscriptionWithHealth; mayCancel: boolean; onCanceled?: () => void }) {
  const client = useClient();
  const [step, setStep] = useState<Step>({ at: "closed" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  if (subscription.status !== "active" || !mayCancel) return null;

  async function preview() {
    setStep({ at: "loading" });
    setError(null);
    try {
      setStep({ at: "preview", invoice: await client.upcomingInvoice(subscription.subscription_id, true) });
    } catch (e) {
      setStep({ at: "error", error: asApiError(e) });
    }
  }

  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await client.cancelSubscription(subscription.subscription_id);
      setStep({ at: "closed" });
      onCanceled?.();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="subsection" aria-labelledby="cancel-title" data-testid="cancel-subscription">
      <div className="subsection-head">
        <h3 id="cancel-title">Cancel subscription</h3>
        {step.at === "closed" || step.at === "error" ? (
          <button type="button" className="danger" onClick={() => void preview()}>
            Cancel subscription
          </button>
        ) : null}
      </div>
      {step.at === "loading" ? <Loading what="the final invoice" /> : null}
      {step.at === "error" ? <ErrorNotice error={step.error} onRetry={() => void preview()} /> : null}
      {step.at === "preview" ? (
        <div className="confirm" role="group" aria-label="Confirm cancellation">
          <p className="confirm-text">
            Canceling now ends the current period now: no more usage is accepted, and this is the final invoice it drafts for{" "}
            {formatDate(step.invoice.period_start)} → {formatDate(step.invoice.period_end)}:
          </p>
          <InvoiceLines invoice={step.invoice} caption="The final invoice if canceled now" />
          <p>
            Final invoice total: <strong data-testid="final-total">{formatMoney(step.invoice.total_cents, step.invoice.currency)}</strong>
          </p>
          {error ? <ErrorNotice error={error} /> : null}
          <div className="row">
            <button type="button" className="danger" disabled={busy} onClick={() => void confirm()}>
              {busy ? "Canceling…" : "Confirm"}
            </button>
            <button type="button" disabled={busy} onClick={() => setStep({ at: "closed" })}>
              Keep subscription
            </button>
          </div>
        </div>
      ) : null}
    </section>
  );
}
