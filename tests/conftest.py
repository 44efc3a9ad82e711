"""Shared test setup: the core layer and the local stack are importable, tokens are easy to make."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "layers" / "billing", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from billing.api.tokens import mint_token  # noqa: E402


@pytest.fixture
def token():
    """token(role, org=..., residency=...) -> a bearer token the local stack accepts."""

    def make(*roles: str, org: str | None = None, residency: str | None = "us", sub: str | None = None, **extra) -> str:
        return mint_token(
            sub=sub or f"test|{'+'.join(roles) or 'none'}", roles=list(roles), org=org, residency=residency, **extra
        )

    return make
