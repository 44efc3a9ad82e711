"use client";
import { useRef, type ReactNode } from "react";
import type { CreditGrant, SubscriptionWithHealth } from "../lib/api";
import { addDecimals } from "../lib/decimal";
import { balanceState, basisText, lowThreshold } from "../lib/health";
import { useClient } from "../lib/context";
import { daysLeft, formatCredits, formatDate, formatDateTime, ratio } from "../lib/format";
import { useResource } from "../lib/useResource";
import { CanceledNotice, CancelSubscription } from "./CancelSubscription";
import { CreditSettings } from "./CreditSettings";
import { GrantsList, HoldsList } from "./Grants";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";

/** Purchased and promotional credits both sit in the API's `purchased` bucket: the active grants
 * tell them apart. */
function creditsByKind(grants: CreditGrant[]): { purchased: string; promotional: string } {
  const sum = (kind: CreditGrant["kind"]) => grants.filter((g) => g.kind === kind && g.status === "active").reduce((total, g) => addDecimals(total, g.remaining), "0");
  return { purchased: sum("purchased"), promotional: sum("promotional") };
}

/**
 * Balance and health of one subscription, its low-balance and auto top-up settings (editable when
 * `mayEditSettings`), its credit grants (voidable when `mayVoid`) and active holds. `children`
 * render at the end.
 */
export function HealthPanel({
  subscriptionId,
  refreshKey = 0,
  mayVoid = false,
  mayEditSettings = false,
  mayCancel = false,
  onChanged,
  children,
}: {
  subscriptionId: string | null;
  refreshKey?: number;
  mayVoid?: boolean;
  mayEditSettings?: boolean;
  mayCancel?: boolean;
  onChanged?: () => void;
  children?: ReactNode;
}) {
  const client = useClient();
  const subscription = useResource(subscriptionId ? () => client.getSubscription(subscriptionId) : null, [client, subscriptionId, refreshKey]);
  // While a refresh reloads the subscription, the last figures stay up (and the forms and lists
  // below keep their state: a "saved" or "voided" message is not wiped by the reload it caused).
  const last = useRef<SubscriptionWithHealth | null>(null);
  if (subscription.state === "ready") last.current = subscription.data;
  const shown = subscription.state === "ready" ? subscription.data : subscription.state === "loading" && last.current?.subscription_id === subscriptionId ? last.current : null;
  const planKey = shown ? `${shown.plan_id}@${shown.plan_version}` : null;
  const plan = useResource(shown ? () => client.planVersion(shown.plan_id, shown.plan_version) : null, [client, planKey]);
  const grants = useResource(subscriptionId ? () => client.grants(subscriptionId, "active") : null, [client, subscriptionId, refreshKey]);
  const kinds = grants.state === "ready" ? creditsByKind(grants.data.items) : null;
  return (
    <Panel id="health" title="Subscription health">
      {!subscriptionId ? (
        <Empty>No subscription selected.</Empty>
      ) : subscription.state === "error" ? (
        <ErrorNotice error={subscription.error} onRetry={subscription.reload} />
      ) : !shown ? (
        <Loading what="the subscription" />
      ) : (
        (() => {
          const s = shown;
          const h = s.health;
          const allowanceShare = ratio(s.allowance_balance, s.credit_balance);
          const threshold = lowThreshold(s, plan.state === "ready" ? plan.data.credit_allowance : null);
          const state = balanceState(s, threshold);
          return (
            <div className="health" aria-busy={subscription.state === "loading"}>
              <p className="health-head">
                <span className={`badge status-${state.status}`} data-testid="health-status">
                  {state.label}
                </span>{" "}
                <span className="muted">
                  {s.organization_id} · {plan.state === "ready" ? plan.data.name : s.plan_id} v{s.plan_version} · {s.status} · {s.residency.toUpperCase()} region
                </span>
              </p>
              {state.reason ? (
                <p className="muted small" data-testid="health-reason">
                  {state.reason}
                </p>
              ) : null}
              <CanceledNotice subscription={s} />
              <div className="balance">
                <span className="big" data-testid="credit-balance">
                  {formatCredits(s.credit_balance)}
                </span>{" "}
                credits
              </div>
              <div className="split" aria-hidden="true">
                <span className="split-allowance" style={{ width: `${allowanceShare * 100}%` }} />
                <span className="split-purchased" style={{ width: `${(s.credit_balance === "0" ? 0 : 1 - allowanceShare) * 100}%` }} />
              </div>
              <dl className="facts">
                <dt>
                  <span className="swatch swatch-allowance" /> Allowance
                </dt>
                <dd>{formatCredits(s.allowance_balance)}</dd>
                {kinds ? (
                  <>
                    <dt>
                      <span className="swatch swatch-purchased" /> Purchased
                    </dt>
                    <dd data-testid="purchased-credits">{formatCredits(kinds.purchased)}</dd>
                    <dt>
                      <span className="swatch swatch-purchased" /> Promotional (free)
                    </dt>
                    <dd data-testid="promotional-credits">{formatCredits(kinds.promotional)}</dd>
                  </>
                ) : (
                  <>
                    <dt>
                      <span className="swatch swatch-purchased" /> Purchased and promotional
                    </dt>
                    <dd>{formatCredits(s.purchased_balance)}</dd>
                  </>
                )}
                {s.held_credits !== "0" ? (
                  <>
                    <dt>Held for running work</dt>
                    <dd>{formatCredits(s.held_credits)}</dd>
                  </>
                ) : null}
                <dt>Available</dt>
                <dd>{formatCredits(s.available_credits)}</dd>
                <dt>Used this period</dt>
                <dd>
                  {formatCredits(h.period_usage_credits)}
                  {h.period_overage_credits !== "0" ? ` (overage ${formatCredits(h.period_overage_credits)})` : ""}
                </dd>
                <dt>Burn rate</dt>
                <dd>
                  {formatCredits(h.burn_rate_credits_per_day)} credits / day
                  {state.basisDays !== null ? <span className="muted"> (this period&apos;s usage over {basisText(state.basisDays)})</span> : null}
                </dd>
                <dt>Projected depletion</dt>
                <dd data-testid="projection">
                  {h.projected_depletion_at
                    ? `${formatDateTime(h.projected_depletion_at)}${state.status === "early" ? " (early projection)" : ""}${new Date(h.projected_depletion_at) >= new Date(s.current_period_end) ? ", after this period ends" : ""}`
                    : "not projected"}
                </dd>
                <dt>Current period</dt>
                <dd>
                  {formatDate(s.current_period_start)} → {formatDate(s.current_period_end)} ({daysLeft(s.current_period_start, s.current_period_end)} days left)
                </dd>
                {s.pending_plan_change && s.status === "active" ? (
                  <>
                    <dt>Next period</dt>
                    <dd data-testid="health-pending-change">
                      on {s.pending_plan_change.plan_id} version {s.pending_plan_change.plan_version}, from {formatDateTime(s.pending_plan_change.effective_at)}
                    </dd>
                  </>
                ) : null}
              </dl>
              <CreditSettings subscription={s} mayEdit={mayEditSettings && s.status === "active"} onSaved={onChanged} />
              <GrantsList subscriptionId={s.subscription_id} refreshKey={refreshKey} mayVoid={mayVoid} onChanged={onChanged} />
              <HoldsList subscriptionId={s.subscription_id} refreshKey={refreshKey} />
              <CancelSubscription subscription={s} mayCancel={mayCancel} onCanceled={onChanged} />
              {children}
            </div>
          );
        })()
      )}
    </Panel>
  );
}
