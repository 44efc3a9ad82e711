"""An instrument controller's run, billed with a hold: ask first, hold what the plate will cost,
run it, charge what it used. Restarting the same run (same run id) holds and charges it once.

    BILLING_URL=http://127.0.0.1:3000/api/billing BILLING_TOKEN=$(make -s token ROLE=service) \\
        python instrument_run.py org-helix run-5511 12
"""

from __future__ import annotations

import os
import sys

from marketplace_billing import Billing, InsufficientCredits


def service_token() -> str:
    """The service's bearer token (in production: your identity provider's client-credentials flow;
    the client asks again after a 401, so a rotated token is picked up)."""
    return os.environ["BILLING_TOKEN"]


def run_plate(run_id: str, planned_runs: int) -> tuple[int, list[str]]:
    """The lab's own code: runs the plate, answers the runs it used and the guardrail flags raised."""
    return planned_runs - 2, ["temperature_drift"]


def main(organization_id: str, run_id: str, planned_runs: int) -> int:
    with Billing(os.environ["BILLING_URL"], token_provider=service_token) as billing:
        check = billing.entitlements.check(
            organization_id=organization_id, service="instrumentation", quantity=planned_runs
        )
        if not check.allowed:
            print(f"{run_id} not started: {check.reason} (needs {check.credits_required} credits)")
            return 1
        try:
            with billing.holds.reserve(
                organization_id=organization_id,
                service="instrumentation",
                quantity=planned_runs,
                idempotency_key=f"instrumentation_run:{run_id}",
                source={"kind": "instrumentation_run", "id": run_id},
            ) as hold:
                used, flags = run_plate(run_id, planned_runs)  # raising here releases the hold
                charge = hold.settle(quantity=used, guardrail={"flags": flags})
        except InsufficientCredits as refused:  # a `block` plan that cannot cover the run
            print(f"{run_id} not started: {refused.message}")
            return 1
    print(f"{run_id}: {used} runs, {charge.credits} credits charged, balance {charge.balance_after}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
