"use client";
import { useState } from "react";
import type { ApiError, UsageEvent } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDateTime, formatQuantity, unitPlural } from "../lib/format";
import { useIntentKey } from "../lib/useIntentKey";
import { asApiError } from "../lib/useResource";
import { Field } from "./Field";
import { ErrorNotice } from "./Panel";

export type Correction = { action: "void" | "amend"; event: UsageEvent };

/** "planner usage of 3 finalizations on 2026-11-20 10:00 UTC": which event, for a person. */
export function describeEvent(event: UsageEvent): string {
  return `${event.service} usage of ${formatQuantity(event.quantity, event.unit)} on ${formatDateTime(event.occurred_at)}`;
}

/** Under a usage row: voided when and why, and which event replaced it (or which it replaces). */
export function CorrectionNote({ event }: { event: UsageEvent }) {
  if (event.status === "voided") {
    return (
      <span className="void-note" data-testid={`void-note-${event.event_id}`}>
        Voided {formatDateTime(event.voided_at)}
        {event.void_reason ? `: ${event.void_reason}` : ""}
        {event.replaced_by ? " (amended: see the replacing event)" : ""}
      </span>
    );
  }
  return event.replaces ? <span className="muted small correction-note">Amends an earlier event</span> : null;
}

/**
 * Finance and marketplace admins: void a usage event or amend its quantity, with a reason, after
 * reading what it does. One idempotency key per intent (this event, this action, this reason and
 * quantity), kept when the same request is sent again after a failure.
 */
export function CorrectionForm({ correction, onDone, onCancel }: { correction: Correction; onDone: (message: string) => void; onCancel: () => void }) {
  const client = useClient();
  const { action, event } = correction;
  const [reason, setReason] = useState("");
  const [quantity, setQuantity] = useState(event.quantity);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const intent = useIntentKey(`usage-${action}`);
  const fields = error?.fields ?? {};
  const placed = Boolean(fields.reason || fields.quantity);
  const what = describeEvent(event);

  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      if (action === "void") {
        const body = { reason: reason.trim() };
        const voided = await client.voidUsage(event.event_id, { ...body, idempotency_key: intent.keyFor({ event: event.event_id, ...body }) });
        intent.done();
        onDone(`Voided the ${what}: ${formatCredits(voided.debited_credits)} credits went back to the grants they came from.`);
      } else {
        const body = { quantity: quantity.trim(), reason: reason.trim() };
        const amended = await client.amendUsage(event.event_id, { ...body, idempotency_key: intent.keyFor({ event: event.event_id, ...body }) });
        intent.done();
        onDone(`Amended the ${what} to ${formatQuantity(amended.quantity, amended.unit)}: the new event is charged ${formatCredits(amended.credits)} credits.`);
      }
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  const title = action === "void" ? "Void usage event" : "Amend usage event";
  return (
    <form
      className="confirm correction-form"
      aria-label={title}
      data-testid="usage-correction"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void confirm();
      }}
    >
      <p className="confirm-text">
        {action === "void" ? (
          <>
            Void the {what}? Its {formatCredits(event.debited_credits)} debited credits go back to the grants they came from
            {event.overage_credits !== "0" ? ` and its ${formatCredits(event.overage_credits)} overage credits leave the period` : ""}. It stays in the history,
            struck, with your reason.
          </>
        ) : (
          <>
            Amend the {what}? It is voided and a new event with the quantity below is recorded in its place, charged at the plan&apos;s rate.
          </>
        )}
      </p>
      <div className="row">
        {action === "amend" ? (
          <Field label={`New quantity (${unitPlural(event.unit)})`} name="quantity" id="correction-quantity" error={fields.quantity}>
            {(props) => <input {...props} value={quantity} onChange={(e) => setQuantity(e.target.value)} inputMode="decimal" size={10} />}
          </Field>
        ) : null}
        <Field label="Reason" name="reason" id="correction-reason" error={fields.reason}>
          {(props) => <input {...props} value={reason} onChange={(e) => setReason(e.target.value)} autoFocus required placeholder="e.g. a run sized twice" />}
        </Field>
      </div>
      {error && !placed ? <ErrorNotice error={error} /> : null}
      <div className="row">
        <button type="submit" className="danger" disabled={busy || reason.trim() === "" || (action === "amend" && quantity.trim() === "")}>
          {busy ? "Saving…" : action === "void" ? "Confirm void" : "Confirm amendment"}
        </button>
        <button type="button" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
