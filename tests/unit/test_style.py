"""The code keeps one style: ruff's formatter and linter (rules and why: ruff.toml) find nothing.
`make format` applies both."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUFF = [sys.executable, "-m", "ruff"]


def test_the_linter_finds_nothing():
    found = subprocess.run(
        [*RUFF, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert found.returncode == 0, found.stdout + found.stderr


def test_the_formatter_would_change_nothing():
    found = subprocess.run([*RUFF, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert found.returncode == 0, found.stdout + found.stderr
