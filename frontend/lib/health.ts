// How the storefront words a subscription's health. The API calls a balance `low` when it is
// under the alert threshold or when the period's burn rate would empty it before the period ends.
// That rate is the period's usage over at least one day, so a few minutes of usage already
// project a depletion. The rule here: a projection is only called "low" once it rests on
// MIN_BASIS_DAYS days of the period; before that it is shown as an early projection, with its basis.
import type { SubscriptionWithHealth } from "./api";
import { compareDecimals, isDecimal, multiplyDecimals } from "./decimal";
import { formatCredits } from "./format";

export const MIN_BASIS_DAYS = 3;

export type BalanceState = {
  status: "healthy" | "early" | "low" | "depleted";
  label: string;
  /** Why, in a sentence (null when there is nothing to say). */
  reason: string | null;
  /** Days of the period the burn rate rests on (usage ÷ rate; at least 1, as the API computes it). */
  basisDays: number | null;
};

/** The threshold the API uses: the subscription's own, else 10% of the plan's allowance. */
export function lowThreshold(s: SubscriptionWithHealth, allowance: string | null): string | null {
  if (s.low_balance_threshold_credits !== null && s.low_balance_threshold_credits !== undefined) return s.low_balance_threshold_credits;
  return allowance && isDecimal(allowance) ? multiplyDecimals(allowance, "0.1") : null;
}

export function balanceState(s: SubscriptionWithHealth, threshold: string | null): BalanceState {
  const h = s.health;
  const usage = Number(h.period_usage_credits);
  const rate = Number(h.burn_rate_credits_per_day);
  const basisDays = rate > 0 ? Math.max(1, usage / rate) : null; // drawing words only: never shown as an amount
  if (h.status === "depleted") return { status: "depleted", label: "Depleted", reason: "No credits are left.", basisDays };
  const belowThreshold = threshold !== null && compareDecimals(s.credit_balance, threshold) < 0;
  if (belowThreshold) return { status: "low", label: "Low balance", reason: `The balance is below the alert threshold of ${formatCredits(threshold)} credits.`, basisDays };
  if (h.status === "low" && threshold === null) return { status: "low", label: "Low balance", reason: null, basisDays };
  if (h.status === "low" && basisDays !== null && basisDays >= MIN_BASIS_DAYS) {
    return { status: "low", label: "Running low", reason: "At this period's rate the balance runs out before the period ends.", basisDays };
  }
  if (h.status === "low") {
    return {
      status: "early",
      label: "Healthy so far",
      reason: `Early projection: the rate rests on less than ${MIN_BASIS_DAYS} days of usage, too little to call the balance low yet.`,
      basisDays,
    };
  }
  return { status: "healthy", label: "Healthy", reason: null, basisDays };
}

/** "1 day", "2.5 days" (a basis, rounded to a tenth for reading). */
export function basisText(days: number): string {
  const rounded = Math.round(days * 10) / 10;
  return `${rounded} ${rounded === 1 ? "day" : "days"}`;
}
