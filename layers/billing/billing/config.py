"""Deployment settings, read once from the environment that template.yaml sets, and validated.
Nothing below the api layer reads `os.environ`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from msgspec import Struct

if TYPE_CHECKING:
    from .domain.billing_profiles import Issuer

LOCAL_CURSOR_SECRET = "local-dev-cursor-secret-never-deployed"


class BillingConfig(Struct, frozen=True):
    """A plain record (a msgspec Struct), not a pydantic model: every value is a string the template
    sets, and building a model's validator at each cold start cost ~1.5 ms for two checks."""

    plans_table: str
    subscriptions_table: str
    usage_events_table: str
    credit_ledger_table: str
    invoices_table: str
    idempotency_table: str
    outbox_table: str
    stage: str = "dev"
    sandbox: bool = False
    residencies: tuple[str, ...] = ("us", "eu")
    guardrail_rollups_table: str | None = None  # compliance analytics' functions only
    period_closing_queue_url: str | None = None  # the invoicing run's only
    dynamodb_endpoint: str | None = None
    events_bus: str | None = None  # the outbox publisher's bus (BillingEventsBus)
    events_endpoint: str | None = None  # the local stack's EventBridge; unset: AWS
    region: str | None = None
    cursor_secret: str = LOCAL_CURSOR_SECRET  # seals list cursors; never in the repr
    issuer: str | None = None  # BILLING_ISSUER: who issues the invoices (JSON; see `issuer()`)

    def __post_init__(self) -> None:
        if len(self.cursor_secret) < 32:
            raise ValueError("BILLING_CURSOR_SECRET must be at least 32 characters: it seals list cursors")

    def __repr__(self) -> str:
        shown = (f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__ if name != "cursor_secret")
        return f"BillingConfig({', '.join(shown)})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> BillingConfig:
        return cls(
            stage=environ.get("BILLING_STAGE", "dev"),
            sandbox=environ.get("BILLING_SANDBOX", "false").strip().lower() == "true",
            residencies=tuple(
                part.strip().lower() for part in environ.get("BILLING_RESIDENCIES", "us,eu").split(",") if part.strip()
            ),
            plans_table=environ["PLANS_TABLE"],
            subscriptions_table=environ["SUBSCRIPTIONS_TABLE"],
            usage_events_table=environ["USAGE_EVENTS_TABLE"],
            credit_ledger_table=environ["CREDIT_LEDGER_TABLE"],
            invoices_table=environ["INVOICES_TABLE"],
            idempotency_table=environ["IDEMPOTENCY_TABLE"],
            outbox_table=environ["OUTBOX_TABLE"],
            guardrail_rollups_table=environ.get("GUARDRAIL_ROLLUPS_TABLE") or None,
            period_closing_queue_url=environ.get("PERIOD_CLOSING_QUEUE_URL") or None,
            dynamodb_endpoint=environ.get("BILLING_DYNAMODB_ENDPOINT") or None,
            events_bus=environ.get("BILLING_EVENTS_BUS") or None,
            events_endpoint=environ.get("BILLING_EVENTS_ENDPOINT") or None,
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
            **({"cursor_secret": environ["BILLING_CURSOR_SECRET"]} if environ.get("BILLING_CURSOR_SECRET") else {}),
            issuer=environ.get("BILLING_ISSUER") or None,
        )


@lru_cache(maxsize=1)
def load_config() -> BillingConfig:
    return BillingConfig.from_environment(os.environ)


@lru_cache(maxsize=1)
def issuer() -> Issuer:
    """The deployment's issuer, parsed once (on first use: only invoices read it): `BILLING_ISSUER`
    is `{"name", "address": {"line1", "city", "postal_code", "country", ...}, "tax_id"?, "email"?}`;
    unset (a local or sandbox stack), a sandbox issuer that says it is not a real one."""
    from .domain.billing_profiles import SANDBOX_ISSUER, Issuer

    setting = load_config().issuer
    return Issuer.from_setting(setting) if setting else SANDBOX_ISSUER
