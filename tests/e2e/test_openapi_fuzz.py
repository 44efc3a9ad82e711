"""Schemathesis fuzzes every operation of the local stack against the service's own OpenAPI document
(`GET /api/billing/openapi.json`): no 5xx, every status documented, every body and content type as
documented. Seeded and bounded: the seed is printed, so a failure reruns exactly
(`BILLING_FUZZ_SEED=<seed>`). Schemathesis lives in .venv-fuzz (`scripts/bootstrap fuzz`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from .server import LocalServer

ROOT = Path(__file__).resolve().parents[2]
ST = ROOT / ".venv-fuzz" / "bin" / "st"
SEED = int(os.environ.get("BILLING_FUZZ_SEED", "20261125"))
EXAMPLES = int(os.environ.get("BILLING_FUZZ_EXAMPLES", "50"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
ORG = "fuzz-org"


def seed_resources(server: LocalServer) -> tuple[dict[str, str], dict[str, str]]:
    """Tokens for each role, and one subscription (with usage, a top-up and a draft invoice) to aim at."""
    from billing.api.tokens import mint_token

    def token(role: str, org: str | None = None) -> str:
        return mint_token(sub=f"fuzz|{role}", roles=[role], org=org, residency="us")

    tokens = {role: token(role) for role in ("marketplace:admin", "finance", "service")}
    tokens |= {role: token(role, ORG) for role in ("org:admin", "org:member")}
    assert server.request("GET", "/plans").status_code == 200
    provisioned = server.request(
        "POST",
        f"/organizations/{ORG}/subscriptions",
        token=tokens["org:admin"],
        json={"plan_id": "lab-standard", "residency": "us", "sla_acceptance": {"accepted_by": "f", "sla_version": "1"}},
    )
    assert provisioned.status_code == 201, provisioned.text
    subscription_id = provisioned.json()["subscription_id"]
    admin = tokens["marketplace:admin"]
    topped = server.request(
        "POST",
        f"/subscriptions/{subscription_id}/credits",
        token=admin,
        json={"amount": "100", "type": "top_up", "reason": "fuzz", "idempotency_key": "fuzz-top-up"},
    )
    assert topped.status_code == 201, topped.text
    used = server.request(
        "POST",
        "/usage",
        token=tokens["service"],
        json={"organization_id": ORG, "service": "planner", "quantity": "2", "idempotency_key": "fuzz-usage"},
    )
    assert used.status_code == 201, used.text
    drafted = server.request("POST", f"/subscriptions/{subscription_id}/invoices/draft", token=admin)
    assert drafted.status_code == 201, drafted.text
    known = {
        "subscription_id": subscription_id,
        "invoice_id": drafted.json()["invoice_id"],
        "organization_id": ORG,
        "plan_id": "lab-standard",
    }
    return tokens, known


# Two Schemathesis processes at once, each on its own local stack (its own data, so neither changes
# what the other meets): one generates the coverage cases and walks the stateful links, the other
# fuzzes. Processes, not `--workers`: each stays reproducible from the seed, and hypothesis' lambda
# source cache is not thread-safe on Python 3.11.
PHASES = ("coverage,stateful", "fuzzing")


def start(phases: str) -> tuple[LocalServer, subprocess.Popen]:
    server = LocalServer()
    try:
        tokens, known = seed_resources(server)
    except BaseException:
        server.stop()
        raise
    command = [
        str(ST),
        "run",
        f"{server.base_url}/api/billing/openapi.json",
        "--phases",
        phases,
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "fuzz_hooks",
        "PYTHONPATH": str(Path(__file__).parent),
        "BILLING_FUZZ_TOKENS": json.dumps(tokens),
        "BILLING_FUZZ_KNOWN": json.dumps(known),
    }
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return server, process


@pytest.mark.fuzz
def test_schemathesis_finds_nothing_against_the_openapi_document(capsys):
    if not ST.exists():
        if os.environ.get("CI"):
            pytest.fail("Schemathesis is missing: scripts/bootstrap fuzz (make test sets it up)")
        pytest.skip("Schemathesis is not set up here: `bash scripts/bootstrap fuzz` (make test does it)")
    started = time.monotonic()
    runs = []
    try:
        for phases in PHASES:
            runs.append((phases, *start(phases)))
        reports = {}
        for phases, _, process in runs:
            output, _ = process.communicate(timeout=600)
            reports[phases] = (process.returncode, output.decode("utf-8", "replace"))
    finally:
        for _, server, process in runs:
            if process.poll() is None:
                process.kill()
            server.stop()
    elapsed = time.monotonic() - started
    with capsys.disabled():  # the seed and the counts show in `make test`'s output, failure or not
        print(f"\nschemathesis: seed {SEED}, max {EXAMPLES} examples an operation, {elapsed:.0f} s in all")
        for phases, (_, report) in reports.items():
            summary = re.findall(r"^\s*(?:Tested|Scenarios|API Links|\d+ generated|Seed).*$", report, re.M)
            print(f"  {phases}: " + "; ".join(line.strip() for line in summary))
    for phases, (code, report) in reports.items():
        assert code == 0, f"{phases}:\n{report[-20000:]}"
        assert re.search(r"\b(\d+) passed\b", report), report[-4000:]
    for _, server, _ in runs:
        assert not [line for line in server.output if "Traceback" in line], "".join(server.output)[-10000:]
