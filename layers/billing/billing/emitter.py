"""For producer services: put `UsageRecorded` events on the billing usage bus; and, for long runs,
check entitlements and hold, settle or release credits over the API (`RunReservations`).

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


# --- entitlement checks and holds, over the HTTP API ------------------------------------------


class BillingRefused(Exception):
    """The billing API refused a check, hold, settle or release (its status and error envelope)."""

    def __init__(self, status: int, error: dict[str, Any]):
        super().__init__(f"{status} {error.get('code')}: {error.get('message')}")
        self.status, self.code, self.details = status, error.get("code"), error.get("details", {})


class RunReservations:
    """For producers of long runs: ask before starting, reserve the run's credits, and settle or
    release at the end. Keys derive from the run's id, so a producer that retries (or restarts
    and repeats a step) reserves and is charged once.

        billing = RunReservations("https://lab.example/api/billing", token=service_token)
        with billing.reserved("org-helix", "instrumentation", runs=12, run_id="run-4410") as run:
            ...  # the instrument works; at the end:
            run.used = 10  # what to charge (default: what was reserved)

    A run that raises releases its hold; a producer that dies leaves it to expire."""

    def __init__(self, base_url: str, *, token: str, timeout: float = 10, send: Any = None):
        self._base, self._token, self._timeout = base_url.rstrip("/"), token, timeout
        self._send = send or self._urlopen

    def check(self, organization_id: str, service: str, quantity: Decimal | int | str) -> dict[str, Any]:
        body = {"organization_id": organization_id, "service": service, "quantity": str(quantity)}
        return self._call("POST", "/entitlements/check", body)

    def hold(
        self,
        organization_id: str,
        service: str,
        quantity: Decimal | int | str,
        *,
        run_id: str,
        kind: str = "instrumentation_run",
        expires_in_seconds: int = 3600,
    ) -> dict[str, Any]:
        body = {
            "organization_id": organization_id,
            "service": service,
            "quantity": str(quantity),
            "idempotency_key": f"{kind}:{run_id}:hold",
            "expires_in_seconds": expires_in_seconds,
            "source": {"kind": kind, "id": run_id},
        }
        return self._call("POST", "/holds", body)

    def settle(
        self,
        hold_id: str,
        *,
        run_id: str,
        quantity: Decimal | int | str | None = None,
        kind: str = "instrumentation_run",
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"idempotency_key": f"{kind}:{run_id}"}
        if quantity is not None:
            body["quantity"] = str(quantity)
        return self._call("POST", f"/holds/{hold_id}/settle", body)

    def release(self, hold_id: str) -> dict[str, Any]:
        return self._call("POST", f"/holds/{hold_id}/release", None)

    def reserved(self, organization_id: str, service: str, *, runs: Decimal | int | str, run_id: str, **options: Any):
        return _ReservedRun(self, organization_id, service, runs, run_id, options)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        status, answer = self._send(method, self._base + path, body, self._token, self._timeout)
        if status >= 400:
            raise BillingRefused(status, answer.get("error", {}))
        return answer

    @staticmethod
    def _urlopen(method: str, url: str, body: Any, token: str, timeout: float) -> tuple[int, dict[str, Any]]:
        from urllib.error import HTTPError
        from urllib.request import Request, urlopen

        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            with urlopen(Request(url, data=data, method=method, headers=headers), timeout=timeout) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except HTTPError as refused:
            return refused.code, json.loads(refused.read() or b"{}")


class _ReservedRun:
    def __init__(self, billing: RunReservations, organization_id, service, runs, run_id, options):
        self._billing, self._args = billing, (organization_id, service, runs)
        self.run_id, self._options, self.used = run_id, options, None
        self.hold: dict[str, Any] | None = None
        self.charged: dict[str, Any] | None = None

    def __enter__(self) -> _ReservedRun:
        self.hold = self._billing.hold(*self._args, run_id=self.run_id, **self._options)
        return self

    def __exit__(self, failed: Any, *_: Any) -> None:
        if failed is not None:
            self._billing.release(self.hold["hold_id"])
            return
        self.charged = self._billing.settle(self.hold["hold_id"], run_id=self.run_id, quantity=self.used)
