"""For producer services: put `UsageRecorded` events on the billing usage bus.

    emitter = UsageEmitter(boto3.client("events"), bus_name="marketplace-billing-usage-prod",
                           source="marketplace.planner")
    emitter.emit(planner_finalization("org-helix", "fin-7781", escalation_codes=["ESC-REAGENT-LOW"]))

Each helper derives its idempotency key from what it reports (e.g. `planner_finalization:fin-7781`),
so a producer that emits the same finalization twice is charged once."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from .api.bus import USAGE_RECORDED
from .domain.usage import Guardrail, UsageRequest, UsageSource

PUT_EVENTS_LIMIT = 10


class UsageNotEmitted(Exception):
    def __init__(self, failures: list[dict[str, Any]]):
        super().__init__(f"{len(failures)} usage events were not put on the bus: {failures}")
        self.failures = failures


def _usage(
    organization_id: str,
    service: str,
    quantity: Decimal | int | str,
    kind: str,
    source_id: str,
    *,
    guardrail: Guardrail | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    unit: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> UsageRequest:
    return UsageRequest(
        organization_id=organization_id,
        service=service,
        quantity=quantity,
        idempotency_key=idempotency_key or f"{kind}:{source_id}",
        occurred_at=occurred_at,
        unit=unit,
        source=UsageSource(kind=kind, id=source_id),
        guardrail=guardrail or Guardrail(),
        metadata=metadata or {},
    )


def planner_finalization(
    organization_id: str, finalization_id: str, *, escalation_codes: list[str] = (), **options: Any
) -> UsageRequest:
    """A finalized protocol plan, with the escalation codes still open at finalization."""
    return _usage(
        organization_id,
        "planner",
        1,
        "planner_finalization",
        finalization_id,
        guardrail=Guardrail(escalation_codes=list(escalation_codes)),
        **options,
    )


def instrumentation_run(
    organization_id: str, run_id: str, *, guardrail_flags: list[str] = (), runs: int = 1, **options: Any
) -> UsageRequest:
    """An instrument run, with the guardrail flags it raised."""
    return _usage(
        organization_id,
        "instrumentation",
        runs,
        "instrumentation_run",
        run_id,
        guardrail=Guardrail(flags=list(guardrail_flags)),
        **options,
    )


def sequence_analysis(
    organization_id: str, analysis_id: str, *, units: Decimal | int | str, **options: Any
) -> UsageRequest:
    """A sequence analysis, billed per unit (e.g. samples)."""
    return _usage(organization_id, "analytics", units, "sequence_analysis", analysis_id, **options)


class UsageEmitter:
    def __init__(self, events_client: Any, *, bus_name: str, source: str):
        self._events = events_client
        self._bus = bus_name
        self._source = source

    def entry(self, usage: UsageRequest) -> dict[str, Any]:
        detail = usage.model_dump(mode="json", exclude_none=True)
        return {
            "EventBusName": self._bus,
            "Source": self._source,
            "DetailType": USAGE_RECORDED,
            "Detail": json.dumps(detail),
        }

    def emit(self, *usage: UsageRequest) -> None:
        """Put the events (10 a call). Raises UsageNotEmitted naming those the bus refused; emitting
        them again is safe, as their idempotency keys make the billing side charge each once."""
        failures: list[dict[str, Any]] = []
        for start in range(0, len(usage), PUT_EVENTS_LIMIT):
            chunk = usage[start : start + PUT_EVENTS_LIMIT]
            answer = self._events.put_events(Entries=[self.entry(u) for u in chunk])
            for sent, result in zip(chunk, answer.get("Entries", []), strict=False):  # fewer answers: a failed call
                if result.get("ErrorCode"):
                    failures.append(
                        {
                            "idempotency_key": sent.idempotency_key,
                            "error": result["ErrorCode"],
                            "message": result.get("ErrorMessage"),
                        }
                    )
        if failures:
            raise UsageNotEmitted(failures)
