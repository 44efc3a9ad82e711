import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { EventTable } from "../components/UsagePanel";
import { dailyFromEvents } from "../lib/usage";
import type { UsageEvent } from "../lib/api";
import { fakeClient, page, refusal, renderWith, USAGE_EVENT } from "./support";

afterEach(cleanup);
const EVENT = USAGE_EVENT;
const VOIDED = { ...EVENT, event_id: "01OLD", status: "voided", voided_at: "2026-11-21T08:00:00Z", void_reason: "Sized twice", replaced_by: null };
const LIST = "GET /api/billing/subscriptions/01SUB/usage?";

describe("usage corrections", () => {
  it("shows a voided event struck, with when and why, and offers nothing on it; a reader gets no actions", async () => {
    const { client } = fakeClient({ [LIST]: page([EVENT, VOIDED]) });
    renderWith(client, <EventTable subscriptionId="01SUB" mayCorrect />);
    const row = await screen.findByTestId("usage-01OLD");
    expect(row.getAttribute("data-status")).toBe("voided");
    expect([...row.querySelectorAll("del")].map((d) => d.textContent)).toEqual(["planner", "3 finalizations", "6", "2"]);
    expect(within(row).getByTestId("void-note-01OLD").textContent).toBe("Voided 2026-11-21 08:00 UTC: Sized twice");
    expect(within(row).queryByRole("button")).toBeNull();
    expect(within(screen.getByTestId("usage-01EV")).getAllByRole("button").map((b) => b.textContent)).toEqual(["Void", "Amend"]);
    cleanup();
    renderWith(client, <EventTable subscriptionId="01SUB" />);
    await screen.findByTestId("usage-01OLD");
    expect(screen.queryByRole("button", { name: /^Void|^Amend/ })).toBeNull();
  });

  it("voids after a confirmation with a required reason, then says what it did and reloads", async () => {
    let changed = 0;
    const { client, calls, sent } = fakeClient({
      [LIST]: page([EVENT]),
      "POST /api/billing/usage/01EV/void": { body: { ...EVENT, status: "voided", voided_at: "2026-11-21T08:00:00Z", void_reason: "Sized twice" } },
    });
    renderWith(client, <EventTable subscriptionId="01SUB" mayCorrect onChanged={() => (changed += 1)} />);
    fireEvent.click(await screen.findByRole("button", { name: "Void planner usage of 3 finalizations on 2026-11-20 10:00 UTC" }));
    const form = screen.getByRole("form", { name: "Void usage event" });
    expect(screen.getByTestId("usage-01EV").className).toBe("selected"); // the row being corrected stands out
    expect(form.textContent).toContain("Its 4 debited credits go back to the grants they came from and its 2 overage credits leave the period");
    const confirm = within(form).getByRole("button", { name: "Confirm void" });
    expect(confirm).toHaveProperty("disabled", true); // no reason yet
    expect(calls.filter((c) => c.startsWith("POST"))).toEqual([]);
    fireEvent.change(within(form).getByLabelText("Reason"), { target: { value: "  Sized twice " } });
    fireEvent.click(confirm);
    expect((await screen.findByTestId("usage-corrected")).textContent).toBe(
      "Voided the planner usage of 3 finalizations on 2026-11-20 10:00 UTC: 4 credits went back to the grants they came from.",
    );
    expect(changed).toBe(1);
    expect(sent[0]?.body).toMatchObject({ reason: "Sized twice" });
    expect(String(sent[0]?.body.idempotency_key)).toMatch(/^usage-void-/);
    expect(screen.queryByRole("form", { name: "Void usage event" })).toBeNull();
    await waitFor(() => expect(calls.filter((c) => c.startsWith(LIST)).length).toBe(2));
  });

  it("explains a period already invoiced (a credit note, naming the invoice) and keeps the key for a retry of the same intent only", async () => {
    const { client, sent } = fakeClient({
      [LIST]: page([EVENT]),
      "POST /api/billing/usage/01EV/void": refusal(409, "period_invoiced", "The event's period is invoiced.", { invoice_id: "01INV", number: "INV-000007" }),
    });
    renderWith(client, <EventTable subscriptionId="01SUB" mayCorrect />);
    fireEvent.click(await screen.findByRole("button", { name: /^Void planner/ }));
    const form = screen.getByRole("form", { name: "Void usage event" });
    fireEvent.change(within(form).getByLabelText("Reason"), { target: { value: "Test run" } });
    fireEvent.click(within(form).getByRole("button", { name: "Confirm void" }));
    const alert = await within(form).findByRole("alert");
    expect(alert.textContent).toContain("This usage is billed on INV-000007, which is issued and never changes. Correct it with a credit note on INV-000007 instead.");
    fireEvent.click(within(form).getByRole("button", { name: "Confirm void" }));
    await waitFor(() => expect(sent.length).toBe(2));
    fireEvent.change(within(form).getByLabelText("Reason"), { target: { value: "Another reason" } });
    fireEvent.click(within(form).getByRole("button", { name: "Confirm void" }));
    await waitFor(() => expect(sent.length).toBe(3));
    const [first, retry, other] = sent.map((s) => s.body.idempotency_key);
    expect(retry).toBe(first);
    expect(other).not.toBe(first);
  });

  it("amends with a new quantity and a reason; a 422 lands at its field", async () => {
    const { client, sent } = fakeClient({
      [LIST]: page([EVENT]),
      "POST /api/billing/usage/01EV/amend": (body) =>
        body.quantity === "-1"
          ? refusal(422, "validation_error", "Invalid request: quantity.", { fields: [{ field: "quantity", location: "body", message: "must be greater than 0" }] })
          : { status: 201, body: { ...EVENT, event_id: "01NEW", quantity: "2", credits: "4", replaces: "01EV" } },
    });
    renderWith(client, <EventTable subscriptionId="01SUB" mayCorrect />);
    fireEvent.click(await screen.findByRole("button", { name: /^Amend planner/ }));
    const form = screen.getByRole("form", { name: "Amend usage event" });
    expect((within(form).getByLabelText("New quantity (finalizations)") as HTMLInputElement).value).toBe("3");
    fireEvent.change(within(form).getByLabelText("New quantity (finalizations)"), { target: { value: "-1" } });
    fireEvent.change(within(form).getByLabelText("Reason"), { target: { value: "Sized twice" } });
    fireEvent.click(within(form).getByRole("button", { name: "Confirm amendment" }));
    expect((await within(form).findByText("must be greater than 0")).getAttribute("data-field")).toBe("quantity");
    fireEvent.change(within(form).getByLabelText("New quantity (finalizations)"), { target: { value: "2" } });
    fireEvent.click(within(form).getByRole("button", { name: "Confirm amendment" }));
    expect((await screen.findByTestId("usage-corrected")).textContent).toBe(
      "Amended the planner usage of 3 finalizations on 2026-11-20 10:00 UTC to 2 finalizations: the new event is charged 4 credits.",
    );
    expect(sent.map((s) => s.body.quantity)).toEqual(["-1", "2"]);
    expect(sent[1]?.body.idempotency_key).not.toBe(sent[0]?.body.idempotency_key);
  });

  it("says it is loading and shows a refused list", async () => {
    renderWith(fakeClient({ [LIST]: "pending" }).client, <EventTable subscriptionId="01SUB" mayCorrect />);
    expect(screen.getByRole("status").textContent).toBe("Loading usage events…");
    cleanup();
    renderWith(fakeClient({ [LIST]: refusal(403, "forbidden", "Reading usage needs the usage:read permission.") }).client, <EventTable subscriptionId="01SUB" mayCorrect />);
    expect((await screen.findByRole("alert")).textContent).toContain("usage:read");
    cleanup();
    renderWith(fakeClient({ [LIST]: page([]) }).client, <EventTable subscriptionId="01SUB" mayCorrect />);
    expect(await screen.findByText("No usage events yet.")).toBeTruthy();
  });

  it("leaves voided events out of the chart's daily sums", () => {
    const days = dailyFromEvents([EVENT, VOIDED] as unknown as UsageEvent[]);
    expect(days).toEqual([{ day: "2026-11-20", services: { planner: { quantity: "3", credits: "6", overage_credits: "2", events: 1 } } }]);
  });
});
