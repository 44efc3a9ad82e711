import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AdminPanel } from "../components/AdminPanel";
import { HealthPanel } from "../components/HealthPanel";
import { InvoicesPanel } from "../components/InvoicesPanel";
import { LedgerPanel, PAGES_AT_ONCE } from "../components/LedgerPanel";
import { PlansPanel } from "../components/PlansPanel";
import { UsagePanel } from "../components/UsagePanel";
import { ClientContext } from "../lib/context";
import { fakeClient, INVOICE, page, PLAN, refusal, renderWith, sessionFor, SUBSCRIPTION, USAGE_EVENT } from "./support";

afterEach(cleanup);
const orgAdmin = sessionFor("org:admin", "org-lab");

describe("plans panel", () => {
  const panel = () => <PlansPanel session={orgAdmin} hasSubscription={false} onSubscribed={() => {}} />;

  it("says it is loading", () => {
    renderWith(fakeClient({ "GET /api/billing/plans": "pending" }).client, panel());
    expect(screen.getByRole("status").textContent).toContain("Loading plans");
  });

  it("says when no plan is listed", async () => {
    renderWith(fakeClient({ "GET /api/billing/plans": page([]) }).client, panel());
    expect(await screen.findByText("No plans are offered at the moment.")).toBeTruthy();
  });

  it("shows the API's message when the catalog cannot be read", async () => {
    renderWith(fakeClient({ "GET /api/billing/plans": refusal(503, "service_unavailable", "The catalog is resting.") }).client, panel());
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The catalog is resting.");
    expect(alert.textContent).toContain("service_unavailable");
  });

  it("shows cards cheapest first with fee, allowance, overage, SLA and features", async () => {
    const pricey = { ...PLAN, plan_id: "pro", name: "Lab Pro", base_fee_cents: 149_900 };
    renderWith(fakeClient({ "GET /api/billing/plans": page([pricey, PLAN]) }).client, panel());
    const cards = await screen.findAllByRole("article");
    expect(cards.map((c) => within(c).getByRole("heading").textContent)).toEqual(["Lab Standard", "Lab Pro"]);
    const card = cards[0]!;
    expect(card.textContent).toContain("$499.00");
    expect(card.textContent).toContain("1,000 credits / month");
    expect(card.textContent).toContain("$0.125 / credit");
    expect(card.textContent).toContain("Top-ups$0.10 / credit");
    expect(card.textContent).toContain("99.9% uptime");
    expect(card.textContent).toContain("Up to 25");
    expect(card.textContent).toContain("Not included");
  });

  it("lets an org admin subscribe only after accepting the SLA, naming who and which version", async () => {
    const { client, calls } = fakeClient({
      "GET /api/billing/plans": page([PLAN]),
      "POST /api/billing/organizations/org-lab/subscriptions": { status: 201, body: SUBSCRIPTION },
    });
    const onSubscribed = vi.fn();
    const send = vi.spyOn(client, "subscribe");
    renderWith(client, <PlansPanel session={orgAdmin} hasSubscription={false} onSubscribed={onSubscribed} />);
    fireEvent.click(await screen.findByRole("button", { name: "Subscribe to Lab Standard" }));
    const confirm = screen.getByRole("button", { name: "Confirm subscription" }) as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    fireEvent.click(screen.getByLabelText(/I accept the standard SLA/));
    fireEvent.click(confirm);
    await waitFor(() => expect(onSubscribed).toHaveBeenCalled());
    expect(send.mock.calls[0]?.[1]).toEqual({
      plan_id: "lab-standard",
      residency: "us",
      sla_acceptance: { accepted_by: "test|org:admin", sla_version: "standard@1" },
    });
    expect(calls).toContain("POST /api/billing/organizations/org-lab/subscriptions");
  });

  it("offers no subscription to an org member", async () => {
    renderWith(fakeClient({ "GET /api/billing/plans": page([PLAN]) }).client, <PlansPanel session={sessionFor("org:member", "org-lab")} hasSubscription={false} onSubscribed={() => {}} />);
    await screen.findByRole("article");
    expect(screen.queryByRole("button", { name: /Subscribe/ })).toBeNull();
  });
});

