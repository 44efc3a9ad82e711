// The bodies of the usage-correction routes, written by hand from ../shared/API.md ("Usage
// events": corrections) while the service builds them. Once the OpenAPI document has them,
// lib/api-types.ts is regenerated and lib/api.ts aliases the generated schemas instead (nothing
// else imports from here).

/** What a usage event carries about its corrections. */
export type UsageCorrectionFields = {
  status: "recorded" | "voided";
  voided_at: string | null;
  void_reason: string | null;
  replaces: string | null;
  replaced_by: string | null;
};

/** `POST /usage/{event_id}/void`. */
export type VoidUsageRequest = { reason: string; idempotency_key: string };
/** `POST /usage/{event_id}/amend`. */
export type AmendUsageRequest = { quantity: string; reason: string; idempotency_key: string };
