"use client";
import { useState } from "react";
import { newIdempotencyKey, type ApiError, type Invoice, type Plan } from "../lib/api";
import { useClient } from "../lib/context";
import { formatCredits, formatDate, formatMoney } from "../lib/format";
import { optionalWholeNumber } from "../lib/input";
import { can, type Session } from "../lib/session";
import { asApiError, useResource } from "../lib/useResource";
import { Field } from "./Field";
import { GrantForm } from "./Grants";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";
import { draftFromPlan, EMPTY_PLAN, listingFromDraft, PlanForm, type PlanDraft } from "./PlanForm";

/** Staff tools (marketplace:admin, finance): find subscriptions and draft invoices across
 * organizations, change credits (admin), manage partner listings (admin). */
export function AdminPanel({
  session,
  selected,
  onSelect,
  refreshKey,
  onChanged,
}: {
  session: Session;
  selected: string | null;
  onSelect: (subscriptionId: string) => void;
  refreshKey: number;
  onChanged: () => void;
}) {
  return (
    <Panel id="admin" title="Administration">
      <SubscriptionFinder selected={selected} onSelect={onSelect} refreshKey={refreshKey} />
      <DraftInvoices refreshKey={refreshKey} onChanged={onChanged} />
      {can(session, "change-credits") ? <CreditsForm subscriptionId={selected} onChanged={onChanged} /> : null}
      {can(session, "change-credits") ? <GrantForm subscriptionId={selected} onChanged={onChanged} /> : null}
      {can(session, "manage-plans") ? <Listings onChanged={onChanged} refreshKey={refreshKey} /> : null}
    </Panel>
  );
}

