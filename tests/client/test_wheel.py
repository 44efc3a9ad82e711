"""The client as producers get it: `pip wheel ./clients/python` builds a wheel that carries every
module and `py.typed`, declares lower bounds only (met by the project's own pins), and, installed
on its own, talks to the local stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.client

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
PACKAGE = CLIENT / "src" / "marketplace_billing"
IGNORED = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "-w",
            dist,
            CLIENT,
        ],
        check=True,
        timeout=300,
    )
    [built] = dist.glob("marketplace_billing-*.whl")
    return built


def metadata_of(wheel: Path) -> tuple[list[str], list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    return names, metadata.splitlines()


def test_the_wheel_carries_every_module_and_py_typed(wheel):
    names, metadata = metadata_of(wheel)
    wanted = {f"marketplace_billing/{p.name}" for p in PACKAGE.iterdir() if p.suffix == ".py" or p.name == "py.typed"}
    assert wanted <= set(names) and "marketplace_billing/py.typed" in wanted
    assert "Name: marketplace-billing" in metadata and "Requires-Python: >=3.11" in metadata


def test_dependencies_are_lower_bounds_met_by_the_projects_pins(wheel):
    _, metadata = metadata_of(wheel)
    required = [
        Requirement(line.removeprefix("Requires-Dist: ")) for line in metadata if line.startswith("Requires-Dist:")
    ]
    assert {r.name for r in required} == {"requests", "pydantic", "boto3"}
    assert "Provides-Extra: bus" in metadata and [str(r.marker) for r in required if r.name == "boto3"] == [
        'extra == "bus"'
    ]
    for requirement in required:
        assert all(spec.operator == ">=" for spec in requirement.specifier), requirement
        assert requirement.specifier.contains(version(requirement.name)), (
            f"{requirement} vs the pinned {version(requirement.name)}"
        )


def test_the_installed_wheel_talks_to_the_stack(wheel, tmp_path, base_url):
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            site,
            wheel,
        ],
        check=True,
        timeout=120,
    )
    script = (
        "import sys, marketplace_billing as m\n"
        f"assert m.__file__.startswith({str(site)!r}), m.__file__\n"
        f"with m.Billing({base_url!r}) as billing:\n"
        "    print(billing.plans.get('lab-standard').credit_allowance)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(site)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "1000", result.stderr
