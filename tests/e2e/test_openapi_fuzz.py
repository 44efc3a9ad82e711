"""Schemathesis fuzzes every operation of the local stack against the service's own OpenAPI document
(`GET /api/billing/openapi.json`): no 5xx, every status documented, every body and content type as
documented. Seeded and bounded: the seed is printed, so a failure reruns exactly
(`BILLING_FUZZ_SEED=<seed>`). Schemathesis lives in .venv-fuzz (`scripts/bootstrap fuzz`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import pytest

from .server import LocalServer

ROOT = Path(__file__).resolve().parents[2]
ST = ROOT / ".venv-fuzz" / "bin" / "st"
SEED = int(os.environ.get("BILLING_FUZZ_SEED", "20261125"))
EXAMPLES = int(os.environ.get("BILLING_FUZZ_EXAMPLES", "50"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# A request of the fuzzer's own may wait this long for its answer: generous, because two fuzzers and
# two stacks share a CI machine that other work may be loading (a 30 s limit once ended a run with
# "1 error", a read timeout, and no failed check). Never retried: a dropped connection is a finding.
REQUEST_TIMEOUT = int(os.environ.get("BILLING_FUZZ_REQUEST_TIMEOUT", "120"))
RUN_TIMEOUT = 1500  # seconds for one Schemathesis process, start to report
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
        "event_id": used.json()["event_id"],  # the fuzzer may void or amend it: its answers stay in the contract
        "organization_id": ORG,
        "plan_id": "lab-standard",
    }
    return tokens, known


# Two Schemathesis processes at once, each on its own local stack (its own data, so neither changes
# what the other meets): one generates the coverage cases and walks the stateful links, the other
# fuzzes. Processes, not `--workers`: each stays reproducible from the seed, and hypothesis' lambda
# source cache is not thread-safe on Python 3.11.
PHASES = ("coverage,stateful", "fuzzing")


def start(phases: str, junit: Path) -> tuple[LocalServer, subprocess.Popen]:
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
        str(REQUEST_TIMEOUT),
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
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


def junit_of(directory: Path, phases: str) -> Path:
    return directory / f"schemathesis-{phases.replace(',', '-')}.xml"


def problems_in(junit: Path) -> list[str]:
    """Every error (a request that got no answer, a schema Schemathesis cannot use) and every failed
    check of a run, by operation, with the first lines of its message: what the test fails with."""
    if not junit.is_file():
        return ["no JUnit report: Schemathesis stopped before it wrote one"]
    found = []
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        for kind in ("error", "failure"):
            for element in case.findall(kind):
                text = (element.text or element.get("message") or "").split("Reproduce with:")[0]
                summary = " ".join(line.strip() for line in text.splitlines() if line.strip())
                found.append(f"{kind} in {case.get('name')}: {summary[:600]}")
    return found


def outcome(phases: str, process: subprocess.Popen) -> tuple[int | None, str]:
    """The exit code and output of one run; a run past RUN_TIMEOUT is stopped and says so."""
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        return None, f"{phases}: stopped after {RUN_TIMEOUT} s\n" + output.decode("utf-8", "replace")
    return process.returncode, output.decode("utf-8", "replace")


@pytest.mark.fuzz
def test_schemathesis_finds_nothing_against_the_openapi_document(capsys, tmp_path):
    if not ST.exists():
        if os.environ.get("CI"):
            pytest.fail("Schemathesis is missing: scripts/bootstrap fuzz (make test sets it up)")
        pytest.skip("Schemathesis is not set up here: `bash scripts/bootstrap fuzz` (make test does it)")
    started = time.monotonic()
    runs = []
    try:
        for phases in PHASES:
            runs.append((phases, *start(phases, junit_of(tmp_path, phases))))
        reports = {phases: outcome(phases, process) for phases, _, process in runs}
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
        problems = problems_in(junit_of(tmp_path, phases))
        assert code == 0 and not problems, f"{phases}: " + "; ".join(problems) + f"\n\n{report[-20000:]}"
        assert re.search(r"\b(\d+) passed\b", report), report[-4000:]
    for _, server, _ in runs:
        assert not [line for line in server.output if "Traceback" in line], "".join(server.output)[-10000:]


class _SlowOperation(BaseHTTPRequestHandler):
    """A one-operation API whose answer comes after the fuzzer stopped waiting."""

    DOCUMENT = {
        "openapi": "3.0.3",
        "info": {"title": "slow", "version": "1"},
        "paths": {"/slow": {"get": {"responses": {"200": {"description": "late"}}}}},
    }

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(2)
        body = json.dumps(self.DOCUMENT).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the fuzzer has gone: that is the point

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.fuzz
def test_a_request_the_fuzzer_gave_up_on_fails_the_step_by_name(tmp_path):
    """The error that once ended a run with "1 error" and no failed check is named in the failure."""
    if not ST.exists():
        pytest.skip("Schemathesis is not set up here: `bash scripts/bootstrap fuzz`")
    stub = ThreadingHTTPServer(("127.0.0.1", 0), _SlowOperation)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    junit = tmp_path / "slow.xml"
    try:
        command = [str(ST), "run", f"http://127.0.0.1:{stub.server_address[1]}/openapi.json", "--phases", "fuzzing"]
        command += ["--max-examples", "1", "--request-timeout", "0.5", "--no-color", "--report", "junit"]
        finished = subprocess.run([*command, "--report-junit-path", str(junit)], capture_output=True, timeout=120)
    finally:
        stub.shutdown()
    assert finished.returncode != 0
    assert [p for p in problems_in(junit) if p.startswith("error in GET /slow: Network Error Read timed out")]
