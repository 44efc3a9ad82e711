import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CreditSettings, settingsChange } from "../components/CreditSettings";
import { GrantForm, GrantsList, HoldsList, utcFromInput } from "../components/Grants";
import { HealthPanel } from "../components/HealthPanel";
import type { SubscriptionWithHealth } from "../lib/api";
import { ClientContext } from "../lib/context";
import { fakeClient, page, refusal, renderWith, SUBSCRIPTION } from "./support";

afterEach(cleanup);
const GRANTS = "GET /api/billing/subscriptions/01SUB/grants";
const HOLDS = "GET /api/billing/subscriptions/01SUB/holds";

const grant = (over: Record<string, unknown> = {}) => ({
  grant_id: "01G1",
  subscription_id: "01SUB",
  kind: "promotional",
  amount: "250",
  remaining: "249.999999",
  priority: 50,
  effective_at: "2026-11-02T00:00:00Z",
  expires_at: "2026-12-31T23:59:00Z",
  price_cents: 0,
  currency: "USD",
  reason: "Conference promo",
  status: "active",
  period_start: "2026-11-01T00:00:00Z",
  actor: "local|admin",
  created_at: "2026-11-02T00:00:00Z",
  ...over,
});
const GRANT_LIST = [
  grant(),
  grant({ grant_id: "01G2", kind: "purchased", amount: "12345678.5", remaining: "12345678.5", priority: 100, expires_at: null, price_cents: 123456789, reason: "Bulk purchase" }),
  grant({ grant_id: "01G3", kind: "purchased", amount: "10", remaining: "0", ended_amount: "7.5", price_cents: 100, currency: "JPY", status: "voided", reason: "Mistake" }),
  grant({ grant_id: "01G4", kind: "allowance", amount: "1000", remaining: "0", ended_amount: "0", priority: 0, status: "expired", reason: "Allowance" }),
];
const HOLD = {
  hold_id: "01H",
  subscription_id: "01SUB",
  organization_id: "org-lab",
  service: "instrumentation",
  quantity: "2",
  credits: "40.000001",
  status: "held",
  expires_at: "2026-11-25T19:00:00Z",
  created_at: "2026-11-25T18:00:00Z",
  ended_at: null,
  settled_event_id: null,
  source: null,
};

