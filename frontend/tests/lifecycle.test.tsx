import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { CancelSubscription } from "../components/CancelSubscription";
import { HealthPanel } from "../components/HealthPanel";
import { PlansPanel } from "../components/PlansPanel";
import type { SubscriptionWithHealth, Subscription } from "../lib/api";
import { fakeClient, page, PLAN, refusal, renderWith, sessionFor, SHORT_PERIOD_DRAFT, SUBSCRIPTION } from "./support";

afterEach(cleanup);
const subscription = SUBSCRIPTION as unknown as SubscriptionWithHealth;
const UPCOMING = {
  ...SHORT_PERIOD_DRAFT,
  line_items: [
    ...SHORT_PERIOD_DRAFT.line_items,
    { kind: "overage", description: "planner overage", service: "planner", quantity: "8", unit_amount_cents: "12.5", amount_cents: 100 },
  ],
  subtotal_cents: 16733,
  total_cents: 16733,
};

describe("cancel subscription", () => {
  it("shows the final invoice a cancellation now would make, then cancels on Confirm", async () => {
    let canceled = 0;
    const { client, calls } = fakeClient({
      "GET /api/billing/subscriptions/01SUB/invoices/upcoming?cancel_now=true": { body: UPCOMING },
      "POST /api/billing/subscriptions/01SUB/cancel": { body: { ...SUBSCRIPTION, status: "canceled" } },
    });
    renderWith(client, <CancelSubscription subscription={subscription} mayCancel onCanceled={() => (canceled += 1)} />);
    fireEvent.click(screen.getByRole("button", { name: "Cancel subscription" }));
    expect(screen.getByRole("status").textContent).toContain("Loading the final invoice");
    const confirm = await screen.findByRole("group", { name: "Confirm cancellation" });
    expect(confirm.textContent).toContain("Lab Standard base fee, prorated 10 of 30 days");
    expect(confirm.textContent).toContain("$166.33");
    expect(within(confirm).getByTestId("final-total").textContent).toBe("$167.33");
    expect(calls).not.toContain("POST /api/billing/subscriptions/01SUB/cancel");
    fireEvent.click(within(confirm).getByRole("button", { name: "Confirm" }));
    await waitFor(() => expect(canceled).toBe(1));
    expect(calls).toContain("POST /api/billing/subscriptions/01SUB/cancel");
    expect(screen.queryByRole("group", { name: "Confirm cancellation" })).toBeNull();
  });

  it("keeps the subscription when the preview is dismissed, and shows a refused preview", async () => {
    const { client, calls } = fakeClient({
      "GET /api/billing/subscriptions/01SUB/invoices/upcoming": refusal(403, "forbidden", "Only organization admins may cancel."),
    });
    renderWith(client, <CancelSubscription subscription={subscription} mayCancel />);
    fireEvent.click(screen.getByRole("button", { name: "Cancel subscription" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Only organization admins may cancel.");
    expect(calls.some((c) => c.includes("/cancel"))).toBe(false);
  });

  it("shows a refused cancellation inside the confirmation", async () => {
    const { client } = fakeClient({
      "GET /api/billing/subscriptions/01SUB/invoices/upcoming": { body: UPCOMING },
      "POST /api/billing/subscriptions/01SUB/cancel": refusal(409, "period_open", "A period never ends in the second it starts."),
    });
    renderWith(client, <CancelSubscription subscription={subscription} mayCancel />);
    fireEvent.click(screen.getByRole("button", { name: "Cancel subscription" }));
    const confirm = await screen.findByRole("group", { name: "Confirm cancellation" });
    fireEvent.click(within(confirm).getByRole("button", { name: "Keep subscription" }));
    expect(screen.queryByRole("group", { name: "Confirm cancellation" })).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Cancel subscription" }));
    fireEvent.click(within(await screen.findByRole("group", { name: "Confirm cancellation" })).getByRole("button", { name: "Confirm" }));
    expect((await screen.findByRole("alert")).textContent).toContain("A period never ends in the second it starts.");
  });

  it("is not offered to members, and a canceled subscription says when it ended", async () => {
    const { client } = fakeClient({
      "GET /api/billing/subscriptions/01SUB/grants": page([]),
      "GET /api/billing/subscriptions/01SUB/holds": page([]),
      "GET /api/billing/plans/lab-standard": { body: PLAN },
      "GET /api/billing/subscriptions/01SUB": { body: { ...SUBSCRIPTION, status: "canceled", canceled_at: "2026-11-11T09:30:00Z" } },
    });
    renderWith(client, <HealthPanel subscriptionId="01SUB" mayCancel />);
    expect((await screen.findByTestId("canceled-state")).textContent).toContain("Canceled 2026-11-11 09:30 UTC");
    expect(screen.queryByRole("button", { name: "Cancel subscription" })).toBeNull();
    cleanup();
    renderWith(client, <CancelSubscription subscription={subscription} mayCancel={false} />);
    expect(screen.queryByRole("button", { name: "Cancel subscription" })).toBeNull();
  });
});

describe("the subscriber's own plan", () => {
  const own = { ...SUBSCRIPTION, plan_version: 2 } as unknown as Subscription;

  it("shows the version it is on even when the plan is archived, and words an empty catalog", async () => {
    const { client, calls } = fakeClient({
      "GET /api/billing/plans?": page([]),
      "GET /api/billing/plans/lab-standard?version=2": { body: { ...PLAN, version: 2, status: "archived" } },
    });
    renderWith(client, <PlansPanel session={sessionFor("org:admin", "org-lab")} hasSubscription onSubscribed={() => {}} subscription={own} />);
    const card = await screen.findByTestId("own-plan");
    await waitFor(() => expect(card.textContent).toContain("Lab Standard"));
    expect(screen.getByTestId("own-plan-note").textContent).toContain("Lab Standard, version 2: archived");
    expect(await screen.findByText("No plans are offered to new subscribers at the moment.")).toBeTruthy();
    expect(calls).toContain("GET /api/billing/plans/lab-standard?version=2");
  });

  it("marks the catalog's card instead of showing the same version twice", async () => {
    const { client } = fakeClient({
      "GET /api/billing/plans?": page([{ ...PLAN, version: 2 }]),
      "GET /api/billing/plans/lab-standard?version=2": { body: { ...PLAN, version: 2 } },
    });
    renderWith(client, <PlansPanel session={null} hasSubscription onSubscribed={() => {}} subscription={own} />);
    await waitFor(() => expect(screen.getByTestId("own-plan-note").textContent).toBe("Lab Standard, version 2, as listed in the catalog below."));
    expect(screen.queryByTestId("own-plan-card")).toBeNull();
    expect(within(screen.getByTestId("plan-lab-standard")).getByText("Your plan")).toBeTruthy();
  });

  it("says when the catalog lists a newer version, loads, and shows a refusal", async () => {
    const { client } = fakeClient({
      "GET /api/billing/plans?": page([{ ...PLAN, version: 3 }]),
      "GET /api/billing/plans/lab-standard?version=2": { body: { ...PLAN, version: 2 } },
    });
    renderWith(client, <PlansPanel session={null} hasSubscription onSubscribed={() => {}} subscription={own} />);
    await waitFor(() => expect(screen.getByTestId("own-plan-note").textContent).toContain("the catalog now lists version 3"));
    cleanup();
    const pending = fakeClient({ "GET /api/billing/plans": "pending" });
    renderWith(pending.client, <PlansPanel session={null} hasSubscription onSubscribed={() => {}} subscription={own} />);
    expect(screen.getByText(/Loading your plan/)).toBeTruthy();
    cleanup();
    const refused = fakeClient({ "GET /api/billing/plans?": page([]), "GET /api/billing/plans/lab-standard?version=2": refusal(404, "not_found", "No version 2.") });
    renderWith(refused.client, <PlansPanel session={null} hasSubscription onSubscribed={() => {}} subscription={own} />);
    expect((await screen.findByRole("alert")).textContent).toContain("No version 2.");
  });
});

describe("plan cards", () => {
  it("show the description, per-service rates and the bundle, with feature rows lined up by key", async () => {
    const pro = {
      ...PLAN,
      plan_id: "pro",
      name: "Lab Pro",
      base_fee_cents: 149_900,
      bundle: [{ sku: "ELN", name: "Lab notebook", description: "ten seats" }],
      features: [
        { key: "api", label: "API access", included: true, limit: null },
        { key: "seats", label: "Team seats", included: true, limit: 100 },
      ],
    };
    const { client } = fakeClient({ "GET /api/billing/plans": page([pro, PLAN]) });
    renderWith(client, <PlansPanel session={null} hasSubscription={false} onSubscribed={() => {}} />);
    const [standard, lab] = await screen.findAllByRole("article");
    const rows = (card: HTMLElement) => [...card.querySelectorAll("tr[data-feature]")].map((r) => r.getAttribute("data-feature"));
    expect(rows(standard!)).toEqual(rows(lab!));
    expect(standard!.textContent).toContain("Everything a lab needs.");
    expect(standard!.querySelector('tr[data-feature="api"]')?.textContent).toContain("Not offered");
    expect(within(screen.getByTestId("rates-lab-standard")).getByText("planner").closest("tr")?.textContent).toContain("per");
    expect(lab!.textContent).toContain("Lab notebook · ten seats");
  });

  it("estimate what a run costs from the plan's rates, against the credits at hand", async () => {
    const own = { ...SUBSCRIPTION, available_credits: "10" } as unknown as Subscription;
    const { client } = fakeClient({ "GET /api/billing/plans?": page([]), "GET /api/billing/plans/lab-standard?version=1": { body: PLAN } });
    renderWith(client, <PlansPanel session={null} hasSubscription onSubscribed={() => {}} subscription={own} />);
    const estimate = await screen.findByTestId("own-plan-card-estimate");
    const card = screen.getByTestId("own-plan");
    const [service] = Object.keys(PLAN.usage_rates);
    const rate = PLAN.usage_rates[service as keyof typeof PLAN.usage_rates].credits_per_unit;
    fireEvent.change(within(card).getByLabelText(/Quantity/), { target: { value: "3" } });
    expect(estimate.textContent).toContain(`3 × ${rate} = `);
    fireEvent.change(within(card).getByLabelText(/Quantity/), { target: { value: "1000000" } });
    expect(estimate.textContent).toContain("More than your 10 available credits");
    fireEvent.change(within(card).getByLabelText(/Quantity/), { target: { value: "-1" } });
    expect(card.querySelector('.field-error[data-field="quantity"]')?.textContent).toContain("Enter a quantity above 0");
    expect(estimate.textContent).toBe("");
  });
});
