"use client";
import { useRef, type ReactNode } from "react";
import type { SubscriptionWithHealth } from "../lib/api";
import { useClient } from "../lib/context";
import { daysLeft, formatCredits, formatDate, formatDateTime, ratio } from "../lib/format";
import { useResource } from "../lib/useResource";
import { CanceledNotice, CancelSubscription } from "./CancelSubscription";
import { CreditSettings } from "./CreditSettings";
import { GrantsList, HoldsList } from "./Grants";
import { Empty, ErrorNotice, Loading, Panel } from "./Panel";

const STATUS_TEXT = { healthy: "Healthy", low: "Low balance", depleted: "Depleted" } as const;

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
          return (
            <div className="health" aria-busy={subscription.state === "loading"}>
              <p className="health-head">
                <span className={`badge status-${h.status}`} data-testid="health-status">
                  {STATUS_TEXT[h.status]}
                </span>{" "}
                <span className="muted">
                  {s.organization_id} · {s.plan_id} v{s.plan_version} · {s.status} · {s.residency}
                </span>
              </p>
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
                <dt>
                  <span className="swatch swatch-purchased" /> Purchased
                </dt>
                <dd>{formatCredits(s.purchased_balance)}</dd>
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
                <dd>{formatCredits(h.burn_rate_credits_per_day)} credits / day</dd>
                <dt>Projected depletion</dt>
                <dd>{h.projected_depletion_at ? formatDateTime(h.projected_depletion_at) : "not projected"}</dd>
                <dt>Current period</dt>
                <dd>
                  {formatDate(s.current_period_start)} → {formatDate(s.current_period_end)} ({daysLeft(s.current_period_start, s.current_period_end)} days left)
                </dd>
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
