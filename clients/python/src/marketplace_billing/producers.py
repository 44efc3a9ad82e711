"""Usage as producers report it, with idempotency keys derived from what is reported
(`planner_finalization:fin-7781`): the same finalization, run or analysis reported twice, over the
API or the bus, after a crash or a lost answer, is charged once.

    billing.usage.record_many([sequence_analysis("org-helix", f"seq-{n}", units=96) for n in batch])
    UsageBus("marketplace-billing-usage-prod").put(planner_finalization("org-helix", "fin-7781"))"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from .models import Guardrail, UsageSource


def _exact(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("floats are not exact: pass a Decimal, an int or a string")
    return value


Quantity = Annotated[Decimal, BeforeValidator(_exact)]


class UsageRecord(BaseModel):
    """One usage event to record: the body of `POST /usage`, and the `detail` of a `UsageRecorded`
    event on the usage bus."""

    model_config = ConfigDict(extra="forbid")

    organization_id: str
    service: str
    quantity: Quantity
    idempotency_key: str | None = None
    occurred_at: datetime | None = None
    unit: str | None = None
    source: UsageSource | None = None
    guardrail: Guardrail | None = None
    metadata: dict[str, Any] | None = None


def reported(
    organization_id: str, service: str, quantity: Decimal | int | str, kind: str, source_id: str, **fields: Any
) -> UsageRecord:
    """Usage from a source (`kind`, `source_id`), keyed `kind:source_id` unless a key is given."""
    fields.setdefault("idempotency_key", f"{kind}:{source_id}")
    return UsageRecord(
        organization_id=organization_id,
        service=service,
        quantity=quantity,
        source=UsageSource(kind=kind, id=source_id),
        **fields,
    )


def planner_finalization(
    organization_id: str, finalization_id: str, *, escalation_codes: Iterable[str] = (), **fields: Any
) -> UsageRecord:
    """A finalized protocol plan (one `planner` unit), with the escalation codes still open at finalization."""
    guardrail = Guardrail(escalation_codes=list(escalation_codes))
    return reported(
        organization_id, "planner", 1, "planner_finalization", finalization_id, guardrail=guardrail, **fields
    )


def instrumentation_run(
    organization_id: str,
    run_id: str,
    *,
    runs: Decimal | int | str = 1,
    guardrail_flags: Iterable[str] = (),
    **fields: Any,
) -> UsageRecord:
    """An instrument run, with the guardrail flags it raised."""
    guardrail = Guardrail(flags=list(guardrail_flags))
    return reported(
        organization_id, "instrumentation", runs, "instrumentation_run", run_id, guardrail=guardrail, **fields
    )


def sequence_analysis(
    organization_id: str, analysis_id: str, *, units: Decimal | int | str, **fields: Any
) -> UsageRecord:
    """A sequence analysis, billed per unit (e.g. samples)."""
    return reported(organization_id, "analytics", units, "sequence_analysis", analysis_id, **fields)
