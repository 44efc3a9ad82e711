import { act, cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { CreditNotes } from "../components/CreditNotes";
import { minorUnitsOrAsTyped } from "../lib/input";
import { fakeClient, INVOICE, refusal, renderWith } from "./support";

const ISSUED = { ...INVOICE, number: "INV-000007", status: "issued", issued_at: "2026-12-02T09:00:00Z", credited_cents: 0, amount_due_cents: 53133 };
const NOTES = "/api/billing/subscriptions/01SUB/invoices/01INV/credit-notes";
const NOTE = {
  credit_note_id: "01CN",
  invoice_id: "01INV",
  invoice_number: "INV-000007",
  subscription_id: "01SUB",
  organization_id: "org-lab",
  number: "CN-000003",
  currency: "USD",
  lines: [{ line: 1, description: "planner overage", amount_cents: 1000 }],
  total_cents: 1000,
  reason: "Mis-sized run",
  credits_granted: "50",
  grant_id: "01G",
  created_at: "2026-12-03T10:00:00Z",
};

afterEach(cleanup);
const none = async (_message: string) => undefined;

describe("credit notes", () => {
  it("are only for issued invoices", () => {
    const { container } = renderWith(fakeClient({}).client, <CreditNotes invoice={INVOICE as never} mayIssue onIssued={none} />);
    expect(container.textContent).toBe("");
  });

  it("say they are loading, then that there are none", async () => {
    renderWith(fakeClient({ [`GET ${NOTES}`]: "pending" }).client, <CreditNotes invoice={ISSUED as never} mayIssue={false} onIssued={none} />);
    expect(screen.getByRole("status").textContent).toContain("Loading credit notes");
    cleanup();
    renderWith(fakeClient({ [`GET ${NOTES}`]: { body: { items: [], next_cursor: null } } }).client, <CreditNotes invoice={ISSUED as never} mayIssue={false} onIssued={none} />);
    expect(await screen.findByText(/None: this invoice is as issued/)).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Credit note…" })).toBeNull(); // readers issue none
  });

  it("show a refusal to list them", async () => {
    renderWith(fakeClient({ [`GET ${NOTES}`]: refusal(403, "residency_mismatch", "Kept in eu.") }).client, <CreditNotes invoice={ISSUED as never} mayIssue onIssued={none} />);
    expect((await screen.findByRole("alert")).textContent).toContain("Kept in eu.");
  });

  it("lists notes and lets finance issue one per line in dollars, showing the API's refusal at its line", async () => {
    const { client, calls } = fakeClient({
      [`GET ${NOTES}`]: { body: { items: [NOTE], next_cursor: null } },
      [`POST ${NOTES}`]: refusal(422, "validation_error", "Invalid request.", {
        fields: [{ field: "lines.0.amount_cents", location: "body", message: "gives back more than the line billed" }],
      }),
    });
    renderWith(client, <CreditNotes invoice={ISSUED as never} mayIssue onIssued={none} />);
    expect((await screen.findByTestId("credit-note-list")).textContent).toContain("CN-000003 · −$10.00 · Mis-sized run · 50 credits granted");
    fireEvent.click(screen.getByRole("button", { name: "Credit note…" }));
    fireEvent.change(screen.getByLabelText(/planner overage \(billed \$32\.33\)/), { target: { value: "40.00" } });
    fireEvent.change(screen.getByLabelText("Reason"), { target: { value: "Mis-sized run" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Issue credit note" })));
    // The request's first line was the invoice's second: the message stands at the invoice's line.
    await waitFor(() => expect(screen.getByText("gives back more than the line billed").getAttribute("data-field")).toBe("lines.1"));
    expect(calls).toContain(`POST ${NOTES}`);
  });
});

describe("money typed in major units", () => {
  it("becomes exact minor units, or stays as typed for the API to refuse", () => {
    expect(minorUnitsOrAsTyped("12.34", 2)).toBe(1234);
    expect(minorUnitsOrAsTyped("12.3", 2)).toBe(1230);
    expect(minorUnitsOrAsTyped("0.07", 2)).toBe(7);
    expect(minorUnitsOrAsTyped("100", 0)).toBe(100);
    expect(minorUnitsOrAsTyped("1.5", 0)).toBe("1.5");
    expect(minorUnitsOrAsTyped("1.234", 2)).toBe("1.234");
    expect(minorUnitsOrAsTyped("-5", 2)).toBe("-5");
    expect(minorUnitsOrAsTyped("99999999999999999", 2)).toBe("99999999999999999");
  });
});