describe("credit grants list", () => {
  it("says it is loading", () => {
    renderWith(fakeClient({ [GRANTS]: "pending" }).client, <GrantsList subscriptionId="01SUB" />);
    expect(screen.getByRole("status").textContent).toContain("Loading credit grants");
  });

  it("says when there are no active grants, and asks for active ones first", async () => {
    const { client, calls } = fakeClient({ [GRANTS]: page([]) });
    renderWith(client, <GrantsList subscriptionId="01SUB" />);
    expect(await screen.findByText("No active grants.")).toBeTruthy();
    expect(calls).toEqual(["GET /api/billing/subscriptions/01SUB/grants?limit=200&status=active"]);
  });

  it("shows the API's message when the grants cannot be read", async () => {
    renderWith(fakeClient({ [GRANTS]: refusal(403, "forbidden", "You may not read this subscription's grants.") }).client, <GrantsList subscriptionId="01SUB" />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("You may not read this subscription's grants.");
    expect(alert.textContent).toContain("forbidden");
  });

  it("lists grants newest first: kind, remaining of amount, priority, dates, exact price in its currency, status, what an ended grant took with it", async () => {
    const { client, calls } = fakeClient({ [GRANTS]: page(GRANT_LIST) });
    renderWith(client, <GrantsList subscriptionId="01SUB" />);
    const table = await screen.findByTestId("grant-list");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.getAttribute("data-kind"))).toEqual(["promotional", "purchased", "purchased", "allowance"]);
    expect(rows[0]?.textContent).toContain("Promotional");
    expect(rows[0]?.textContent).toContain("249.999999 / 250");
    expect(rows[0]?.textContent).toContain("from 2026-11-02 00:00");
    expect(rows[0]?.textContent).toContain("until 2026-12-31 23:59");
    expect(rows[0]?.textContent).toContain("free");
    expect(rows[1]?.textContent).toContain("12,345,678.5 / 12,345,678.5");
    expect(rows[1]?.textContent).toContain("no expiry");
    expect(rows[1]?.textContent).toContain("$1,234,567.89");
    expect(rows[2]?.textContent).toContain("¥100");
    expect(rows[2]?.textContent).toContain("Voided");
    expect(rows[2]?.textContent).toContain("0 / 10"); // what it held when voided left the balance
    expect(rows[2]?.textContent).toContain("7.5 voided");
    expect(rows[3]?.textContent).toContain("Expired");
    // Kinds and statuses are distinct badges; no Void for readers.
    expect(new Set(rows.map((r) => r.querySelector(".badge")?.className)).size).toBe(3);
    expect(within(table).queryByRole("button", { name: /Void/ })).toBeNull();
    fireEvent.change(screen.getByLabelText("Grant status"), { target: { value: "" } });
    await waitFor(() => expect(calls.at(-1)).toBe("GET /api/billing/subscriptions/01SUB/grants?limit=200"));
    fireEvent.change(screen.getByLabelText("Grant status"), { target: { value: "expired" } });
    await waitFor(() => expect(calls.at(-1)).toBe("GET /api/billing/subscriptions/01SUB/grants?limit=200&status=expired"));
  });

  it("voids an active grant with a reason after a confirmation, and shows a 409's message", async () => {
    const onChanged = vi.fn();
    const { client } = fakeClient({
      [GRANTS]: page(GRANT_LIST),
      "POST /api/billing/subscriptions/01SUB/grants/01G1/void": { body: grant({ status: "voided", remaining: "0" }) },
      "POST /api/billing/subscriptions/01SUB/grants/01G2/void": refusal(409, "grant_not_active", "The grant is depleted; only an active grant can be voided."),
    });
    const send = vi.spyOn(client, "voidGrant");
    renderWith(client, <GrantsList subscriptionId="01SUB" mayVoid onChanged={onChanged} />);
    const voids = await screen.findAllByRole("button", { name: /^Void / });
    expect(voids).toHaveLength(2); // the active ones only
    fireEvent.click(voids[0]!);
    expect(send).not.toHaveBeenCalled();
    const confirm = screen.getByRole("form", { name: "Void grant" });
    expect(confirm.textContent).toContain("Conference promo");
    fireEvent.change(within(confirm).getByLabelText("Reason (optional)"), { target: { value: "Sent twice" } });
    fireEvent.click(within(confirm).getByRole("button", { name: "Confirm void" }));
    expect(await screen.findByText("Voided the promotional grant of 250 credits.")).toBeTruthy();
    expect(send.mock.calls[0]?.[1]).toBe("Sent twice");
    expect(onChanged).toHaveBeenCalledTimes(1);
    fireEvent.click((await screen.findAllByRole("button", { name: /^Void purchased/ }))[0]!);
    fireEvent.click(screen.getByRole("button", { name: "Confirm void" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("only an active grant can be voided");
    expect(alert.textContent).toContain("grant_not_active");
    expect(onChanged).toHaveBeenCalledTimes(1);
  });
});

describe("holds list", () => {
  it("says it is loading, empty or refused", async () => {
    renderWith(fakeClient({ [HOLDS]: "pending" }).client, <HoldsList subscriptionId="01SUB" />);
    expect(screen.getByRole("status").textContent).toContain("Loading holds");
    cleanup();
    renderWith(fakeClient({ [HOLDS]: page([]) }).client, <HoldsList subscriptionId="01SUB" />);
    expect(await screen.findByText("No credits are held for running work.")).toBeTruthy();
    cleanup();
    renderWith(fakeClient({ [HOLDS]: refusal(503, "service_unavailable", "Holds are resting.") }).client, <HoldsList subscriptionId="01SUB" />);
    expect((await screen.findByRole("alert")).textContent).toContain("Holds are resting.");
  });

  it("lists held credits with service, exact credits and expiry", async () => {
    const { client, calls } = fakeClient({ [HOLDS]: page([HOLD]) });
    renderWith(client, <HoldsList subscriptionId="01SUB" />);
    const table = await screen.findByTestId("hold-list");
    expect(table.textContent).toContain("instrumentation");
    expect(table.textContent).toContain("40.000001");
    expect(table.textContent).toContain("2026-11-25 19:00 UTC");
    expect(calls).toEqual(["GET /api/billing/subscriptions/01SUB/holds?limit=200&status=held"]);
  });
});

describe("health panel with grants, holds and settings", () => {
  it("shows the three sections below the figures", async () => {
    renderWith(
      fakeClient({ "GET /api/billing/subscriptions/01SUB": { body: SUBSCRIPTION }, [GRANTS]: page([grant()]), [HOLDS]: page([HOLD]) }).client,
      <HealthPanel subscriptionId="01SUB" />,
    );
    expect((await screen.findByTestId("grant-list")).textContent).toContain("Conference promo");
    expect((await screen.findByTestId("hold-list")).textContent).toContain("instrumentation");
    expect(screen.getByTestId("auto-top-up").textContent).toBe("Off");
    expect(screen.queryByRole("button", { name: "Change settings" })).toBeNull();
    expect(screen.queryByRole("button", { name: /^Void/ })).toBeNull();
  });
});

describe("health panel refreshes", () => {
  it("keeps its figures and the lists' messages up while a change reloads it", async () => {
    const { client } = fakeClient({
      "GET /api/billing/subscriptions/01SUB": { body: SUBSCRIPTION },
      [GRANTS]: page([grant()]),
      [HOLDS]: page([]),
      "POST /api/billing/subscriptions/01SUB/grants/01G1/void": { body: grant({ status: "voided" }) },
    });
    const view = renderWith(client, <HealthPanel subscriptionId="01SUB" refreshKey={0} mayVoid />);
    fireEvent.click(await screen.findByRole("button", { name: /^Void / }));
    fireEvent.click(screen.getByRole("button", { name: "Confirm void" }));
    expect(await screen.findByText("Voided the promotional grant of 250 credits.")).toBeTruthy();
    // The page's refresh after the void: the panel reloads but does not blank out or forget.
    view.rerender(
      <ClientContext.Provider value={client}>
        <HealthPanel subscriptionId="01SUB" refreshKey={1} mayVoid />
      </ClientContext.Provider>,
    );
    expect(screen.getByTestId("credit-balance").textContent).toBe("1,234,567.123456");
    expect(screen.getByText("Voided the promotional grant of 250 credits.")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("grant-list")).toBeTruthy());
    expect(screen.getByText("Voided the promotional grant of 250 credits.")).toBeTruthy();
  });
});

describe("grant form", () => {
  it("asks for a subscription first", () => {
    renderWith(fakeClient({}).client, <GrantForm subscriptionId={null} onChanged={() => {}} />);
    expect(screen.getByText("Select a subscription to grant it credits.")).toBeTruthy();
  });

  it("grants promotional credits with an expiry (UTC) and no price", async () => {
    const onChanged = vi.fn();
    const { client } = fakeClient({ "POST /api/billing/subscriptions/01SUB/grants": { status: 201, body: grant({ remaining: "250" }) } });
    const send = vi.spyOn(client, "createGrant");
    renderWith(client, <GrantForm subscriptionId="01SUB" onChanged={onChanged} />);
    const form = screen.getByRole("form", { name: "Grant credits" });
    expect((within(form).getByLabelText(/Price/) as HTMLInputElement).disabled).toBe(true);
    fireEvent.change(within(form).getByLabelText(/Amount/), { target: { value: "250" } });
    fireEvent.change(within(form).getByLabelText(/Priority/), { target: { value: "50" } });
    fireEvent.change(within(form).getByLabelText(/Expires at/), { target: { value: "2026-12-31T23:59" } });
    fireEvent.change(within(form).getByLabelText("Reason"), { target: { value: "Conference promo" } });
    fireEvent.click(within(form).getByRole("button", { name: "Grant credits" }));
    expect(await screen.findByText("Granted 250 promotional credits, expiring 2026-12-31 23:59 UTC.")).toBeTruthy();
    expect(send.mock.calls[0]?.[1]).toMatchObject({
      kind: "promotional",
      amount: "250",
      priority: 50,
      effective_at: null,
      expires_at: "2026-12-31T23:59:00Z",
      price_cents: null,
      reason: "Conference promo",
    });
    expect(send.mock.calls[0]?.[1].idempotency_key).toMatch(/^grant-/);
    expect(onChanged).toHaveBeenCalled();
  });

  it("sends a purchased grant's price in whole cents and shows the charge exactly", async () => {
    const { client } = fakeClient({
      "POST /api/billing/subscriptions/01SUB/grants": { status: 201, body: grant({ kind: "purchased", amount: "1000", price_cents: 9007199254740991, expires_at: null }) },
    });
    const send = vi.spyOn(client, "createGrant");
    renderWith(client, <GrantForm subscriptionId="01SUB" onChanged={() => {}} />);
    const form = screen.getByRole("form", { name: "Grant credits" });
    fireEvent.change(within(form).getByLabelText("Kind"), { target: { value: "purchased" } });
    fireEvent.change(within(form).getByLabelText(/Amount/), { target: { value: "1000" } });
    fireEvent.change(within(form).getByLabelText(/Price/), { target: { value: "9007199254740991" } });
    fireEvent.change(within(form).getByLabelText("Reason"), { target: { value: "Bulk" } });
    fireEvent.click(within(form).getByRole("button", { name: "Grant credits" }));
    expect(await screen.findByText(/for \$90,071,992,547,409\.91\./)).toBeTruthy();
    expect(send.mock.calls[0]?.[1]).toMatchObject({ kind: "purchased", price_cents: 9007199254740991, priority: null, expires_at: null });
  });

  it("shows the API's 422 at each field it names", async () => {
    const fields = [
      { field: "amount", location: "body", message: "must be greater than 0" },
      { field: "expires_at", location: "body", message: "must be after effective_at" },
      { field: "reason", location: "body", message: "must not be empty" },
    ];
    const { client } = fakeClient({ "POST /api/billing/subscriptions/01SUB/grants": refusal(422, "validation_error", "Invalid request.", { fields }) });
    renderWith(client, <GrantForm subscriptionId="01SUB" onChanged={() => {}} />);
    const form = screen.getByRole("form", { name: "Grant credits" });
    fireEvent.change(within(form).getByLabelText(/Amount/), { target: { value: "-1" } });
    fireEvent.click(within(form).getByRole("button", { name: "Grant credits" }));
    expect((await screen.findByText("must be greater than 0")).getAttribute("data-field")).toBe("amount");
    expect(within(form).getByRole("textbox", { name: /Amount/ }).getAttribute("aria-invalid")).toBe("true");
    expect(form.querySelector('.field-error[data-field="expires_at"]')?.textContent).toBe("must be after Effective from");
    expect(form.querySelector('.field-error[data-field="reason"]')?.textContent).toBe("must not be empty");
    expect(screen.queryByRole("alert")).toBeNull(); // every error is at its field
  });

  it("shows a refusal no field names as a notice", async () => {
    const { client } = fakeClient({ "POST /api/billing/subscriptions/01SUB/grants": refusal(409, "no_active_subscription", "The subscription is canceled.") });
    renderWith(client, <GrantForm subscriptionId="01SUB" onChanged={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Grant credits" }));
    expect((await screen.findByRole("alert")).textContent).toContain("The subscription is canceled.");
  });
});

describe("credit settings", () => {
  const subscription = (over: Partial<SubscriptionWithHealth> = {}) => ({ ...SUBSCRIPTION, ...over }) as unknown as SubscriptionWithHealth;
  const on = { enabled: true, threshold_credits: "100.5", amount: "500", max_per_period: 3 };

  it("shows the settings read-only to members, exactly", () => {
    renderWith(fakeClient({}).client, <CreditSettings subscription={subscription({ auto_top_up: on, low_balance_threshold_credits: "1234.000001", auto_top_ups_in_period: 1 })} mayEdit={false} />);
    const summary = screen.getByTestId("settings-summary");
    expect(summary.textContent).toContain("1,234.000001 credits");
    expect(screen.getByTestId("auto-top-up").textContent).toBe("On: buy 500 credits when the balance falls below 100.5, at most 3 times a period (1 so far)");
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.queryByRole("form")).toBeNull();
  });

  it("says when the threshold is the default and auto top-up is off", () => {
    renderWith(fakeClient({}).client, <CreditSettings subscription={subscription()} mayEdit={false} />);
    expect(screen.getByTestId("settings-summary").textContent).toContain("the default (10% of the allowance)");
    expect(screen.getByTestId("auto-top-up").textContent).toBe("Off");
  });

  it("lets an org admin turn auto top-up on, sending only what changed", async () => {
    const onSaved = vi.fn();
    const { client } = fakeClient({ "PUT /api/billing/subscriptions/01SUB/settings": { body: subscription({ auto_top_up: on }) } });
    const send = vi.spyOn(client, "changeSettings");
    renderWith(client, <CreditSettings subscription={subscription()} mayEdit onSaved={onSaved} />);
    fireEvent.click(screen.getByRole("button", { name: "Change settings" }));
    const form = screen.getByRole("form", { name: "Credit settings" });
    fireEvent.click(within(form).getByRole("checkbox"));
    fireEvent.change(within(form).getByLabelText("When below (credits)"), { target: { value: "100.5" } });
    fireEvent.change(within(form).getByLabelText("Buy (credits)"), { target: { value: "500" } });
    fireEvent.change(within(form).getByLabelText("At most (times a period)"), { target: { value: "3" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save settings" }));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(send.mock.calls[0]).toEqual(["01SUB", { auto_top_up: { enabled: true, threshold_credits: "100.5", amount: "500", max_per_period: 3 } }]);
  });

  it("changes only the threshold, and blank goes back to the default", () => {
    const before = { threshold: "50", enabled: true, topUpThreshold: "1", amount: "2", maxPerPeriod: "3" };
    expect(settingsChange(before, { ...before, threshold: "75.25" })).toEqual({ low_balance_threshold_credits: "75.25" });
    expect(settingsChange(before, { ...before, threshold: " " })).toEqual({ low_balance_threshold_credits: null });
    expect(settingsChange(before, before)).toEqual({});
    expect(settingsChange(before, { threshold: "50", enabled: false, topUpThreshold: "", amount: "", maxPerPeriod: "" })).toEqual({ auto_top_up: null });
  });

  it("shows the API's 422s at the fields they name", async () => {
    const fields = [
      { field: "low_balance_threshold_credits", location: "body", message: "must be at least 0" },
      { field: "auto_top_up.amount", location: "body", message: "must be greater than 0" },
      { field: "auto_top_up.max_per_period", location: "body", message: "must be at most 100" },
    ];
    const { client } = fakeClient({ "PUT /api/billing/subscriptions/01SUB/settings": refusal(422, "validation_error", "Invalid request.", { fields }) });
    renderWith(client, <CreditSettings subscription={subscription()} mayEdit />);
    fireEvent.click(screen.getByRole("button", { name: "Change settings" }));
    const form = screen.getByRole("form", { name: "Credit settings" });
    fireEvent.change(within(form).getByLabelText(/Low-balance threshold/), { target: { value: "-1" } });
    fireEvent.click(within(form).getByRole("checkbox"));
    fireEvent.change(within(form).getByLabelText("Buy (credits)"), { target: { value: "0" } });
    fireEvent.change(within(form).getByLabelText("At most (times a period)"), { target: { value: "500" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save settings" }));
    expect((await screen.findByText("must be at least 0")).getAttribute("data-field")).toBe("low_balance_threshold_credits");
    expect(form.querySelector('.field-error[data-field="auto_top_up.amount"]')?.textContent).toBe("must be greater than 0");
    expect(form.querySelector('.field-error[data-field="auto_top_up.max_per_period"]')?.textContent).toBe("must be at most 100");
    expect(within(form).getByRole("textbox", { name: /Buy \(credits\)/ }).getAttribute("aria-invalid")).toBe("true");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows a 403 as a notice", async () => {
    const { client } = fakeClient({ "PUT /api/billing/subscriptions/01SUB/settings": refusal(403, "forbidden", "Changing settings needs org:admin.") });
    renderWith(client, <CreditSettings subscription={subscription()} mayEdit />);
    fireEvent.click(screen.getByRole("button", { name: "Change settings" }));
    fireEvent.change(screen.getByLabelText(/Low-balance threshold/), { target: { value: "5" } });
    fireEvent.click(screen.getByRole("button", { name: "Save settings" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Changing settings needs org:admin.");
  });
});

describe("dates typed in the forms", () => {
  it("reads a datetime-local value as UTC", () => {
    expect(utcFromInput("2026-12-31T23:59")).toBe("2026-12-31T23:59:00Z");
    expect(utcFromInput("")).toBeNull();
    expect(utcFromInput("2026-12-31T23:59:30Z")).toBe("2026-12-31T23:59:30Z");
  });
});
