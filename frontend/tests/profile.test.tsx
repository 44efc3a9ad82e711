import { act, cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { BillingProfilePanel, profileRequest } from "../components/BillingProfilePanel";
import { fakeClient, refusal, renderWith } from "./support";

const PATH = "/api/billing/organizations/org-lab/billing-profile";
const PROFILE = {
  organization_id: "org-lab",
  legal_name: "Łódź Labs 株式会社",
  email: "ap@lodz.example",
  address: { line1: "Bahnhofstrasse 1", line2: null, city: "Zürich", postal_code: "8001", region: null, country: "CH" },
  tax_id: "CHE-123",
  net_terms_days: 14,
  updated_at: "2026-12-04T10:00:00Z",
};

afterEach(cleanup);

describe("billing profile panel", () => {
  it("says it is loading", () => {
    renderWith(fakeClient({ [`GET ${PATH}`]: "pending" }).client, <BillingProfilePanel organizationId="org-lab" mayEdit />);
    expect(screen.getByRole("status").textContent).toContain("Loading the billing profile");
  });

  it("offers an org admin to add one when there is none (404), and a member only says so", async () => {
    const none = refusal(404, "not_found", "No billing profile.");
    renderWith(fakeClient({ [`GET ${PATH}`]: none }).client, <BillingProfilePanel organizationId="org-lab" mayEdit={false} />);
    expect((await screen.findByText(/No billing profile yet/)).textContent).not.toContain("Add one");
    expect(screen.queryByRole("button", { name: "Add billing profile" })).toBeNull();
    cleanup();
    renderWith(fakeClient({ [`GET ${PATH}`]: none }).client, <BillingProfilePanel organizationId="org-lab" mayEdit />);
    expect(await screen.findByRole("button", { name: "Add billing profile" })).toBeTruthy();
  });

  it("shows another refusal with its message", async () => {
    renderWith(fakeClient({ [`GET ${PATH}`]: refusal(403, "residency_mismatch", "The profile is kept in eu.") }).client, <BillingProfilePanel organizationId="org-lab" mayEdit />);
    expect((await screen.findByRole("alert")).textContent).toContain("The profile is kept in eu.");
  });

  it("shows the profile, edits it, shows a 422 at its field, then saves", async () => {
    const { client, calls } = fakeClient({
      [`GET ${PATH}`]: { body: PROFILE },
      [`PUT ${PATH}`]: refusal(422, "validation_error", "Invalid request.", {
        fields: [{ field: "address.country", location: "body", message: "must be an ISO 3166-1 alpha-2 country code" }],
      }),
    });
    renderWith(client, <BillingProfilePanel organizationId="org-lab" mayEdit />);
    expect((await screen.findByTestId("billing-profile")).textContent).toContain("Łódź Labs 株式会社 · ap@lodz.example");
    expect(screen.getByTestId("billing-profile").textContent).toContain("Bahnhofstrasse 1, 8001 Zürich, CH");
    expect(screen.getByTestId("billing-profile").textContent).toContain("payment due 14 days after issue");
    fireEvent.click(screen.getByRole("button", { name: "Edit" }));
    fireEvent.change(screen.getByLabelText("Country (ISO code, e.g. CH)"), { target: { value: "xx" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Save profile" })));
    await waitFor(() => expect(screen.getByText("must be an ISO 3166-1 alpha-2 country code")).toBeTruthy());
    expect(calls).toContain(`PUT ${PATH}`);
  });

  it("sends what was typed: optional parts left blank are null, the country upper-cased, days a number", () => {
    const request = profileRequest({
      legal_name: " Acme ",
      email: "a@b.example",
      line1: "1 Main St",
      line2: " ",
      city: "Springfield",
      postal_code: "12345",
      region: "",
      country: "us",
      tax_id: "",
      net_terms_days: "45",
    });
    expect(request).toEqual({
      legal_name: "Acme",
      email: "a@b.example",
      address: { line1: "1 Main St", line2: null, city: "Springfield", postal_code: "12345", region: null, country: "US" },
      tax_id: null,
      net_terms_days: 45,
    });
  });
});
