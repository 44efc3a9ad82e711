"use client";
import { useClient } from "../lib/context";
import { formatCredits } from "../lib/format";
import { balanceState, lowThreshold } from "../lib/health";
import { can, type Session } from "../lib/session";
import { useResource } from "../lib/useResource";

/** The banner above the panels when the shown subscription's balance is low or gone, with the
 * action that fixes it for whoever is signed in. Quiet while loading, on errors (the panels below
 * show those) and for an early projection (lib/health.ts). */
export function BalanceAlert({ subscriptionId, session, refreshKey = 0 }: { subscriptionId: string | null; session: Session; refreshKey?: number }) {
  const client = useClient();
  const subscription = useResource(subscriptionId ? () => client.getSubscription(subscriptionId) : null, [client, subscriptionId, refreshKey]);
  const s = subscription.state === "ready" ? subscription.data : null;
  const plan = useResource(s ? () => client.planVersion(s.plan_id, s.plan_version) : null, [client, s?.plan_id, s?.plan_version]);
  if (!subscriptionId || !s || s.status !== "active") return null;
  const state = balanceState(s, lowThreshold(s, plan.state === "ready" ? plan.data.credit_allowance : null));
  if (state.status !== "low" && state.status !== "depleted") return null;
  const depleted = state.status === "depleted";
  const autoTopUp = s.auto_top_up?.enabled ?? false;
  return (
    <div className={`alert ${depleted ? "alert-depleted" : "alert-low"}`} role="alert" data-testid="balance-alert">
      <p>
        <strong>
          {depleted ? `${s.organization_id} has no credits left` : `${s.organization_id} is running low: ${formatCredits(s.available_credits)} credits available`}.
        </strong>{" "}
        {state.reason && !depleted ? state.reason : null}
        {depleted && plan.state === "ready"
          ? plan.data.overage_policy === "block"
            ? " New usage is refused until credits are added."
            : " New usage is billed as overage until credits are added."
          : null}
      </p>
      <p className="alert-action">
        {can(session, "change-credits") ? (
          <a href="#credits-form">Top up credits</a>
        ) : can(session, "manage-settings") ? (
          autoTopUp ? (
            <>
              Auto top-up is on; it has run {s.auto_top_ups_in_period} times this period. <a href="#credit-settings">Review auto top-up</a> or contact the marketplace team to
              buy more.
            </>
          ) : (
            <>
              <a href="#credit-settings">Set up auto top-up</a> or contact the marketplace team to buy credits.
            </>
          )
        ) : can(session, "administer") ? (
          "A marketplace admin can top up credits."
        ) : (
          "Ask an organization admin to set up auto top-up or buy credits."
        )}
      </p>
    </div>
  );
}
