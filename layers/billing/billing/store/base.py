"""What the services need from persistence, as protocols the DynamoDB store and the in-memory
fake both satisfy."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..domain.paging import Page
from ..domain.plans import Plan


class PlanStore(Protocol):
    def current(self, plan_id: str) -> Plan | None:
        """The latest version with the listing's status, read consistently."""

    def version(self, plan_id: str, version: int) -> Plan | None: ...

    def active_page(self, *, limit: int, cursor: str | None) -> Page[Plan]:
        """Active plans, cheapest base fee first (ties by plan id)."""

    def add(self, plan: Plan) -> None:
        """Write version 1. Raises Conflict(`plan_exists`) when the plan id is taken."""

    def replace(self, plan: Plan, *, expected_version: int) -> None:
        """Write `plan` as the next version. Raises RetryableConflict when the current version is no
        longer `expected_version` or the listing was archived meanwhile."""

    def archive(self, plan_id: str, now: datetime) -> Plan:
        """Mark the listing archived (idempotent). Raises NotFound."""