describe("health panel", () => {
  it("asks for a subscription when none is chosen", () => {
    renderWith(fakeClient({}).client, <HealthPanel subscriptionId={null} />);
    expect(screen.getByText("No subscription selected.")).toBeTruthy();
  });

  it("says it is loading", () => {
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB": "pending" }).client, <HealthPanel subscriptionId="01SUB" />);
    expect(screen.getByRole("status").textContent).toContain("Loading the subscription");
  });

  it("shows a 404 with its message", async () => {
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB": refusal(404, "not_found", "No such subscription.") }).client, <HealthPanel subscriptionId="01SUB" />);
    expect((await screen.findByRole("alert")).textContent).toContain("No such subscription.");
  });

  it("shows the exact balance, its split, burn rate and status, with room for grants", async () => {
    renderWith(
      fakeClient({
        "GET /api/billing/subscriptions/01SUB": { body: SUBSCRIPTION },
        "GET /api/billing/subscriptions/01SUB/grants": refusal(503, "unavailable", "Grants are resting."),
        "GET /api/billing/subscriptions/01SUB/holds": page([]),
      }).client,
      <HealthPanel subscriptionId="01SUB">
        <p>grants go here</p>
      </HealthPanel>,
    );
    expect((await screen.findByTestId("credit-balance")).textContent).toBe("1,234,567.123456");
    expect(screen.getByTestId("health-status").textContent).toBe("Low balance");
    const panel = screen.getByRole("region", { name: "Subscription health" });
    expect(panel.textContent).toContain("Purchased and promotional1,233,567.123456"); // no grants read: one figure
    expect(panel.textContent).toContain("0.5 credits / day");
    expect(panel.textContent).toContain("Held for running work40");
    expect(panel.textContent).toContain("Available1,234,527.123456");
    expect(panel.textContent).toContain("not projected");
    expect(panel.textContent).toContain("2026-11-01 → 2026-12-01");
    expect(screen.getByText("grants go here")).toBeTruthy();
    expect((await screen.findAllByText("Grants are resting.")).length).toBeGreaterThan(0);
    expect(await screen.findByText("No credits are held for running work.")).toBeTruthy();
  });
});

