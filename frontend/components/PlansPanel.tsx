"use client";
import { useEffect, useState, type ReactNode } from "react";
import { newIdempotencyKey, type Plan, type Subscription } from "../lib/api";
import { useClient } from "../lib/context";
import { compareDecimals, multiplyDecimals } from "../lib/decimal";
import { formatCentsRate, formatCredits, formatMoney, unitPlural } from "../lib/format";
import { can, type Session } from "../lib/session";
import { asApiError, useResource } from "../lib/useResource";
import { Field } from "./Field";
import { PendingPlanChangeNotice, PlanChange } from "./PlanChange";
import { SlaAcceptanceFields, slaVersion } from "./SlaAcceptance";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";
import type { ApiError } from "../lib/api";

const CADENCE: Record<Plan["billing_cadence"], string> = { monthly: "month", quarterly: "quarter", annual: "year" };

/** Cheapest first (the API pages so; kept here too so a merged page stays ordered). */
export function cheapestFirst(plans: Plan[]): Plan[] {
  return [...plans].sort((a, b) => a.base_fee_cents - b.base_fee_cents || a.name.localeCompare(b.name));
}

/** The catalog (active plans, cheapest first) and, for a subscriber, its own plan: the version it
 * signed up to, read by version, so it stays on screen after the plan is revised or archived. */
export function PlansPanel({
  session,
  hasSubscription,
  onSubscribed,
  refreshKey = 0,
  subscription = null,
  onCatalog,
  onChanged,
}: {
  session: Session | null;
  hasSubscription: boolean;
  onSubscribed: (subscription: Subscription) => void;
  refreshKey?: number;
  subscription?: Subscription | null;
  /** Told how many plans the catalog lists, once it is read. */
  onCatalog?: (count: number) => void;
  /** After a plan change (made, or a pending one dropped). */
  onChanged?: () => void;
}) {
  const client = useClient();
  const plans = useResource(() => client.listPlans(), [client, refreshKey]);
  const shown = plans.state === "ready";
  const count = plans.state === "ready" ? plans.data.items.length : null;
  useEffect(() => {
    // "Usable" per DESIGN.md's target: the time from navigation to plans on screen (the browser test reads it).
    if (shown && performance.getEntriesByName("plans-shown").length === 0) performance.mark("plans-shown");
  }, [shown]);
  useEffect(() => {
    if (count !== null) onCatalog?.(count);
  }, [count, onCatalog]);
  const rows = plans.state === "ready" ? featureRows(cheapestFirst(plans.data.items)) : [];
  const listed = plans.state === "ready" ? plans.data.items.find((p) => p.plan_id === subscription?.plan_id) ?? null : undefined;
  // An org admin of the subscribing organization may move it to any other plan (or version) listed.
  const mayChange = session !== null && subscription?.status === "active" && can(session, "change-plan") && session.org === subscription.organization_id;
  const changed = onChanged ?? (() => undefined);
  return (
    <Panel id="plans" title="Plans">
      {subscription ? <OwnPlan subscription={subscription} listed={listed} session={session} mayChange={mayChange} onChanged={changed} /> : null}
      {plans.state === "loading" ? <Loading what="plans" /> : null}
      {plans.state === "error" ? <ErrorNotice error={plans.error} onRetry={plans.reload} /> : null}
      {plans.state === "ready" && plans.data.items.length === 0 ? (
        <Empty>{subscription ? "No plans are offered to new subscribers at the moment." : "No plans are offered at the moment."}</Empty>
      ) : null}
      {subscription && plans.state === "ready" && plans.data.items.length > 0 ? <h3 className="catalog-title">The catalog</h3> : null}
      {plans.state === "ready" && plans.data.items.length > 0 ? (
        <ul className="cards" aria-label="Plans, cheapest first">
          {cheapestFirst(plans.data.items).map((plan) => (
            <li key={plan.plan_id}>
              <PlanCard
                plan={plan}
                features={rows}
                yours={subscription !== null && plan.plan_id === subscription.plan_id && plan.version === subscription.plan_version}
                available={subscription?.status === "active" && plan.plan_id === subscription.plan_id && plan.version === subscription.plan_version ? subscription.available_credits : null}
                session={session}
                mayOffer={session !== null && can(session, "subscribe") && !hasSubscription}
                onSubscribed={onSubscribed}
                change={
                  mayChange && session && subscription && !(plan.plan_id === subscription.plan_id && plan.version === subscription.plan_version) ? (
                    subscription.pending_plan_change?.plan_id === plan.plan_id && subscription.pending_plan_change.plan_version === plan.version ? (
                      <p className="muted small" data-testid={`pending-${plan.plan_id}`}>
                        Your subscription moves to this plan when the current period ends.
                      </p>
                    ) : (
                      <PlanChange plan={plan} subscription={subscription} session={session} onChanged={changed} />
                    )
                  ) : null
                }
              />
            </li>
          ))}
        </ul>
      ) : null}
    </Panel>
  );
}

