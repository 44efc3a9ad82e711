"""The stack as SAM sees it: the template lints clean and builds without a container."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"

pytestmark = pytest.mark.build


def sam(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    assert SAM.exists(), "the SAM CLI is installed by scripts/bootstrap (make test does it)"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run([str(SAM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_template_passes_sam_validate_lint():
    result = sam("validate", "--lint", "--template", "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_build_without_a_container_packages_every_function_and_the_layer(tmp_path):
    result = sam(
        "build",
        "--template",
        "template.yaml",
        "--build-dir",
        str(tmp_path / "build"),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    build = tmp_path / "build"
    layer = build / "BillingCoreLayer" / "python"
    assert (layer / "billing" / "services" / "catalog.py").exists()
    assert list((layer / "pydantic_core").glob("*aarch64*.so")), "the layer must carry arm64 wheels"
    assert not (layer / "botocore").exists(), "boto3/botocore come from the runtime, not the layer"
    assert (build / "AuthorizerFunction" / "jwt").exists()
    for function in ("PlanCatalogFunction", "PlanAdminFunction", "InvoicingRunFunction"):
        assert (build / function / "app.py").exists()
    # The PDF renderer and its fonts ship with the exporting function alone, for arm64.
    export = build / "DocumentExportFunction"
    assert (export / "fpdf").exists() and (export / "fonts" / "DejaVuSans-subset.ttf").exists()
    assert list((export / "PIL").glob("*aarch64*.so")), "Pillow must be an arm64 wheel"
    assert not (layer / "fpdf").exists() and not (build / "InvoicesFunction" / "fpdf").exists()


def test_sam_reads_the_deploy_overrides_with_the_storefronts_script_hashes_whole():
    """`make deploy` hands `sam deploy` samconfig's overrides plus StorefrontScriptHashes (several
    quoted CSP sources in one value): the SAM CLI's own parser must read them back unchanged."""
    from scripts.storefront_csp import deploy_overrides

    hashes = ["'sha256-6lWZjbnIszhsuLor8z4qeFo0oQUfYHHedfCpEWGhap0='", "'sha256-EKTJGdYM/Ucq+M2Qa/YjU=='"]
    parse = (
        "import json, sys; from samcli.cli.types import CfnParameterOverridesType as T; "
        "print(json.dumps(T().convert((sys.argv[1],), None, None)))"
    )
    result = subprocess.run(
        [str(ROOT / ".venv-sam" / "bin" / "python"), "-c", parse, deploy_overrides("prod", hashes)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["StorefrontScriptHashes"] == " ".join(hashes) and parsed["Stage"] == "prod"
