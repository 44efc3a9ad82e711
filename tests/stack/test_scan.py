"""checkov over template.yaml (.venv-scan, pinned in requirements-scan.txt), configured in one
place, .checkov.yaml: any failed check fails the build, and every skipped check carries its reason."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"
SKIP_LINE = re.compile(r"^\s*-\s*(CKV2?_[A-Z0-9_]+)\s*(?:#\s*(.*))?$")

pytestmark = pytest.mark.scan


def skips() -> dict[str, str]:
    """The skip-check list of .checkov.yaml: {check id: the reason in its comment}."""
    lines = CONFIG.read_text().split("skip-check:", 1)[1].splitlines()
    return {m.group(1): (m.group(2) or "").strip() for m in map(SKIP_LINE.match, lines) if m}


@cache
def checkov(*extra: str) -> dict:
    assert CHECKOV.exists(), "checkov is installed by scripts/bootstrap (make test does it)"
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # offline: no platform look-ups
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "--output", "json", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip().startswith("{"), result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    return report


def test_checkov_finds_nothing_in_the_template():
    report = checkov()
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert not failed, "checkov findings (fix them, or skip with a reason in .checkov.yaml):\n" + "\n".join(failed)
    assert report["summary"]["passed"] > 0


def test_every_skipped_check_has_a_reason():
    listed = skips()
    assert listed, "no skip-check list found in .checkov.yaml"
    assert not [check for check, reason in listed.items() if len(reason) < 20], "each skip needs its reason on its line"


def test_every_skipped_check_still_matches_a_finding():
    """A skip that no longer matches anything should go, so the list stays the truth."""
    unskipped = checkov("--skip-check", "NONE_SKIPPED")
    found = {c["check_id"] for c in unskipped["results"]["failed_checks"]}
    stale = set(skips()) - found
    assert not stale, f"skipped in .checkov.yaml but no longer found: {sorted(stale)}"
