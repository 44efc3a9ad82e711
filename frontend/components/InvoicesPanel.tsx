"use client";
import { useState } from "react";
import type { ApiError, ExportFormat, Invoice } from "../lib/api";
import { useClient } from "../lib/context";
import { formatDate, formatDateTime, formatMoney } from "../lib/format";
import { asApiError, useResource } from "../lib/useResource";
import { CreditNotes } from "./CreditNotes";
import { saveBlob } from "../lib/download";
import { InvoiceLines } from "./InvoiceLines";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";

export function InvoicesPanel({
  subscriptionId,
  mayManage,
  refreshKey = 0,
  onChanged,
}: {
  subscriptionId: string | null;
  mayManage: boolean;
  refreshKey?: number;
  onChanged?: () => void;
}) {
  const client = useClient();
  const [selected, setSelected] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [generation, setGeneration] = useState(0);
  const invoices = useResource(subscriptionId ? () => client.subscriptionInvoices(subscriptionId) : null, [client, subscriptionId, refreshKey, generation]);

  // What the last action did, said above the list: the list reloads after it (and the detail with it).
  const [notice, setNotice] = useState<string | null>(null);
  async function act(action: () => Promise<Invoice>) {
    setBusy(true);
    setActionError(null);
    setNotice(null);
    try {
      const invoice = await action();
      setSelected(invoice.invoice_id);
      setGeneration((g) => g + 1);
      onChanged?.();
    } catch (error) {
      setActionError(asApiError(error));
    } finally {
      setBusy(false);
    }
  }

  const current = invoices.state === "ready" ? invoices.data.items.find((i) => i.invoice_id === selected) ?? null : null;
  return (
    <Panel
      id="invoices"
      title="Invoices"
      actions={
        mayManage && subscriptionId ? (
          <button type="button" disabled={busy} onClick={() => void act(() => client.draftInvoice(subscriptionId))}>
            Draft invoice for the current period
          </button>
        ) : null
      }
    >
      {actionError ? <ErrorNotice error={actionError} /> : null}
      {notice ? (
        <p className="saved" role="status" data-testid="invoice-notice">
          {notice}
        </p>
      ) : null}
      {!subscriptionId ? (
        <Empty>No subscription selected.</Empty>
      ) : invoices.state === "loading" ? (
        <Loading what="invoices" />
      ) : invoices.state === "error" ? (
        <ErrorNotice error={invoices.error} onRetry={invoices.reload} />
      ) : invoices.data.items.length === 0 ? (
        <Empty>No invoices yet: the first is drafted when the period ends.</Empty>
      ) : (
        <>
          <div className="scroll">
            <table className="data stack" data-testid="invoice-list">
              <caption className="sr-only">Invoices, newest period first</caption>
              <thead>
                <tr>
                  <th scope="col">Period</th>
                  <th scope="col">Number</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">Total</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {invoices.data.items.map((invoice) => (
                  <tr key={invoice.invoice_id} className={invoice.invoice_id === selected ? "selected" : undefined}>
                    <td data-label="Period">
                      {formatDate(invoice.period_start)} → {formatDate(invoice.period_end)}
                    </td>
                    <td data-label="Number">{invoice.number ?? <span className="muted">not issued</span>}</td>
                    <td data-label="Status">
                      <span className={`badge invoice-${invoice.status}`}>{invoice.status}</span>
                    </td>
                    <td className="num" data-label="Total">
                      {formatMoney(invoice.total_cents, invoice.currency)}
                    </td>
                    <td className="actions">
                      <button type="button" onClick={() => setSelected(invoice.invoice_id)} aria-label={`View invoice for ${formatDate(invoice.period_start)}`}>
                        View
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {current ? (
            <InvoiceDetail
              invoice={current}
              mayManage={mayManage}
              busy={busy}
              act={act}
              onCredited={async (message) => {
                await act(async () => current);
                setNotice(message);
              }}
            />
          ) : null}
        </>
      )}
    </Panel>
  );
}

function InvoiceDetail({
  invoice,
  mayManage,
  busy,
  act,
  onCredited,
}: {
  invoice: Invoice;
  mayManage: boolean;
  busy: boolean;
  act: (action: () => Promise<Invoice>) => Promise<void>;
  onCredited: (message: string) => Promise<void>;
}) {
  const client = useClient();
  const [downloadError, setDownloadError] = useState<ApiError | null>(null);
  async function download(format: ExportFormat) {
    setDownloadError(null);
    try {
      const blob = await client.exportInvoice(invoice, format);
      saveBlob(blob, `${invoice.number ?? invoice.invoice_id}.${format}`);
    } catch (error) {
      setDownloadError(asApiError(error));
    }
  }
  return (
    <div className="invoice-detail" data-testid="invoice-detail">
      <h3>
        {invoice.number ?? "Draft"} · {formatDate(invoice.period_start)} → {formatDate(invoice.period_end)}
      </h3>
      <p className="muted">
        {invoice.organization_id} · {invoice.status}
        {invoice.issued_at ? ` · issued ${formatDateTime(invoice.issued_at)}` : ""}
        {invoice.due_at ? ` · due ${formatDate(invoice.due_at)}` : ""}
      </p>
      <BillTo invoice={invoice} />
      <InvoiceLines invoice={invoice} />
      {invoice.credited_cents ? (
        <dl className="invoice-due" data-testid="invoice-due">
          <dt>Credited</dt>
          <dd>−{formatMoney(invoice.credited_cents, invoice.currency)}</dd>
          <dt>Amount due</dt>
          <dd>
            <strong>{formatMoney(invoice.amount_due_cents, invoice.currency)}</strong>
          </dd>
        </dl>
      ) : null}
      <CreditNotes invoice={invoice} mayIssue={mayManage} onIssued={onCredited} />
      {downloadError ? <ErrorNotice error={downloadError} /> : null}
      <div className="row">
        <button type="button" onClick={() => void download("pdf")}>
          Download PDF
        </button>
        <button type="button" onClick={() => void download("csv")}>
          Download CSV
        </button>
        <button type="button" onClick={() => void download("json")}>
          Download JSON
        </button>
        {mayManage && invoice.status === "draft" ? (
          <button type="button" className="primary" disabled={busy} onClick={() => void act(() => client.issueInvoice(invoice))}>
            Issue invoice
          </button>
        ) : null}
        {mayManage && invoice.status !== "void" ? (
          <button type="button" className="danger" disabled={busy} onClick={() => void act(() => client.voidInvoice(invoice))}>
            Void invoice
          </button>
        ) : null}
      </div>
    </div>
  );
}


/** Who the invoice is addressed to: the profile copied when it was issued (a draft shows the current one). */
function BillTo({ invoice }: { invoice: Invoice }) {
  const to = invoice.bill_to;
  if (!to?.legal_name) return null;
  const address = to.address;
  return (
    <address className="bill-to" data-testid="bill-to">
      <span className="muted small">Bill to</span> <strong>{to.legal_name}</strong>
      {address ? ` · ${[address.line1, address.line2, `${address.postal_code} ${address.city}`, address.country].filter(Boolean).join(", ")}` : ""}
      {to.tax_id ? ` · Tax ID ${to.tax_id}` : ""}
    </address>
  );
}
