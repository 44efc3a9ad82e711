import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { PlansPanel } from "../components/PlansPanel";
import type { Subscription } from "../lib/api";
import { fakeClient, page, PLAN, refusal, renderWith, sessionFor, SHORT_PERIOD_DRAFT, SUBSCRIPTION } from "./support";

afterEach(cleanup);
const own = SUBSCRIPTION as unknown as Subscription;
const PRO = { ...PLAN, plan_id: "lab-pro", name: "Lab Pro", base_fee_cents: 149_900, credit_allowance: "5000" };
const PREMIUM = { ...PRO, plan_id: "lab-premium", name: "Lab Premium", sla: { ...PLAN.sla, tier: "premium" } };
const CLOSING = SHORT_PERIOD_DRAFT;
const next = (start: string) => ({ period_start: start, period_end: "2026-12-11T00:00:00Z", plan_id: "lab-pro", plan_version: 1, base_fee_cents: 149_900, credit_allowance: "5000" });
const CHANGE = "POST /api/billing/subscriptions/01SUB/plan-change";

/** The JSON bodies sent to `POST .../plan-change`, in order. */
const bodiesOf = (sent: { call: string; body: Record<string, unknown> }[]) => sent.filter((s) => s.call === CHANGE).map((s) => s.body);

/** A client answering the catalog, and the preview or the change from `answers` (by the body). */
function planChangeClient(answers: { preview?: (body: Record<string, unknown>) => { status?: number; body: unknown }; change?: () => { status?: number; body: unknown } }) {
  return fakeClient({
    "GET /api/billing/plans?": page([PLAN, PRO, PREMIUM]),
    "GET /api/billing/plans/lab-pro?version=1": { body: PRO },
    "GET /api/billing/plans/lab-standard?version=1": { body: PLAN },
    [CHANGE]: (body) => (body.preview ? answers.preview?.(body) : answers.change?.()) ?? "pending",
  });
}

function renderPlans(client: Parameters<typeof renderWith>[0], role: "org:admin" | "org:member" = "org:admin", subscription: Subscription = own, onChanged = () => {}) {
  return renderWith(client, <PlansPanel session={sessionFor(role, "org-lab")} hasSubscription onSubscribed={() => {}} subscription={subscription} onChanged={onChanged} />);
}

