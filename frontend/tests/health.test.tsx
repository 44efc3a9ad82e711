import { cleanup, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { HealthPanel } from "../components/HealthPanel";
import type { SubscriptionWithHealth } from "../lib/api";
import { balanceState, lowThreshold } from "../lib/health";
import { fakeClient, page, PLAN, renderWith, SUBSCRIPTION } from "./support";

afterEach(cleanup);

/** 1,000 allowance; `usage` used this period at `rate` a day (rate = usage ÷ days, at least one). */
function subscription(balance: string, usage: string, rate: string, status: "healthy" | "low" | "depleted", threshold: string | null = null): SubscriptionWithHealth {
  return {
    ...SUBSCRIPTION,
    credit_balance: balance,
    allowance_balance: balance,
    purchased_balance: "0",
    held_credits: "0",
    available_credits: balance,
    low_balance_threshold_credits: threshold,
    health: { period_usage_credits: usage, period_overage_credits: "0", burn_rate_credits_per_day: rate, projected_depletion_at: "2026-11-06T16:00:00Z", status },
  } as unknown as SubscriptionWithHealth;
}

describe("the balance's wording", () => {
  it("does not call 849 of 1,000 low on a projection from minutes of usage", () => {
    const s = subscription("849", "151", "151", "low");
    const state = balanceState(s, lowThreshold(s, "1000"));
    expect([state.status, state.label]).toEqual(["early", "Healthy so far"]);
    expect(state.reason).toContain("less than 3 days");
  });

  it("calls it running low once the projection rests on three days", () => {
    const s = subscription("400", "600", "200", "low");
    expect(balanceState(s, lowThreshold(s, "1000")).label).toBe("Running low");
  });

  it("calls it low below the threshold whatever the projection, and depleted at zero", () => {
    const s = subscription("99.5", "1", "1", "low");
    expect(lowThreshold(s, "1000")).toBe("100");
    expect(balanceState(s, "100").label).toBe("Low balance");
    expect(balanceState(subscription("50", "1", "1", "low", "60"), lowThreshold(subscription("50", "1", "1", "low", "60"), "1000")).reason).toContain("60 credits");
    expect(balanceState(subscription("0", "1000", "100", "depleted"), "100").label).toBe("Depleted");
    expect(balanceState(subscription("900", "0", "0", "healthy"), "100").label).toBe("Healthy");
  });
});

describe("health panel", () => {
  it("splits purchased from promotional credits by the active grants, and shows the projection's basis", async () => {
    const grant = (kind: string, remaining: string) => ({ grant_id: kind, subscription_id: "01SUB", kind, amount: remaining, remaining, status: "active", priority: 100, effective_at: "2026-11-01T00:00:00Z", expires_at: null, price_cents: 0, currency: "USD", reason: kind, created_at: "2026-11-01T00:00:00Z" });
    const s = { ...subscription("1849", "151", "151", "low"), purchased_balance: "1000" };
    renderWith(
      fakeClient({
        "GET /api/billing/subscriptions/01SUB": { body: s },
        "GET /api/billing/subscriptions/01SUB/grants": page([grant("allowance", "849"), grant("promotional", "1000")]),
        "GET /api/billing/subscriptions/01SUB/holds": page([]),
        "GET /api/billing/plans/lab-standard?version=1": { body: PLAN },
      }).client,
      <HealthPanel subscriptionId="01SUB" />,
    );
    await waitFor(() => expect(screen.getByTestId("health-status").textContent).toBe("Healthy so far"));
    expect(screen.getByTestId("purchased-credits").textContent).toBe("0");
    expect(screen.getByTestId("promotional-credits").textContent).toBe("1,000");
    expect(screen.getByTestId("projection").textContent).toContain("(early projection)");
    expect(screen.getByRole("region", { name: "Subscription health" }).textContent).toContain("this period's usage over 1 day");
  });

  it("says which plan the next period starts on when a change is pending, and nothing when none is", async () => {
    const routes = (body: object) =>
      fakeClient({
        "GET /api/billing/subscriptions/01SUB": { body },
        "GET /api/billing/subscriptions/01SUB/grants": page([]),
        "GET /api/billing/subscriptions/01SUB/holds": page([]),
        "GET /api/billing/plans/lab-standard?version=1": { body: PLAN },
      }).client;
    const pending = { ...subscription("900", "0", "0", "healthy"), pending_plan_change: { plan_id: "lab-pro", plan_version: 2, effective_at: "2026-12-01T00:00:00Z" } };
    renderWith(routes(pending), <HealthPanel subscriptionId="01SUB" />);
    expect((await screen.findByTestId("health-pending-change")).textContent).toBe("on lab-pro version 2, from 2026-12-01 00:00 UTC");
    cleanup();
    renderWith(routes(subscription("900", "0", "0", "healthy")), <HealthPanel subscriptionId="01SUB" />);
    await screen.findByTestId("credit-balance");
    expect(screen.queryByTestId("health-pending-change")).toBeNull();
  });
});