export type FeatureRow = { key: string; label: string };

/** Every feature key of the plans shown, in the order they first appear: each card lists the same
 * rows, so the cards' feature tables line up side by side. */
export function featureRows(plans: Plan[]): FeatureRow[] {
  const rows = new Map<string, string>();
  for (const plan of plans) for (const f of plan.features ?? []) if (!rows.has(f.key)) rows.set(f.key, f.label);
  return [...rows].map(([key, label]) => ({ key, label }));
}

/** The subscriber's own plan at the version it is on, archived or not. `listed`: the catalog's
 * plan of that id (null: not listed, so archived; undefined: the catalog is not read yet). When
 * the catalog lists that very version, its card below is marked instead of shown twice. */
function OwnPlan({
  subscription,
  listed,
  session,
  mayChange,
  onChanged,
}: {
  subscription: Subscription;
  listed: Plan | null | undefined;
  session: Session | null;
  mayChange: boolean;
  onChanged: () => void;
}) {
  const client = useClient();
  const plan = useResource(() => client.planVersion(subscription.plan_id, subscription.plan_version), [client, subscription.plan_id, subscription.plan_version]);
  const sameAsListed = listed?.version === subscription.plan_version;
  return (
    <section className="own-plan" aria-labelledby="own-plan-title" data-testid="own-plan">
      <h3 id="own-plan-title">{subscription.status === "active" ? "Your plan" : "Your last plan"}</h3>
      <PendingPlanChangeNotice subscription={subscription} mayChange={mayChange} onChanged={onChanged} />
      {plan.state === "loading" ? <Loading what="your plan" /> : null}
      {plan.state === "error" ? <ErrorNotice error={plan.error} onRetry={plan.reload} /> : null}
      {plan.state === "ready" ? (
        <>
          <p className="muted small" data-testid="own-plan-note">
            {plan.data.name}, version {plan.data.version}
            {listed === undefined
              ? "."
              : listed === null
                ? ": archived, no longer offered to new subscribers. Your subscription keeps these terms."
                : !sameAsListed
                  ? `: the catalog now lists version ${listed.version} for new subscribers; your subscription keeps these terms.`
                  : ", as listed in the catalog below."}
          </p>
          {sameAsListed ? null : (
            <PlanCard plan={plan.data} session={session} mayOffer={false} onSubscribed={() => undefined} available={subscription.status === "active" ? subscription.available_credits : null} testId="own-plan-card" />
          )}
        </>
      ) : null}
    </section>
  );
}

