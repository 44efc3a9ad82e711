"""The client against the running local stack (`python -m local_stack`, what `make run` serves):
never a mock of the API. Tokens come from the stack's sandbox sign-in, POST /_local/token."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import requests
from marketplace_billing import Billing

from tests.e2e.server import LocalServer

SLA = {"accepted_by": "grace@lab.example", "sla_version": "1"}


@pytest.fixture(scope="session")
def server():
    running = LocalServer()
    requests.get(running.base_url + "/api/billing/plans", timeout=30)  # the sandbox seeds Lab Standard first
    yield running
    running.stop()


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return server.base_url + "/api/billing"


@pytest.fixture(scope="session")
def sign_in(server) -> Callable[..., str]:
    """sign_in(*roles, org=None, residency="us") -> a token from the stack's sandbox sign-in."""

    def token(*roles: str, org: str | None = None, residency: str = "us") -> str:
        answer = requests.post(
            server.base_url + "/_local/token",
            json={"roles": list(roles), "org": org, "residency": residency},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()["token"]

    return token


@pytest.fixture
def billing_as(base_url, sign_in):
    """billing_as(*roles, org=None) -> a `Billing` whose token_provider signs in with those roles."""
    opened: list[Billing] = []

    def client(*roles: str, org: str | None = None, **options) -> Billing:
        opened.append(Billing(base_url, token_provider=lambda: sign_in(*roles, org=org), **options))
        return opened[-1]

    yield client
    for billing in opened:
        billing.close()


@pytest.fixture
def admin(billing_as) -> Billing:
    return billing_as("marketplace:admin")


@pytest.fixture
def service(billing_as) -> Billing:
    return billing_as("service")


@pytest.fixture
def subscribed(admin):
    """subscribed(plan_id="lab-standard") -> a new organization's subscription (Lab Standard: 1000
    credits, planner 2 / instrumentation 5 / analytics 0.25 credits a unit, overage allowed)."""

    def subscribe(plan_id: str = "lab-standard"):
        return admin.subscriptions.create(
            organization_id=new_org(), plan_id=plan_id, residency="us", sla_acceptance=SLA
        )

    return subscribe


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"
