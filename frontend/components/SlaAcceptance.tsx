"use client";
import type { Plan } from "../lib/api";

/** The SLA version a subscriber accepts for a plan (the storefront's convention since subscribing). */
export function slaVersion(plan: Plan): string {
  return `${plan.sla.tier}@${plan.version}`;
}

/** Who accepts the plan's SLA, and that they do: asked when subscribing and when a plan change
 * moves to another tier or other terms. */
export function SlaAcceptanceFields({
  plan,
  organization,
  acceptedBy,
  onAcceptedBy,
  accepted,
  onAccepted,
}: {
  plan: Plan;
  organization: string | null | undefined;
  acceptedBy: string;
  onAcceptedBy: (who: string) => void;
  accepted: boolean;
  onAccepted: (accepted: boolean) => void;
}) {
  return (
    <>
      <label>
        Accepted by
        <input value={acceptedBy} onChange={(e) => onAcceptedBy(e.target.value)} required />
      </label>
      <label className="check">
        <input type="checkbox" checked={accepted} onChange={(e) => onAccepted(e.target.checked)} />
        I accept the {plan.sla.tier} SLA (version {slaVersion(plan)}) for {organization}
      </label>
    </>
  );
}
