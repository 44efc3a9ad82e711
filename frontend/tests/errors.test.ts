import { describe, expect, it } from "vitest";
import { ApiError } from "../lib/api";
import { errorSentence, fieldLabel, humanize } from "../lib/errors";

describe("errors for people", () => {
  it("formats the timestamps a message quotes", () => {
    const error = new ApiError(409, "period_open", "The period runs until 2026-12-04T10:15:00Z; its invoice can be issued once it has ended.", {
      period_end: "2026-12-04T10:15:00Z",
    });
    expect(errorSentence(error)).toBe("The period runs until 2026-12-04 10:15 UTC; its invoice can be issued once it has ended.");
  });

  it("names the fields of a 422 by their labels, not their keys", () => {
    const error = new ApiError(422, "validation_error", "Invalid request: base_fee_cents, features.", {
      fields: [
        { field: "base_fee_cents", location: "body", message: "must be a whole number" },
        { field: "features[1].key", location: "body", message: "duplicate" },
      ],
    });
    expect(errorSentence(error)).toBe("Check these fields: Base fee, Feature 2 key.");
  });

  it("turns field names inside a field message into labels", () => {
    const error = new ApiError(422, "validation_error", "Invalid request: expires_at.", {
      fields: [{ field: "expires_at", location: "body", message: "must be after effective_at" }],
    });
    expect(error.fields.expires_at).toBe("must be after Effective from");
    expect(humanize("'low_balance_threshold_credits' must be at least 0")).toBe("Low-balance threshold must be at least 0");
  });

  it("explains a 412 instead of echoing it", () => {
    const error = new ApiError(412, "precondition_failed", "The plan is at version 2 now; read it again.");
    expect(errorSentence(error)).toContain("Reload it");
  });

  it("says how to correct usage on an issued invoice, naming its number", () => {
    const error = new ApiError(409, "period_invoiced", "The event's period is invoiced (01INV).", { invoice_id: "01INV", number: "INV-000042" });
    expect(errorSentence(error)).toBe("This usage is billed on INV-000042, which is issued and never changes. Correct it with a credit note on INV-000042 instead.");
  });

  it("keeps an unknown field's words", () => {
    expect(fieldLabel("body.some_new_field")).toBe("Some new field");
  });
});