export function PlanCard({
  plan,
  session,
  mayOffer,
  onSubscribed,
  features = featureRows([plan]),
  available = null,
  testId = `plan-${plan.plan_id}`,
  yours = false,
  change = null,
}: {
  plan: Plan;
  session: Session | null;
  mayOffer: boolean;
  onSubscribed: (subscription: Subscription) => void;
  /** The rows of the feature table (shared across the cards shown side by side). */
  features?: FeatureRow[];
  /** The subscriber's available credits, when this is its plan: the estimator compares with them. */
  available?: string | null;
  testId?: string;
  /** The subscriber is on this very version. */
  yours?: boolean;
  /** What a subscriber may do about this plan: "Change to this plan", or that it is scheduled. */
  change?: ReactNode;
}) {
  const client = useClient();
  const [open, setOpen] = useState(false);
  const [acceptedBy, setAcceptedBy] = useState(session?.sub ?? "");
  const [accepted, setAccepted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const titleId = `${testId}-name`;

  async function subscribe() {
    if (!session?.org) return;
    setBusy(true);
    setError(null);
    try {
      const subscription = await client.subscribe(
        session.org,
        {
          plan_id: plan.plan_id,
          residency: session.residency ?? "us",
          sla_acceptance: { accepted_by: acceptedBy, sla_version: slaVersion(plan) },
        },
        newIdempotencyKey("subscribe"),
      );
      setOpen(false);
      onSubscribed(subscription);
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <article className="card plan-card" aria-labelledby={titleId} data-testid={testId}>
      <h3 id={titleId}>{plan.name}</h3>
      {yours ? <span className="badge yours">Your plan</span> : null}
      <p className="muted">by {plan.partner}</p>
      {plan.description ? <p className="plan-description">{plan.description}</p> : null}
      <p className="price">
        <span className="amount">{formatMoney(plan.base_fee_cents, plan.currency)}</span>{" "}
        <span className="muted">
          {plan.currency} / {CADENCE[plan.billing_cadence]}
        </span>
      </p>
      <dl className="facts">
        <dt>Allowance</dt>
        <dd>{formatCredits(plan.credit_allowance)} credits / {CADENCE[plan.billing_cadence]}</dd>
        <dt>Overage</dt>
        <dd>
          {plan.overage_policy === "allow"
            ? `allowed at ${formatCentsRate(plan.overage_rate_cents, plan.currency)} / credit`
            : "blocked (usage stops at zero)"}
        </dd>
        {plan.credit_price_cents ? (
          <>
            <dt>Top-ups</dt>
            <dd>{formatCentsRate(plan.credit_price_cents, plan.currency)} / credit</dd>
          </>
        ) : null}
        <dt>SLA</dt>
        <dd>
          {plan.sla.tier}, {plan.sla.uptime_percent}% uptime, {plan.sla.response_time_hours} h response
        </dd>
      </dl>
      {Object.keys(plan.usage_rates).length > 0 ? (
        <table className="features rates" data-testid={`rates-${plan.plan_id}`}>
          <caption className="sr-only">Usage rates of {plan.name}</caption>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col" className="num">
                Credits
              </th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(plan.usage_rates).map(([service, rate]) => (
              <tr key={service}>
                <th scope="row">{service}</th>
                <td className="num">
                  {formatCredits(rate.credits_per_unit)} per {rate.unit}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {features.length > 0 ? (
        <table className="features">
          <caption className="sr-only">Features of {plan.name}</caption>
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col">Included</th>
            </tr>
          </thead>
          <tbody>
            {features.map((row) => {
              const feature = plan.features?.find((f) => f.key === row.key);
              return (
                <tr key={row.key} data-feature={row.key}>
                  <th scope="row">{feature?.label ?? row.label}</th>
                  <td className={feature?.included ? "yes" : "no"}>
                    {!feature
                      ? "Not offered"
                      : feature.included
                        ? feature.limit !== null && feature.limit !== undefined
                          ? `Up to ${feature.limit}`
                          : "Included"
                        : "Not included"}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
      {plan.bundle && plan.bundle.length > 0 ? (
        <div className="bundle">
          <h4>Bundle</h4>
          <ul>
            {plan.bundle.map((item) => (
              <li key={item.sku}>
                <strong>{item.name}</strong>
                {item.description ? <span className="muted"> · {item.description}</span> : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <Estimator plan={plan} available={available} id={`${testId}-estimate`} />
      {change}
      {mayOffer && !open ? (
        <button type="button" className="primary" onClick={() => setOpen(true)}>
          Subscribe to {plan.name}
        </button>
      ) : null}
      {mayOffer && open ? (
        <form
          className="subscribe-form"
          onSubmit={(e) => {
            e.preventDefault();
            void subscribe();
          }}
        >
          <SlaAcceptanceFields
            plan={plan}
            organization={session?.org}
            acceptedBy={acceptedBy}
            onAcceptedBy={setAcceptedBy}
            accepted={accepted}
            onAccepted={setAccepted}
          />
          {error ? <ErrorNotice error={error} /> : null}
          <div className="row">
            <button type="submit" className="primary" disabled={!accepted || busy || !acceptedBy}>
              {busy ? "Subscribing…" : "Confirm subscription"}
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
    </article>
  );
}

/** What N units of a service cost on this plan (its rate, computed here exactly) and whether the
 * credits at hand cover it: the subscriber's available credits, or a new period's allowance. */
export function Estimator({ plan, available, id = `estimate-${plan.plan_id}` }: { plan: Plan; available: string | null; id?: string }) {
  const services = Object.keys(plan.usage_rates);
  const [service, setService] = useState(services[0] ?? "");
  const [quantity, setQuantity] = useState("1");
  const rate = plan.usage_rates[service];
  if (!rate) return null;
  const q = quantity.trim();
  const valid = /^\d{1,12}(\.\d{1,6})?$/.test(q) && Number(q) > 0;
  const credits = valid ? multiplyDecimals(q, rate.credits_per_unit) : null;
  const against = available ?? plan.credit_allowance;
  const covered = credits !== null ? compareDecimals(credits, against) <= 0 : null;
  return (
    <details className="estimator">
      <summary>Estimate a run</summary>
      <div className="row">
        <Field label="Service" name="service" id={`${id}-service`}>
          {(props) => (
            <select {...props} value={service} onChange={(e) => setService(e.target.value)}>
              {services.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={`Quantity (${unitPlural(rate.unit)})`} name="quantity" id={`${id}-quantity`} error={valid ? undefined : "Enter a quantity above 0, with up to 6 decimals."}>
          {(props) => <input {...props} value={quantity} onChange={(e) => setQuantity(e.target.value)} inputMode="decimal" size={8} />}
        </Field>
      </div>
      <p id={id} className="small" aria-live="polite" data-testid={id}>
        {credits === null
          ? null
          : `${formatCredits(q)} × ${formatCredits(rate.credits_per_unit)} = ${formatCredits(credits)} credits. ${
              available !== null
                ? covered
                  ? `Your ${formatCredits(available)} available credits cover it.`
                  : `More than your ${formatCredits(available)} available credits${plan.overage_policy === "allow" ? ": the rest would be overage." : ": the plan blocks it."}`
                : covered
                  ? `The ${formatCredits(plan.credit_allowance)} credits of a period's allowance cover it.`
                  : `More than the ${formatCredits(plan.credit_allowance)} credits of a period's allowance.`
            }`}
      </p>
    </details>
  );
}