describe("usage panel", () => {
  const event = { ...USAGE_EVENT, guardrail: { flags: ["dose_limit"], escalation_codes: ["ESC-12"] } };

  const sub = { "GET /api/billing/subscriptions/01SUB?": { body: SUBSCRIPTION }, "GET /api/billing/subscriptions/01SUB": { body: SUBSCRIPTION } };

  it("says it is loading", () => {
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB": "pending" }).client, <UsagePanel subscriptionId="01SUB" />);
    expect(screen.getAllByRole("status").map((s) => s.textContent)).toEqual(["Loading the current period…", "Loading usage events…"]);
  });

  it("says when there is no usage in the current period", async () => {
    const { client, calls } = fakeClient({ ...sub, "GET /api/billing/subscriptions/01SUB/usage?": page([]) });
    renderWith(client, <UsagePanel subscriptionId="01SUB" />);
    expect(await screen.findByText("No usage between 2026-11-01 and 2026-12-01.")).toBeTruthy();
    expect(await screen.findByText("No usage events yet.")).toBeTruthy();
    expect(calls).toContain("GET /api/billing/subscriptions/01SUB/usage?limit=200&from=2026-11-01T00%3A00%3A00Z&to=2026-12-01T00%3A00%3A00Z&status=recorded");
  });

  it("shows errors with their messages", async () => {
    renderWith(
      fakeClient({ ...sub, "GET /api/billing/subscriptions/01SUB/usage": refusal(422, "validation_error", "from must not be after to.") }).client,
      <UsagePanel subscriptionId="01SUB" />,
    );
    await waitFor(() => expect(screen.getAllByRole("alert").map((a) => a.textContent).join()).toContain("from must not be after to."));
  });

  it("charts each event on the day it occurred, lists events with flags, escalations and overage, pages and filters", async () => {
    const late = { ...event, event_id: "01LATE", occurred_at: "2026-11-03T23:59:59Z", recorded_at: "2026-11-20T08:00:00Z", credits: "1.5" };
    const { client, calls } = fakeClient({
      ...sub,
      "GET /api/billing/subscriptions/01SUB/usage?limit=200": page([event, late]),
      "GET /api/billing/subscriptions/01SUB/usage?limit=20&cursor=c2": page([{ ...event, event_id: "01EV2", guardrail: {} }]),
      "GET /api/billing/subscriptions/01SUB/usage?": page([event], "c2"),
    });
    renderWith(client, <UsagePanel subscriptionId="01SUB" />);
    const chart = await screen.findByTestId("usage-chart");
    expect([...chart.querySelectorAll("g[data-day]")].filter((g) => g.querySelector("rect")).map((g) => g.getAttribute("data-day"))).toEqual(["2026-11-03", "2026-11-20"]);
    expect(chart.parentElement?.querySelector("figcaption")?.textContent).toContain("planner: 7.5 credits");
    const table = await screen.findByTestId("usage-table");
    expect(table.textContent).toContain("dose_limit");
    expect(table.textContent).toContain("ESC-12");
    expect(table.querySelector("td.overage")?.textContent).toBe("2");
    expect(calls.filter((c) => c.includes("limit=200")).every((c) => c.includes("status=recorded"))).toBe(true); // the chart: recorded usage only
    fireEvent.click(screen.getByRole("button", { name: "Load more events" }));
    await waitFor(() => expect(table.querySelectorAll("tbody tr").length).toBe(2));
    fireEvent.change(screen.getByLabelText("Guardrail flag"), { target: { value: "dose_limit" } });
    fireEvent.click(screen.getByRole("button", { name: "Apply filters" }));
    await waitFor(() => expect(calls.some((c) => c.includes("guardrail_flag=dose_limit"))).toBe(true));
  });

  it("follows the current period when it moves on, until a window is chosen", async () => {
    const { client } = fakeClient({ ...sub, "GET /api/billing/subscriptions/01SUB/usage?": page([]) });
    const view = renderWith(client, <UsagePanel subscriptionId="01SUB" refreshKey={0} />);
    expect(await screen.findByText("No usage between 2026-11-01 and 2026-12-01.")).toBeTruthy();
    const moved = fakeClient({
      "GET /api/billing/subscriptions/01SUB": { body: { ...SUBSCRIPTION, current_period_start: "2026-12-01T00:00:00Z", current_period_end: "2027-01-01T00:00:00Z" } },
      "GET /api/billing/subscriptions/01SUB/usage?": page([]),
    });
    view.rerender(
      <ClientContext.Provider value={moved.client}>
        <UsagePanel subscriptionId="01SUB" refreshKey={1} />
      </ClientContext.Provider>,
    );
    expect(await screen.findByText("No usage between 2026-12-01 and 2027-01-01.")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-12-10" } });
    expect(await screen.findByText("No usage between 2026-12-10 and 2027-01-01.")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Current period" }));
    expect(await screen.findByText("No usage between 2026-12-01 and 2027-01-01.")).toBeTruthy();
  });
});

describe("invoices panel", () => {
  it("says it is loading, then empty", async () => {
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB/invoices": "pending" }).client, <InvoicesPanel subscriptionId="01SUB" mayManage={false} />);
    expect(screen.getByRole("status").textContent).toContain("Loading invoices");
    cleanup();
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB/invoices": page([]) }).client, <InvoicesPanel subscriptionId="01SUB" mayManage={false} />);
    expect(await screen.findByText(/No invoices yet/)).toBeTruthy();
  });

  it("shows a refusal's message", async () => {
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB/invoices": refusal(403, "forbidden", "Reading invoices needs invoices:read.") }).client, <InvoicesPanel subscriptionId="01SUB" mayManage={false} />);
    expect((await screen.findByRole("alert")).textContent).toContain("Reading invoices needs invoices:read.");
  });

  it("lists invoices, shows the lines and downloads the export with the token", async () => {
    const { client, calls } = fakeClient({
      "GET /api/billing/subscriptions/01SUB/invoices/01INV/export": { body: { invoice_id: "01INV" } },
      "GET /api/billing/subscriptions/01SUB/invoices": page([INVOICE]),
    });
    const created = vi.fn(() => "blob:x");
    Object.assign(URL, { createObjectURL: created, revokeObjectURL: () => {} });
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    renderWith(client, <InvoicesPanel subscriptionId="01SUB" mayManage={false} />);
    const list = await screen.findByTestId("invoice-list");
    expect(list.textContent).toContain("$531.33");
    expect(list.textContent).toContain("not issued");
    fireEvent.click(within(list).getByRole("button", { name: /View invoice/ }));
    const detail = screen.getByTestId("invoice-detail");
    expect(detail.textContent).toContain("258.625");
    expect(detail.textContent).toContain("$0.125");
    expect(detail.textContent).toContain("$32.33");
    expect(screen.queryByRole("button", { name: "Issue invoice" })).toBeNull();
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Download JSON" })));
    await waitFor(() => expect(click).toHaveBeenCalled());
    expect(calls).toContain("GET /api/billing/subscriptions/01SUB/invoices/01INV/export?format=json");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Download PDF" })));
    await waitFor(() => expect(calls).toContain("GET /api/billing/subscriptions/01SUB/invoices/01INV/export?format=pdf"));
    expect(screen.queryByTestId("bill-to")).toBeNull(); // no profile: nothing to address
  });

  it("shows an issued invoice as a document: bill-to, due date, credit notes and the amount due", async () => {
    const issued = {
      ...INVOICE,
      number: "INV-000007",
      status: "issued",
      issued_at: "2026-12-02T09:00:00Z",
      due_at: "2026-12-16T09:00:00Z",
      credited_cents: 3233,
      amount_due_cents: 49900,
      bill_to: {
        organization_id: "org-lab",
        legal_name: "Łódź Labs 株式会社",
        address: { line1: "Bahnhofstrasse 1", city: "Zürich", postal_code: "8001", country: "CH" },
        tax_id: "CHE-123",
      },
    };
    const { client } = fakeClient({ "GET /api/billing/subscriptions/01SUB/invoices": page([issued]) });
    renderWith(client, <InvoicesPanel subscriptionId="01SUB" mayManage={false} />);
    fireEvent.click(await screen.findByRole("button", { name: /View invoice/ }));
    expect(screen.getByTestId("bill-to").textContent).toBe(
      "Bill to Łódź Labs 株式会社 · Bahnhofstrasse 1, 8001 Zürich, CH · Tax ID CHE-123",
    );
    expect(screen.getByTestId("invoice-detail").textContent).toContain("due 2026-12-16");
    const due = screen.getByTestId("invoice-due").textContent;
    expect(due).toContain("Credited−$32.33");
    expect(due).toContain("Amount due$499.00");
  });

  it("offers draft, issue and void to finance, and shows a 409 with its message", async () => {
    const { client } = fakeClient({
      "POST /api/billing/subscriptions/01SUB/invoices/01INV/issue": refusal(409, "period_open", "The period has not ended yet."),
      "GET /api/billing/subscriptions/01SUB/invoices": page([INVOICE]),
    });
    renderWith(client, <InvoicesPanel subscriptionId="01SUB" mayManage />);
    expect(screen.getByRole("button", { name: "Draft invoice for the current period" })).toBeTruthy();
    fireEvent.click(await screen.findByRole("button", { name: /View invoice/ }));
    fireEvent.click(screen.getByRole("button", { name: "Issue invoice" }));
    expect((await screen.findByRole("alert")).textContent).toContain("The period has not ended yet.");
    expect(screen.getByRole("button", { name: "Void invoice" })).toBeTruthy();
  });
});

describe("ledger panel", () => {
  const entry = (seq: number, type: string, amount: string, balance: string, reason = "") => ({
    subscription_id: "01SUB",
    seq,
    entry_id: `E${seq}`,
    type,
    amount,
    bucket: type === "top_up" ? "purchased" : "allowance",
    balance_after: balance,
    reference: "r",
    actor: type === "grant" ? "billing-period-close" : "local|admin",
    reason,
    created_at: "2026-11-01T00:00:00Z",
    allocation: null,
    overage_credits: null,
  });

  it("says it is loading, empty or refused", async () => {
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB/ledger": "pending" }).client, <LedgerPanel subscriptionId="01SUB" />);
    expect(screen.getByRole("status").textContent).toContain("Loading the ledger");
    cleanup();
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB/ledger": page([]) }).client, <LedgerPanel subscriptionId="01SUB" />);
    expect(await screen.findByText("No ledger entries yet.")).toBeTruthy();
    cleanup();
    renderWith(fakeClient({ "GET /api/billing/subscriptions/01SUB/ledger": refusal(404, "not_found", "No such subscription.") }).client, <LedgerPanel subscriptionId="01SUB" />);
    expect((await screen.findByRole("alert")).textContent).toContain("No such subscription.");
  });

  it("shows entries newest first, each type distinct, with amount, balance after, actor and reason", async () => {
    renderWith(
      fakeClient({
        "GET /api/billing/subscriptions/01SUB/ledger": page([
          entry(1, "grant", "1000", "1000", "Allowance"),
          entry(2, "usage", "-6", "994"),
          entry(3, "top_up", "500", "1494", "Goodwill"),
          entry(4, "expiry", "-994", "500"),
          entry(5, "reversal", "6", "506", "Recorded against the wrong lab"),
        ]),
      }).client,
      <LedgerPanel subscriptionId="01SUB" />,
    );
    const [reversal, ...items] = await screen.findAllByRole("listitem");
    expect(reversal?.textContent).toContain("Reversal +6 to allowance");
    expect(reversal?.textContent).toContain("Recorded against the wrong lab");
    expect(items.map((i) => i.getAttribute("data-type"))).toEqual(["expiry", "top_up", "usage", "grant"]);
    expect(items[3]?.textContent).toContain("+1,000");
    expect(items[1]?.textContent).toContain("Goodwill");
    expect(items[1]?.textContent).toContain("balance after 1,494");
    expect(items[0]?.textContent).toContain("Expiry");
    expect(items[0]?.textContent).toContain("−994");
    expect(screen.getByTestId("ledger-count").textContent).toContain("5 entries, newest first");
    expect(new Set([reversal, ...items].map((i) => i?.className)).size).toBe(5);
  });

  it("reads every page to the end, so the newest entry of a long ledger is at the top", async () => {
    const { client, calls } = fakeClient({
      "GET /api/billing/subscriptions/01SUB/ledger?limit=200&cursor=p2": page([entry(3, "void", "-500", "494", "Voided grant")]),
      "GET /api/billing/subscriptions/01SUB/ledger": page([entry(1, "grant", "1000", "1000"), entry(2, "top_up", "500", "1500")], "p2"),
    });
    renderWith(client, <LedgerPanel subscriptionId="01SUB" />);
    await waitFor(() => expect(screen.getAllByRole("listitem").map((i) => i.getAttribute("data-type"))).toEqual(["void", "top_up", "grant"]));
    expect(calls.filter((c) => c.includes("/ledger")).length).toBe(2);
  });

  it("stops after a bounded number of pages and offers to read on", async () => {
    const { client, calls } = fakeClient({
      "GET /api/billing/subscriptions/01SUB/ledger": page([entry(1, "grant", "1000", "1000")], "again"),
    });
    renderWith(client, <LedgerPanel subscriptionId="01SUB" />);
    expect(await screen.findByRole("button", { name: "Read on to the newest" })).toBeTruthy();
    expect(calls.filter((c) => c.includes("/ledger")).length).toBe(PAGES_AT_ONCE);
  });
});

describe("administration panel", () => {
  const base = {
    "GET /api/billing/subscriptions": page([SUBSCRIPTION]),
    "GET /api/billing/invoices?status=draft": page([INVOICE]),
    "GET /api/billing/plans": page([PLAN]),
  };

  it("says it is loading", () => {
    renderWith(fakeClient({}).client, <AdminPanel session={sessionFor("finance")} selected={null} onSelect={() => {}} refreshKey={0} onChanged={() => {}} />);
    // Unknown routes answer 404 at once; loading shows before they do.
    expect(screen.getAllByRole("status").length).toBeGreaterThan(0);
  });

  it("shows empty lists and refusals", async () => {
    renderWith(
      fakeClient({ "GET /api/billing/subscriptions": page([]), "GET /api/billing/invoices?status=draft": refusal(403, "residency_mismatch", "Your residency is eu.") }).client,
      <AdminPanel session={sessionFor("finance")} selected={null} onSelect={() => {}} refreshKey={0} onChanged={() => {}} />,
    );
    expect(await screen.findByText("No subscriptions match.")).toBeTruthy();
    expect((await screen.findByRole("alert")).textContent).toContain("Your residency is eu.");
  });

  it("gives finance subscriptions and drafts, but neither credits nor listings", async () => {
    const onSelect = vi.fn();
    renderWith(fakeClient(base).client, <AdminPanel session={sessionFor("finance")} selected={null} onSelect={onSelect} refreshKey={0} onChanged={() => {}} />);
    fireEvent.click(await screen.findByRole("button", { name: "Select org-lab" }));
    expect(onSelect).toHaveBeenCalledWith("01SUB");
    expect((await screen.findByTestId("draft-invoices")).textContent).toContain("$531.33");
    expect(screen.queryByRole("form", { name: "Change credits" })).toBeNull();
    expect(screen.queryByRole("button", { name: "New listing" })).toBeNull();
  });

  it("shows a listing's 422 at the field it names", async () => {
    const fields = [
      { field: "features.0.key", location: "body", message: "must not be empty" },
      { field: "base_fee_cents", location: "body", message: "must be at least 0" },
    ];
    const { client } = fakeClient({ ...base, "POST /api/billing/plans": refusal(422, "validation_error", "Invalid request.", { fields }) });
    renderWith(client, <AdminPanel session={sessionFor("marketplace:admin")} selected="01SUB" onSelect={() => {}} refreshKey={0} onChanged={() => {}} />);
    fireEvent.click(await screen.findByRole("button", { name: "New listing" }));
    fireEvent.click(screen.getByRole("button", { name: "Create listing" }));
    const keyError = await screen.findByText("must not be empty");
    expect(keyError.getAttribute("data-field")).toBe("features.0.key");
    expect(screen.getByLabelText("Base fee (cents)").getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText("must be at least 0")).toBeTruthy();
  });

  it("revises a listing with If-Match on the ETag it read, and archives one", async () => {
    const onChanged = vi.fn();
    const { client, calls } = fakeClient({
      ...base,
      "GET /api/billing/plans/lab-standard": { body: PLAN, headers: { ETag: '"1"' } },
      "PUT /api/billing/plans/lab-standard": { body: { ...PLAN, version: 2 } },
      "POST /api/billing/plans/lab-standard/archive": { body: { ...PLAN, status: "archived" } },
    });
    const revise = vi.spyOn(client, "revisePlan");
    renderWith(client, <AdminPanel session={sessionFor("marketplace:admin")} selected={null} onSelect={() => {}} refreshKey={0} onChanged={onChanged} />);
    fireEvent.click(await screen.findByRole("button", { name: "Revise Lab Standard" }));
    const form = await screen.findByRole("form", { name: "Revise Lab Standard" });
    expect((within(form).getByLabelText("Plan id (slug)") as HTMLInputElement).disabled).toBe(true);
    fireEvent.change(within(form).getByLabelText("Base fee (cents)"), { target: { value: "59900" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save revision" }));
    await waitFor(() => expect(revise).toHaveBeenCalled());
    const [planId, terms, etag] = revise.mock.calls[0]!;
    expect([planId, etag, terms.base_fee_cents, terms.credit_allowance]).toEqual(["lab-standard", '"1"', 59900, "1000"]);
    expect(terms.features?.[0]).toEqual({ key: "seats", label: "Team seats", included: true, limit: 25 });
    expect(await screen.findByText(/Saved Lab Standard as version 2/)).toBeTruthy();
    fireEvent.click(await screen.findByRole("button", { name: "Archive Lab Standard" }));
    expect(calls).not.toContain("POST /api/billing/plans/lab-standard/archive"); // not before it is confirmed
    const confirm = screen.getByRole("group", { name: "Archive Lab Standard?" });
    expect(confirm.textContent).toContain("existing subscribers keep version 1");
    fireEvent.click(within(confirm).getByRole("button", { name: "Confirm archive" }));
    await waitFor(() => expect(calls).toContain("POST /api/billing/plans/lab-standard/archive"));
    expect(await screen.findByText(/Archived Lab Standard: it left the catalog/)).toBeTruthy();
    expect(onChanged).toHaveBeenCalledTimes(2);
  });

  it("shows a 412 when the listing moved on since it was read, with a Reload", async () => {
    const { client, calls } = fakeClient({
      ...base,
      "GET /api/billing/plans/lab-standard": { body: PLAN, headers: { ETag: '"1"' } },
      "PUT /api/billing/plans/lab-standard": refusal(412, "precondition_failed", "The plan is at version 2 now; reload it."),
    });
    renderWith(client, <AdminPanel session={sessionFor("marketplace:admin")} selected={null} onSelect={() => {}} refreshKey={0} onChanged={() => {}} />);
    fireEvent.click(await screen.findByRole("button", { name: "Revise Lab Standard" }));
    fireEvent.click(await screen.findByRole("button", { name: "Save revision" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Someone changed this plan since you opened it");
    const reads = calls.filter((c) => c === "GET /api/billing/plans/lab-standard").length;
    fireEvent.click(within(alert).getByRole("button", { name: "Reload" }));
    await waitFor(() => expect(calls.filter((c) => c === "GET /api/billing/plans/lab-standard").length).toBe(reads + 1));
    await waitFor(() => expect(screen.queryByRole("alert")).toBeNull()); // the form starts again from the current version
  });

  it("tops up credits for the selected subscription with a reason", async () => {
    const onChanged = vi.fn();
    const { client } = fakeClient({
      ...base,
      "POST /api/billing/subscriptions/01SUB/credits": { status: 201, body: { type: "top_up", amount: "500", balance_after: "1500" } },
    });
    const change = vi.spyOn(client, "changeCredits");
    renderWith(client, <AdminPanel session={sessionFor("marketplace:admin")} selected="01SUB" onSelect={() => {}} refreshKey={0} onChanged={onChanged} />);
    const form = await screen.findByRole("form", { name: "Change credits" });
    fireEvent.change(within(form).getByLabelText("Amount (credits)"), { target: { value: "500" } });
    fireEvent.change(within(form).getByLabelText("Reason"), { target: { value: "Goodwill" } });
    fireEvent.click(within(form).getByRole("button", { name: "Apply" }));
    expect(await screen.findByText(/Recorded top-up of 500 credits; balance 1,500/)).toBeTruthy();
    expect(change.mock.calls[0]?.[1]).toMatchObject({ type: "top_up", amount: "500", reason: "Goodwill", price_cents: null });
    expect(onChanged).toHaveBeenCalled();
  });
});

describe("archived listings", () => {
  const base = {
    "GET /api/billing/plans?": { body: { items: [PLAN], next_cursor: null } },
    "GET /api/billing/invoices": { body: { items: [], next_cursor: null } },
  };
  const open = async () => {
    const details = await screen.findByTestId("archived-listings");
    (details as HTMLDetailsElement).open = true;
    fireEvent(details, new Event("toggle"));
    return details;
  };

  it("lists the archived plans that subscriptions are on, only once opened", async () => {
    const { client, calls } = fakeClient({
      ...base,
      "GET /api/billing/subscriptions?": { body: { items: [SUBSCRIPTION, { ...SUBSCRIPTION, subscription_id: "02", plan_id: "lab-legacy" }], next_cursor: null } },
      "GET /api/billing/plans/lab-legacy": { body: { ...PLAN, plan_id: "lab-legacy", name: "Lab Legacy", status: "archived", version: 3 } },
    });
    renderWith(client, <AdminPanel session={sessionFor("marketplace:admin")} selected={null} onSelect={() => {}} refreshKey={0} onChanged={() => {}} />);
    await screen.findByTestId("listing-lab-standard");
    expect(calls.some((c) => c.startsWith("GET /api/billing/plans/lab-legacy"))).toBe(false);
    const details = await open();
    await waitFor(() => expect(details.textContent).toContain("Lab Legacy"));
    expect(details.textContent).toContain("lab-legacy v3, archived");
    expect(details.textContent).not.toContain("Lab Standard");
  });

  it("says when no subscription is on an archived plan, and shows a refusal", async () => {
    const { client } = fakeClient({ ...base, "GET /api/billing/subscriptions?": { body: { items: [SUBSCRIPTION], next_cursor: null } } });
    const view = renderWith(client, <AdminPanel session={sessionFor("marketplace:admin")} selected={null} onSelect={() => {}} refreshKey={0} onChanged={() => {}} />);
    await screen.findByTestId("listing-lab-standard");
    const details = await open();
    await waitFor(() => expect(details.textContent).toContain("No subscription is on an archived plan."));
    view.unmount();
    const refused = fakeClient({ ...base, "GET /api/billing/subscriptions?": refusal(403, "forbidden", "Finance and staff only.") });
    renderWith(refused.client, <AdminPanel session={sessionFor("marketplace:admin")} selected={null} onSelect={() => {}} refreshKey={0} onChanged={() => {}} />);
    await screen.findByTestId("listing-lab-standard");
    const again = await open();
    await waitFor(() => expect(again.textContent).toContain("Finance and staff only."));
  });
});
