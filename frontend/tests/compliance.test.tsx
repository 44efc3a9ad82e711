import { act, cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CompliancePanel } from "../components/CompliancePanel";
import { fakeClient, refusal, renderWith } from "./support";

const REPORT = "GET /api/billing/analytics/guardrails?";
const group = (over: Record<string, unknown>) => ({
  day: null,
  week: null,
  month: null,
  organization_id: null,
  service: null,
  events: 0,
  flagged_events: 0,
  flag_rate: "0",
  flags: {},
  escalation_codes: {},
  credits: "0",
  flagged_credits: "0",
  ...over,
});
const DAYS = {
  items: [
    group({ day: "2026-12-03", events: 4, flagged_events: 2, flag_rate: "0.5", flags: { door_open: 1, drift: 1 }, escalation_codes: { "ESC-17": 1 } }),
    group({ day: "2026-12-04", events: 6, flagged_events: 1, flag_rate: "0.166667", flags: { drift: 1 } }),
  ],
  next_cursor: null,
  as_of: "2026-12-04T23:05:33.007Z",
};

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe("compliance panel", () => {
  it("says it is loading", () => {
    renderWith(fakeClient({ [REPORT]: "pending" }).client, <CompliancePanel organizationId="org-lab" acrossOrganizations={false} />);
    expect(screen.getByRole("status").textContent).toContain("Loading compliance analytics");
  });

  it("says when nothing was recorded", async () => {
    renderWith(fakeClient({ [REPORT]: { body: { items: [], next_cursor: null, as_of: null } } }).client, <CompliancePanel organizationId="org-lab" acrossOrganizations={false} />);
    expect(await screen.findByText(/No usage in these 30 days/)).toBeTruthy();
  });

  it("shows the API's refusal", async () => {
    renderWith(
      fakeClient({ [REPORT]: refusal(403, "residency_mismatch", "Your residency is us, not eu.") }).client,
      <CompliancePanel organizationId={null} acrossOrganizations />,
    );
    expect((await screen.findAllByRole("alert"))[0]?.textContent).toContain("Your residency is us, not eu.");
  });

  it("shows an organization its own flag rate per day, top flags and codes, and exports CSV", async () => {
    const { client, calls } = fakeClient({ [REPORT]: { body: DAYS }, "GET /api/billing/analytics/guardrails/export?": { body: "day,events" } });
    Object.assign(URL, { createObjectURL: vi.fn(() => "blob:x"), revokeObjectURL: () => {} });
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    renderWith(client, <CompliancePanel organizationId="org-lab" acrossOrganizations={false} />);
    expect((await screen.findByTestId("compliance-summary")).textContent).toContain("30.0% of 10 events flagged (3)");
    const days = screen.getByTestId("compliance-days").textContent;
    expect(days).toContain("2026-12-034 50.0%");
    expect(days).toContain("2026-12-046 16.7%");
    expect(screen.getByTestId("top-flags").textContent).toBe("Top flagsdrift · 2door_open · 1");
    expect(screen.getByTestId("top-codes").textContent).toBe("Top escalation codesESC-17 · 1");
    expect(calls[0]).toContain("group_by=day");
    expect(calls[0]).toContain("organization_id=org-lab");
    expect(screen.queryByTestId("compliance-organizations")).toBeNull(); // an organization sees no other
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Export CSV" })));
    await waitFor(() => expect(click).toHaveBeenCalled());
    expect(calls.some((c) => c.startsWith("GET /api/billing/analytics/guardrails/export?") && c.includes("format=csv"))).toBe(true);
  });

  it("shows finance every organization of the residency", async () => {
    const byOrganization = {
      items: [group({ organization_id: "org-acme", events: 8, flagged_events: 4, flag_rate: "0.5", flagged_credits: "40" })],
      next_cursor: null,
      as_of: null,
    };
    const { client, calls } = fakeClient({
      [`${REPORT}group_by=day`]: { body: DAYS },
      [`${REPORT}group_by=organization`]: { body: byOrganization },
    });
    renderWith(client, <CompliancePanel organizationId={null} acrossOrganizations />);
    const table = await screen.findByTestId("compliance-organizations");
    expect(table.textContent).toContain("org-acme8450.0%40");
    expect(calls.every((c) => !c.includes("organization_id="))).toBe(true); // the whole residency
  });
});
