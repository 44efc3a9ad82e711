import { cleanup, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { BalanceAlert } from "../components/BalanceAlert";
import { fakeClient, PLAN, refusal, renderWith, sessionFor, SUBSCRIPTION } from "./support";

afterEach(cleanup);
const health = (status: string, balance: string) => ({
  ...SUBSCRIPTION,
  credit_balance: balance,
  available_credits: balance,
  health: { ...SUBSCRIPTION.health, status, projected_depletion_at: null },
});
const routes = (subscription: object) => ({
  "GET /api/billing/subscriptions/01SUB": { body: subscription },
  "GET /api/billing/plans/lab-standard?version=1": { body: { ...PLAN, overage_policy: "block" } },
});

describe("balance alert", () => {
  it("offers an org admin auto top-up when the balance is under the threshold", async () => {
    renderWith(fakeClient(routes(health("low", "50"))).client, <BalanceAlert subscriptionId="01SUB" session={sessionFor("org:admin", "org-lab")} />);
    const alert = await screen.findByTestId("balance-alert");
    expect(alert.textContent).toContain("org-lab is running low: 50 credits available");
    expect(screen.getByRole("link", { name: "Set up auto top-up" }).getAttribute("href")).toBe("#credit-settings");
  });

  it("offers a marketplace admin a top-up, and says a blocked plan refuses usage when depleted", async () => {
    renderWith(fakeClient(routes(health("depleted", "0"))).client, <BalanceAlert subscriptionId="01SUB" session={sessionFor("marketplace:admin")} />);
    await waitFor(() => expect(screen.getByTestId("balance-alert").textContent).toContain("New usage is refused until credits are added."));
    expect(screen.getByRole("link", { name: "Top up credits" }).getAttribute("href")).toBe("#credits-form");
  });

  it("asks a member to ask an admin", async () => {
    renderWith(fakeClient(routes(health("depleted", "0"))).client, <BalanceAlert subscriptionId="01SUB" session={sessionFor("org:member", "org-lab")} />);
    expect((await screen.findByTestId("balance-alert")).textContent).toContain("Ask an organization admin");
  });

  it("stays quiet while loading, on a refusal, for a healthy balance and for no subscription", async () => {
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB": "pending" }).client, <BalanceAlert subscriptionId="01SUB" session={sessionFor("org:admin", "org-lab")} />);
    expect(screen.queryByTestId("balance-alert")).toBeNull();
    cleanup();
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB": refusal(404, "not_found", "No.") }).client, <BalanceAlert subscriptionId="01SUB" session={sessionFor("org:admin", "org-lab")} />);
    await new Promise((r) => setTimeout(r, 20));
    expect(screen.queryByRole("alert")).toBeNull();
    cleanup();
    const { calls, client } = fakeClient(routes(health("healthy", "900")));
    renderWith(client, <BalanceAlert subscriptionId="01SUB" session={sessionFor("org:admin", "org-lab")} />);
    await waitFor(() => expect(calls).toContain("GET /api/billing/plans/lab-standard?version=1"));
    expect(screen.queryByTestId("balance-alert")).toBeNull();
    cleanup();
    renderWith(client, <BalanceAlert subscriptionId={null} session={sessionFor("org:admin", "org-lab")} />);
    expect(screen.queryByTestId("balance-alert")).toBeNull();
  });
});