describe("plan change", () => {
  it("is offered on every other plan's card to an org admin, never on its own plan nor to a member", async () => {
    const { client } = planChangeClient({});
    renderPlans(client);
    await screen.findByTestId("plan-lab-pro");
    expect(within(screen.getByTestId("plan-lab-pro")).getByRole("button", { name: "Change to this plan" })).toBeTruthy();
    expect(within(screen.getByTestId("plan-lab-premium")).getByRole("button", { name: "Change to this plan" })).toBeTruthy();
    expect(within(screen.getByTestId("plan-lab-standard")).queryByRole("button", { name: "Change to this plan" })).toBeNull();
    cleanup();
    renderPlans(planChangeClient({}).client, "org:member");
    await screen.findByTestId("plan-lab-pro");
    expect(screen.queryByRole("button", { name: "Change to this plan" })).toBeNull();
  });

  it("previews a change at the period's end (nothing billed now, the next period's cost), loading first", async () => {
    const { client, sent } = planChangeClient({ preview: () => ({ body: { closing_invoice: null, next_period: next("2026-12-01T00:00:00Z") } }) });
    renderPlans(client);
    fireEvent.click(within(await screen.findByTestId("plan-lab-pro")).getByRole("button", { name: "Change to this plan" }));
    const form = screen.getByRole("form", { name: "Change to Lab Pro" });
    expect(within(form).getByRole("status").textContent).toContain("Loading what the change bills");
    expect(within(form).getByRole("button", { name: "Confirm" })).toHaveProperty("disabled", true);
    await within(form).findByTestId("plan-change-preview");
    expect(within(form).getByTestId("closing-none").textContent).toContain("Nothing is billed now");
    expect(within(form).getByTestId("next-base-fee").textContent).toBe("$1,499.00");
    expect(within(form).getByTestId("next-allowance").textContent).toBe("5,000");
    expect(within(form).getByTestId("next-period").textContent).toContain("From 2026-12-01 to 2026-12-11");
    expect(bodiesOf(sent)[0]).toMatchObject({ plan_id: "lab-pro", effective: "period_end", preview: true });
    expect(bodiesOf(sent)[0]?.sla_acceptance).toBeUndefined(); // same tier and version: none asked
  });

  it("previews a change now with the invoice it drafts, then confirms with one key kept across a retry", async () => {
    let changes = 0;
    let changed = 0;
    const { client, sent } = planChangeClient({
      preview: (body) => ({ body: { closing_invoice: body.effective === "now" ? CLOSING : null, next_period: next(body.effective === "now" ? "2026-11-11T00:00:00Z" : "2026-12-01T00:00:00Z") } }),
      change: () => (++changes === 1 ? refusal(409, "idempotency_in_progress", "In progress.") : { body: { ...SUBSCRIPTION, plan_id: "lab-pro" } }),
    });
    renderPlans(client, "org:admin", own, () => (changed += 1));
    fireEvent.click(within(await screen.findByTestId("plan-lab-pro")).getByRole("button", { name: "Change to this plan" }));
    const form = screen.getByRole("form", { name: "Change to Lab Pro" });
    fireEvent.click(within(form).getByLabelText(/^Now/));
    expect(await within(form).findByTestId("closing-total")).toBeTruthy();
    expect(within(form).getByTestId("closing-total").textContent).toBe("$166.33");
    expect(within(form).getByText("Lab Standard base fee, prorated 10 of 30 days")).toBeTruthy();
    fireEvent.click(within(form).getByRole("button", { name: "Confirm" }));
    expect((await within(form).findByRole("alert")).textContent).toContain("still being processed");
    fireEvent.click(within(form).getByRole("button", { name: "Confirm" }));
    await waitFor(() => expect(changed).toBe(1));
    const [first, second] = bodiesOf(sent).filter((b) => !b.preview);
    expect(first).toMatchObject({ plan_id: "lab-pro", effective: "now" });
    expect(second?.idempotency_key).toBe(first?.idempotency_key);
    const previewKeys = bodiesOf(sent).filter((b) => b.preview).map((b) => b.idempotency_key);
    expect(previewKeys).not.toContain(first?.idempotency_key);
    expect(screen.queryByRole("form", { name: "Change to Lab Pro" })).toBeNull();
  });

  it("asks for the SLA when the target's tier differs, and sends the acceptance", async () => {
    let changed = 0;
    const { client, sent } = planChangeClient({
      preview: () => ({ body: { closing_invoice: null, next_period: { ...next("2026-12-01T00:00:00Z"), plan_id: "lab-premium" } } }),
      change: () => ({ body: { ...SUBSCRIPTION, pending_plan_change: { plan_id: "lab-premium", plan_version: 1, effective_at: "2026-12-01T00:00:00Z" } } }),
    });
    renderPlans(client, "org:admin", own, () => (changed += 1));
    fireEvent.click(within(await screen.findByTestId("plan-lab-premium")).getByRole("button", { name: "Change to this plan" }));
    const form = screen.getByRole("form", { name: "Change to Lab Premium" });
    await within(form).findByTestId("plan-change-preview");
    const confirm = within(form).getByRole("button", { name: "Confirm" });
    expect(confirm).toHaveProperty("disabled", true);
    fireEvent.click(within(form).getByLabelText(/I accept the premium SLA/));
    fireEvent.click(confirm);
    await waitFor(() => expect(changed).toBe(1));
    const change = bodiesOf(sent).find((b) => !b.preview);
    expect(change?.sla_acceptance).toEqual({ accepted_by: "test|org:admin", sla_version: "premium@1" });
  });

  it("asks for the SLA when the tier is the same but its terms are not the current plan's", async () => {
    const faster = { ...PRO, plan_id: "lab-fast", name: "Lab Fast", sla: { ...PLAN.sla, response_time_hours: "2" } };
    const { client, sent } = fakeClient({
      "GET /api/billing/plans?": page([PLAN, PRO, faster]),
      "GET /api/billing/plans/lab-standard?version=1": { body: PLAN },
      [CHANGE]: () => ({ body: { closing_invoice: null, next_period: next("2026-12-01T00:00:00Z") } }),
    });
    renderPlans(client);
    fireEvent.click(within(await screen.findByTestId("plan-lab-fast")).getByRole("button", { name: "Change to this plan" }));
    expect(await within(screen.getByRole("form", { name: "Change to Lab Fast" })).findByLabelText(/I accept the standard SLA/)).toBeTruthy();
    await waitFor(() => expect(bodiesOf(sent).at(-1)?.sla_acceptance).toBeTruthy());
    fireEvent.click(within(screen.getByTestId("plan-lab-pro")).getByRole("button", { name: "Change to this plan" }));
    await within(screen.getByRole("form", { name: "Change to Lab Pro" })).findByTestId("plan-change-preview");
    expect(within(screen.getByRole("form", { name: "Change to Lab Pro" })).queryByLabelText(/I accept/)).toBeNull(); // the same SLA carries over
  });

  it("shows the API's refusal of a preview as a sentence, and a 422 for the SLA brings up its acceptance", async () => {
    const { client } = planChangeClient({
      preview: (body) =>
        body.sla_acceptance
          ? refusal(409, "plan_archived", "Lab Pro is archived and takes no new subscriptions.")
          : refusal(422, "validation_error", "Invalid request.", { fields: [{ field: "sla_acceptance", location: "body", message: "Accept the SLA of the new plan." }] }),
    });
    renderPlans(client);
    fireEvent.click(within(await screen.findByTestId("plan-lab-pro")).getByRole("button", { name: "Change to this plan" }));
    const form = screen.getByRole("form", { name: "Change to Lab Pro" });
    expect(await within(form).findByLabelText(/I accept the standard SLA/)).toBeTruthy();
    await waitFor(() => expect(within(form).getByRole("alert").textContent).toContain("This plan has been archived"));
    expect(within(form).getByRole("alert").textContent).toContain("plan_archived");
  });
});

