"use client";
import { useState } from "react";
import type { ApiError, CreditNote, Invoice } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDateTime, formatMoney, minorDigits } from "../lib/format";
import { minorUnitsOrAsTyped } from "../lib/input";
import { asApiError, useResource } from "../lib/useResource";
import { Field } from "./Field";
import { saveBlob } from "../lib/download";
import { ErrorNotice, Loading } from "./Panel";

/**
 * An issued invoice's credit notes, each downloadable as a PDF; finance and staff issue one:
 * an amount per line (never more than the line billed, across all notes: the API refuses it at
 * the line), a reason, and optionally credits granted to the organization.
 */
export function CreditNotes({ invoice, mayIssue, onIssued }: { invoice: Invoice; mayIssue: boolean; onIssued: (message: string) => Promise<void> }) {
  const client = useClient();
  const notes = useResource(() => client.creditNotes(invoice), [invoice.invoice_id, invoice.credited_cents]);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  if (invoice.status !== "issued") return null;

  async function download(note: CreditNote) {
    setError(null);
    try {
      saveBlob(await client.exportCreditNote(note), `${note.number}.pdf`);
    } catch (e) {
      setError(asApiError(e));
    }
  }

  return (
    <section className="credit-notes" aria-label="Credit notes">
      <h4>Credit notes</h4>
      {error ? <ErrorNotice error={error} /> : null}
      {notes.state === "loading" ? <Loading what="credit notes" /> : null}
      {notes.state === "error" ? <ErrorNotice error={notes.error} onRetry={notes.reload} /> : null}
      {notes.state === "ready" && notes.data.items.length === 0 ? <p className="muted small">None: this invoice is as issued.</p> : null}
      {notes.state === "ready" && notes.data.items.length ? (
        <ul className="plain" data-testid="credit-note-list">
          {notes.data.items.map((note) => (
            <li key={note.credit_note_id}>
              <strong>{note.number}</strong> · −{formatMoney(note.total_cents, note.currency)} · {note.reason}
              {note.credits_granted ? ` · ${formatCredits(note.credits_granted)} credits granted` : ""}
              <span className="muted small"> · {formatDateTime(note.created_at)}</span>{" "}
              <button type="button" onClick={() => void download(note)}>
                PDF
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {mayIssue && !open ? (
        <button type="button" onClick={() => setOpen(true)}>
          Credit note…
        </button>
      ) : null}
      {mayIssue && open ? (
        <CreditNoteForm
          invoice={invoice}
          onCancel={() => setOpen(false)}
          onIssued={async (note) => {
            setOpen(false);
            await onIssued(`Credit note ${note.number} issued on ${invoice.number}: −${formatMoney(note.total_cents, note.currency)}.`);
          }}
        />
      ) : null}
    </section>
  );
}

function CreditNoteForm({ invoice, onCancel, onIssued }: { invoice: Invoice; onCancel: () => void; onIssued: (note: CreditNote) => Promise<void> }) {
  const client = useClient();
  const items = invoice.line_items ?? [];
  const [amounts, setAmounts] = useState<string[]>(() => items.map(() => ""));
  const [reason, setReason] = useState("");
  const [credits, setCredits] = useState("");
  const [key] = useState(() => crypto.randomUUID()); // one key per note: a retried submit issues it once
  const [error, setError] = useState<ApiError | null>(null);
  const [sent, setSent] = useState<number[]>([]); // the invoice line each position of the request named
  const [busy, setBusy] = useState(false);
  const fields = error?.fields ?? {};
  const digits = minorDigits(invoice.currency);
  // The API names a request position (`lines.0.amount_cents`): shown at the invoice line it was for.
  const lineError = (line: number) => {
    const at = `lines.${sent.indexOf(line)}`;
    return sent.includes(line) ? fields[`${at}.amount_cents`] ?? fields[`${at}.line`] ?? fields[at] : undefined;
  };

  async function submit() {
    setBusy(true);
    setError(null);
    const lines = amounts.flatMap((amount, line) => (amount.trim() ? [{ line, amount_cents: minorUnitsOrAsTyped(amount, digits) }] : []));
    setSent(lines.map((l) => l.line));
    try {
      const note = await client.issueCreditNote(invoice, {
        lines,
        reason: reason.trim(),
        idempotency_key: key,
        grant_credits: credits.trim() ? credits.trim() : null,
      });
      await onIssued(note);
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      className="credit-note-form"
      aria-label="Credit note"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      {error && !Object.keys(fields).length ? <ErrorNotice error={error} /> : null}
      {fields.lines ? <p className="field-error">{fields.lines}</p> : null}
      {items.map((item, line) => (
        <Field key={line} label={`${item.description} (billed ${formatMoney(item.amount_cents, invoice.currency)})`} name={`lines.${line}`} error={lineError(line)}>
          {(control) => (
            <input {...control} inputMode="decimal" placeholder="0.00" value={amounts[line]} onChange={(e) => setAmounts(amounts.map((a, i) => (i === line ? e.target.value : a)))} />
          )}
        </Field>
      ))}
      <Field label="Reason" name="reason" error={fields.reason}>
        {(control) => <input {...control} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
      <Field label="Also grant credits (optional)" name="grant_credits" error={fields.grant_credits}>
        {(control) => <input {...control} inputMode="decimal" value={credits} onChange={(e) => setCredits(e.target.value)} />}
      </Field>
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>
          Issue credit note
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
