"""In-memory stores with the DynamoDB stores' semantics (conditional writes, ordering, cursors),
for fast unit tests of the services."""
from __future__ import annotations

import threading
from datetime import datetime

from ..domain.errors import Conflict, NotFound, RetryableConflict, ValidationFailed
from ..domain.paging import Page
from ..domain.plans import Plan


class InMemoryPlanStore:
    def __init__(self) -> None:
        self._current: dict[str, Plan] = {}
        self._versions: dict[tuple[str, int], Plan] = {}
        self._lock = threading.Lock()

    def current(self, plan_id: str) -> Plan | None:
        return self._current.get(plan_id)

    def version(self, plan_id: str, version: int) -> Plan | None:
        return self._versions.get((plan_id, version))

    def active_page(self, *, limit: int, cursor: str | None) -> Page[Plan]:
        ordered = sorted((p for p in self._current.values() if p.is_active), key=lambda p: (p.base_fee_cents, p.plan_id))
        start = 0
        if cursor is not None:
            ids = [p.plan_id for p in ordered]
            if cursor not in ids:
                raise ValidationFailed.of("cursor", "is not a cursor this list returned", location="query")
            start = ids.index(cursor) + 1
        chunk = ordered[start : start + limit]
        more = start + limit < len(ordered)
        return Page(items=chunk, next_cursor=chunk[-1].plan_id if more and chunk else None)

    def add(self, plan: Plan) -> None:
        with self._lock:
            if plan.plan_id in self._current:
                raise Conflict(f"Plan '{plan.plan_id}' already exists.", code="plan_exists")
            self._current[plan.plan_id] = plan
            self._versions[(plan.plan_id, plan.version)] = plan

    def replace(self, plan: Plan, *, expected_version: int) -> None:
        with self._lock:
            current = self._current.get(plan.plan_id)
            if current is None or current.version != expected_version or not current.is_active:
                raise RetryableConflict(f"Plan '{plan.plan_id}' changed while it was being revised; retry.")
            self._current[plan.plan_id] = plan
            self._versions[(plan.plan_id, plan.version)] = plan

    def archive(self, plan_id: str, now: datetime) -> Plan:
        with self._lock:
            current = self._current.get(plan_id)
            if current is None:
                raise NotFound(f"No plan '{plan_id}'.")
            if current.is_active:
                self._current[plan_id] = current.archived(now)
            return self._current[plan_id]
