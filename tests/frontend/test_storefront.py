"""The storefront (frontend/), run by `make test`: its API types are what the current OpenAPI
document generates, its component tests (vitest) pass, and the browser suite (Playwright in
Debian's Chromium, against `python -m local_stack` serving the build) passes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
pytestmark = pytest.mark.frontend


def run(*command: str, timeout: int, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=FRONTEND,
        env={**os.environ, "NEXT_TELEMETRY_DISABLED": "1", "BILLING_PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module", autouse=True)
def built_storefront() -> None:
    """npm ci when package-lock.json changed, next build when the sources did (both stamped)."""
    if shutil.which("npm") is None:
        pytest.fail("The storefront needs Node.js 20 and npm (see README: Two commands).")
    subprocess.run(["bash", "scripts/bootstrap", "storefront"], cwd=ROOT, check=True, timeout=900)


def test_api_types_are_generated_from_the_current_openapi_document():
    result = run("node", "scripts/gen-types.mjs", "--check", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_component_tests_pass():
    result = run("npx", "vitest", "run", timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def test_browser_suite_passes_against_the_local_stack():
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(f"{chromium} is missing: `bash scripts/bootstrap browser` installs it (as root).")
    result = run("npx", "playwright", "test", timeout=600)
    print(result.stdout)  # the first-load JS and time-to-plans line
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