function SubscriptionFinder({ selected, onSelect, refreshKey }: { selected: string | null; onSelect: (id: string) => void; refreshKey: number }) {
  const client = useClient();
  const [draft, setDraft] = useState({ organization_id: "", status: "", residency: "" });
  const [filters, setFilters] = useState(draft);
  const found = useResource(() => client.listSubscriptions(filters), [client, filters, refreshKey]);
  return (
    <div className="admin-block">
      <h3>Subscriptions</h3>
      <form
        className="row filters"
        aria-label="Find subscriptions"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ ...draft });
        }}
      >
        <label>
          Organization
          <input value={draft.organization_id} onChange={(e) => setDraft({ ...draft, organization_id: e.target.value.trim() })} placeholder="any" />
        </label>
        <label>
          Status
          <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value })}>
            <option value="">any</option>
            <option value="active">active</option>
            <option value="canceled">canceled</option>
          </select>
        </label>
        <label>
          Residency
          <input value={draft.residency} onChange={(e) => setDraft({ ...draft, residency: e.target.value.trim() })} placeholder="mine" size={6} />
        </label>
        <button type="submit">Find</button>
      </form>
      {found.state === "loading" ? <Loading what="subscriptions" /> : null}
      {found.state === "error" ? <ErrorNotice error={found.error} onRetry={found.reload} /> : null}
      {found.state === "ready" && found.data.items.length === 0 ? <Empty>No subscriptions match.</Empty> : null}
      {found.state === "ready" && found.data.items.length > 0 ? (
        <div className="scroll">
          <table className="data stack" data-testid="subscription-list">
            <caption className="sr-only">Subscriptions, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Organization</th>
                <th scope="col">Plan</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Balance</th>
                <th scope="col">Period end</th>
                <th scope="col">
                  <span className="sr-only">Select</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {found.data.items.map((s) => (
                <tr key={s.subscription_id} className={s.subscription_id === selected ? "selected" : undefined}>
                  <td data-label="Organization">{s.organization_id}</td>
                  <td data-label="Plan">
                    {s.plan_id} v{s.plan_version}
                  </td>
                  <td data-label="Status">{s.status}</td>
                  <td className="num" data-label="Balance">
                    {formatCredits(s.credit_balance)}
                  </td>
                  <td data-label="Period end">{formatDate(s.current_period_end)}</td>
                  <td className="actions">
                    <button type="button" onClick={() => onSelect(s.subscription_id)} aria-pressed={s.subscription_id === selected} aria-label={`Select ${s.organization_id}`}>
                      {s.subscription_id === selected ? "Selected" : "Select"}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

function DraftInvoices({ refreshKey, onChanged }: { refreshKey: number; onChanged: () => void }) {
  const client = useClient();
  const drafts = useResource(() => client.listInvoices({ status: "draft" }), [client, refreshKey]);
  const [error, setError] = useState<ApiError | null>(null);
  async function act(action: () => Promise<Invoice>) {
    setError(null);
    try {
      await action();
      onChanged();
    } catch (e) {
      setError(asApiError(e));
    }
  }
  return (
    <div className="admin-block">
      <h3>Draft invoices</h3>
      {error ? <ErrorNotice error={error} /> : null}
      {drafts.state === "loading" ? <Loading what="draft invoices" /> : null}
      {drafts.state === "error" ? <ErrorNotice error={drafts.error} onRetry={drafts.reload} /> : null}
      {drafts.state === "ready" && drafts.data.items.length === 0 ? <Empty>No draft invoices.</Empty> : null}
      {drafts.state === "ready" && drafts.data.items.length > 0 ? (
        <div className="scroll">
          <table className="data stack" data-testid="draft-invoices">
            <caption className="sr-only">Draft invoices across organizations</caption>
            <thead>
              <tr>
                <th scope="col">Organization</th>
                <th scope="col">Period</th>
                <th scope="col" className="num">Total</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {drafts.data.items.map((invoice) => (
                <tr key={invoice.invoice_id}>
                  <td data-label="Organization">{invoice.organization_id}</td>
                  <td data-label="Period">
                    {formatDate(invoice.period_start)} → {formatDate(invoice.period_end)}
                  </td>
                  <td className="num" data-label="Total">
                    {formatMoney(invoice.total_cents, invoice.currency)}
                  </td>
                  <td className="row actions">
                    <button type="button" onClick={() => void act(() => client.issueInvoice(invoice))}>
                      Issue
                    </button>
                    <button type="button" className="danger" onClick={() => void act(() => client.voidInvoice(invoice))}>
                      Void
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

function CreditsForm({ subscriptionId, onChanged }: { subscriptionId: string | null; onChanged: () => void }) {
  const client = useClient();
  const [type, setType] = useState<"top_up" | "adjustment">("top_up");
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [price, setPrice] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fields = error?.fields ?? {};
  async function submit() {
    if (!subscriptionId) return;
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const entry = await client.changeCredits(subscriptionId, {
        type,
        amount: amount.trim(),
        reason,
        idempotency_key: newIdempotencyKey("credits"),
        // Blank: the plan's credit price (or free where it has none).
        price_cents: type === "top_up" ? optionalWholeNumber(price) : null,
      });
      setDone(`Recorded ${entry.type.replace("_", "-")} of ${formatCredits(entry.amount)} credits; balance ${formatCredits(entry.balance_after)}.`);
      setAmount("");
      setReason("");
      setPrice("");
      onChanged();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="admin-block" id="credits-form">
      <h3>Credits</h3>
      {!subscriptionId ? (
        <Empty>Select a subscription to top up or adjust its credits.</Empty>
      ) : (
        <form
          className="row filters"
          aria-label="Change credits"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <label>
            Type
            <select value={type} onChange={(e) => setType(e.target.value as "top_up" | "adjustment")}>
              <option value="top_up">top-up</option>
              <option value="adjustment">adjustment (±)</option>
            </select>
          </label>
          <Field label="Amount (credits)" name="amount" id="credits-amount" error={fields.amount}>
            {(props) => <input {...props} value={amount} onChange={(e) => setAmount(e.target.value)} inputMode="decimal" required />}
          </Field>
          <Field label="Reason" name="reason" id="credits-reason" error={fields.reason}>
            {(props) => <input {...props} value={reason} onChange={(e) => setReason(e.target.value)} required />}
          </Field>
          {type === "top_up" ? (
            <Field label="Price (cents, optional)" name="price_cents" id="credits-price_cents" error={fields.price_cents}>
              {(props) => <input {...props} value={price} onChange={(e) => setPrice(e.target.value)} inputMode="numeric" placeholder="plan's price" />}
            </Field>
          ) : null}
          <button type="submit" className="primary" disabled={busy || !amount || !reason}>
            Apply
          </button>
        </form>
      )}
      {error && !error.fields.amount && !error.fields.reason && !error.fields.price_cents ? <ErrorNotice error={error} /> : null}
      {done ? (
        <p className="state state-ok" role="status">
          {done}
        </p>
      ) : null}
    </div>
  );
}

function Listings({ onChanged, refreshKey }: { onChanged: () => void; refreshKey: number }) {
  const client = useClient();
  const plans = useResource(() => client.listPlans(), [client, refreshKey]);
  const [editing, setEditing] = useState<{ draft: PlanDraft; planId: string | null; etag: string | null; generation: number } | null>(null);
  const [archiving, setArchiving] = useState<Plan | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);

  async function revise(planId: string) {
    setError(null);
    setDone(null);
    try {
      const { plan: latest, etag } = await client.getPlan(planId);
      // A new generation remounts the form with the plan as it is now (after a 412's Reload).
      setEditing((e) => ({ draft: draftFromPlan(latest), planId: latest.plan_id, etag, generation: (e?.generation ?? 0) + 1 }));
    } catch (e) {
      setError(asApiError(e));
    }
  }
  async function archive(plan: Plan) {
    setError(null);
    try {
      await client.archivePlan(plan.plan_id);
      setArchiving(null);
      setDone(`Archived ${plan.name}: it left the catalog and takes no new subscriptions; its subscribers keep it.`);
      onChanged();
    } catch (e) {
      setError(asApiError(e));
    }
  }
  async function save(draft: PlanDraft) {
    const listing = listingFromDraft(draft);
    const saved = editing?.planId
      ? await client.revisePlan(editing.planId, { ...listing, plan_id: editing.planId, version: null, status: null, created_at: null, updated_at: null }, editing.etag)
      : await client.createPlan(listing);
    setEditing(null);
    setDone(editing?.planId ? `Saved ${saved.name} as version ${saved.version}: new subscriptions get it; existing ones keep theirs.` : `Listed ${saved.name} (${saved.plan_id}).`);
    onChanged();
  }

  return (
    <div className="admin-block">
      <h3>Partner listings</h3>
      {error ? <ErrorNotice error={error} /> : null}
      {done ? (
        <p className="state state-ok" role="status">
          {done}
        </p>
      ) : null}
      {editing ? (
        <PlanForm
          key={editing.generation}
          initial={editing.draft}
          editing={editing.planId !== null}
          onSubmit={save}
          onCancel={() => setEditing(null)}
          onReload={editing.planId ? () => void revise(editing.planId!) : undefined}
        />
      ) : (
        <button
          type="button"
          className="primary"
          onClick={() => {
            setDone(null);
            setEditing({ draft: EMPTY_PLAN, planId: null, etag: null, generation: 0 });
          }}
        >
          New listing
        </button>
      )}
      {plans.state === "loading" ? <Loading what="listings" /> : null}
      {plans.state === "error" ? <ErrorNotice error={plans.error} onRetry={plans.reload} /> : null}
      {plans.state === "ready" && plans.data.items.length === 0 ? <Empty>No active listings.</Empty> : null}
      {plans.state === "ready" && plans.data.items.length > 0 ? (
        <ul className="listing-list">
          {plans.data.items.map((plan) => (
            <li key={plan.plan_id} data-testid={`listing-${plan.plan_id}`}>
              <span>
                <strong>{plan.name}</strong> <span className="muted">({plan.plan_id} v{plan.version})</span>
              </span>
              <span className="row">
                <button type="button" onClick={() => void revise(plan.plan_id)} aria-label={`Revise ${plan.name}`}>
                  Revise
                </button>
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    setDone(null);
                    setArchiving(plan);
                  }}
                  aria-label={`Archive ${plan.name}`}
                >
                  Archive
                </button>
              </span>
              {archiving?.plan_id === plan.plan_id ? (
                <div className="confirm row" role="group" aria-label={`Archive ${plan.name}?`}>
                  <p className="confirm-text">
                    Archive {plan.name}? It leaves the catalog and takes no new subscriptions or revisions; existing subscribers keep version {plan.version} and are
                    billed as before. Archiving cannot be undone here.
                  </p>
                  <button type="button" className="danger" onClick={() => void archive(plan)}>
                    Confirm archive
                  </button>
                  <button type="button" onClick={() => setArchiving(null)}>
                    Keep it listed
                  </button>
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      <ArchivedListings active={plans.state === "ready" ? plans.data.items : null} refreshKey={refreshKey} />
    </div>
  );
}

/** Archived plans still in use. The API lists active plans only, so these are the plans that the
 * subscriptions (first 200, any status) are on and the catalog no longer shows. */
function ArchivedListings({ active, refreshKey }: { active: Plan[] | null; refreshKey: number }) {
  const client = useClient();
  const [open, setOpen] = useState(false);
  const activeIds = active?.map((p) => p.plan_id).join(",") ?? null;
  const archived = useResource(
    activeIds === null || !open
      ? null
      : async () => {
          const subscriptions = await client.listSubscriptions({ limit: "200" });
          const listed = new Set(activeIds.split(","));
          const ids = [...new Set(subscriptions.items.map((s) => s.plan_id))].filter((id) => !listed.has(id));
          const plans = await Promise.all(ids.map((id) => client.getPlan(id).then((r) => r.plan)));
          return plans.filter((p) => p.status === "archived");
        },
    [client, activeIds, refreshKey, open],
  );
  return (
    <details className="archived" data-testid="archived-listings" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>Archived listings still in use</summary>
      {open && archived.state === "loading" ? <Loading what="archived listings" /> : null}
      {archived.state === "error" ? <ErrorNotice error={archived.error} onRetry={archived.reload} /> : null}
      {archived.state === "ready" && archived.data.length === 0 ? <Empty>No subscription is on an archived plan.</Empty> : null}
      {archived.state === "ready" && archived.data.length > 0 ? (
        <ul className="listing-list">
          {archived.data.map((plan) => (
            <li key={plan.plan_id}>
              <span>
                <strong>{plan.name}</strong> <span className="muted">({plan.plan_id} v{plan.version}, archived)</span>
              </span>
            </li>
          ))}
        </ul>
      ) : null}
      <p className="muted small">The API lists active plans only; these are the archived plans that subscriptions are on.</p>
    </details>
  );
}