describe("a pending plan change", () => {
  const pending = { ...SUBSCRIPTION, pending_plan_change: { plan_id: "lab-pro", plan_version: 1, effective_at: "2026-12-01T00:00:00Z" } } as unknown as Subscription;

  it("is shown with Keep current plan for an org admin, which drops it", async () => {
    let changed = 0;
    const { client, calls } = fakeClient({
      "GET /api/billing/plans?": page([PLAN, PRO]),
      "GET /api/billing/plans/lab-pro?version=1": { body: PRO },
      "GET /api/billing/plans/lab-standard?version=1": { body: PLAN },
      "DELETE /api/billing/subscriptions/01SUB/plan-change": { body: SUBSCRIPTION },
    });
    renderPlans(client, "org:admin", pending, () => (changed += 1));
    const notice = await screen.findByTestId("pending-plan-change");
    await waitFor(() => expect(notice.textContent).toContain("Changes to Lab Pro (version 1) on 2026-12-01 00:00 UTC"));
    expect(notice.textContent).toContain("$1,499.00 base fee, 5,000 credits of allowance");
    expect(within(screen.getByTestId("plan-lab-pro")).queryByRole("button", { name: "Change to this plan" })).toBeNull();
    expect(within(screen.getByTestId("plan-lab-pro")).getByTestId("pending-lab-pro")).toBeTruthy();
    fireEvent.click(within(notice).getByRole("button", { name: "Keep current plan" }));
    await waitFor(() => expect(changed).toBe(1));
    expect(calls).toContain("DELETE /api/billing/subscriptions/01SUB/plan-change");
  });

  it("shows a refused Keep current plan, and offers it to no member", async () => {
    const { client } = fakeClient({
      "GET /api/billing/plans?": page([PLAN, PRO]),
      "GET /api/billing/plans/lab-pro?version=1": { body: PRO },
      "GET /api/billing/plans/lab-standard?version=1": { body: PLAN },
      "DELETE /api/billing/subscriptions/01SUB/plan-change": refusal(409, "no_pending_plan_change", "This subscription has no pending plan change."),
    });
    renderPlans(client, "org:admin", pending);
    fireEvent.click(within(await screen.findByTestId("pending-plan-change")).getByRole("button", { name: "Keep current plan" }));
    expect((await screen.findByRole("alert")).textContent).toContain("no pending plan change");
    cleanup();
    renderPlans(client, "org:member", pending);
    expect(await screen.findByTestId("pending-plan-change")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Keep current plan" })).toBeNull();
  });
});
