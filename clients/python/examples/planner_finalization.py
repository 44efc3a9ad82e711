"""A protocol planner, billing each finalized plan once, with the escalations still open.

BILLING_URL=... BILLING_TOKEN=... python planner_finalization.py org-helix fin-7781 ESC-REAGENT-LOW
"""

from __future__ import annotations

import os
import sys

from marketplace_billing import Billing


def main(organization_id: str, finalization_id: str, escalation_codes: list[str]) -> int:
    with Billing(os.environ["BILLING_URL"], token=os.environ["BILLING_TOKEN"]) as billing:
        event = billing.usage.record(
            organization_id=organization_id,
            service="planner",
            quantity=1,
            # Derived from what is billed: finalizing (or retrying) fin-7781 again is charged once.
            idempotency_key=f"planner_finalization:{finalization_id}",
            source={"kind": "planner_finalization", "id": finalization_id},
            guardrail={"escalation_codes": escalation_codes},
        )
    print(f"{finalization_id}: {event.credits} credits ({event.overage_credits} overage), event {event.event_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
