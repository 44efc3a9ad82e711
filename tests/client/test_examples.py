"""The README's producer and finance scripts (clients/python/examples), run as their users run
them, against the local stack: each bills what it says, once, even when run twice."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.client

EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"


@pytest.fixture
def run_example(base_url, sign_in):
    def run(script: str, *arguments: str, role: str = "service") -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "BILLING_URL": base_url, "BILLING_TOKEN": sign_in(role)}
        return subprocess.run(
            [sys.executable, EXAMPLES / script, *arguments], env=environment, capture_output=True, text=True, timeout=60
        )

    return run


def test_the_planner_bills_a_finalization_once(run_example, admin, subscribed):
    sub = subscribed()
    for _ in range(2):  # finalized, then the planner restarts and reports it again
        done = run_example("planner_finalization.py", sub.organization_id, "fin-7781", "ESC-REAGENT-LOW")
        assert done.returncode == 0 and "fin-7781: 2 credits" in done.stdout, done.stderr
    [event] = admin.usage.list(sub.subscription_id)
    assert event.guardrail.escalation_codes == ["ESC-REAGENT-LOW"] and event.source.id == "fin-7781"


def test_the_instrument_run_holds_then_charges_what_it_used_once(run_example, admin, subscribed):
    sub = subscribed()
    for _ in range(2):
        done = run_example("instrument_run.py", sub.organization_id, "run-5511", "12")
        assert done.returncode == 0 and "run-5511: 10 runs, 50 credits charged" in done.stdout, done.stderr
    after = admin.subscriptions.get(sub.subscription_id)
    assert (after.credit_balance, after.held_credits) == (Decimal(950), Decimal(0))


def test_the_pipeline_bills_250_analyses_in_hundreds_once(run_example, admin, subscribed):
    sub = subscribed()
    for _ in range(2):
        done = run_example("sequence_analysis.py", sub.organization_id, "flowcell-A7", "250")
        assert done.returncode == 0 and "flowcell-A7: 250 of 250 analyses charged" in done.stdout, done.stderr
    events = list(admin.usage.list(sub.subscription_id))
    assert len(events) == 250 and sum(e.credits for e in events) == 250 * 96 * Decimal("0.25")


def test_finance_issues_the_drafts_it_lists_and_exports_them(run_example, admin, service, subscribed, tmp_path):
    sub = subscribed()
    service.usage.record(organization_id=sub.organization_id, service="planner", quantity=1)
    admin.subscriptions.cancel(sub.subscription_id)
    draft = admin.invoices.draft(sub.subscription_id)
    since = f"{sub.current_period_start:%Y-%m-%d}"
    done = run_example("finance_drafts.py", since, str(tmp_path), role="finance")
    assert done.returncode == 0, done.stderr
    issued = admin.invoices.get(sub.subscription_id, draft.invoice_id)
    assert issued.status == "issued" and f"issued {issued.number}" in done.stdout
    assert "amount_cents" in (tmp_path / f"{issued.number}.csv").read_text().splitlines()[0]
