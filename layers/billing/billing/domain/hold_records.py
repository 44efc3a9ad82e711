"""A hold's own record (`GET /holds/{id}`): what it reserved, for what, and how it ended. The
subscription item carries only what draw-down needs (domain/holds.py ActiveHold)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import Field

from ..exact_json import loads_exact
from .holds import ActiveHold, HoldStatus
from .usage_labels import UsageSource
from .values import Credits, UtcTimestamp


class Hold(ActiveHold):
    """A hold's record, as the holds endpoints answer it."""

    subscription_id: str
    organization_id: str
    service: str
    quantity: Credits
    status: HoldStatus = "held"
    created_at: UtcTimestamp
    ended_at: UtcTimestamp | None = None
    settled_event_id: str | None = None
    source: UsageSource | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)  # validated as the request came in
    # The plan version it was placed under: it settles at that version's rates, even after a plan
    # change. Stored, not answered; None for holds placed before holds recorded it.
    plan_id: str | None = Field(default=None, exclude=True)
    plan_version: int | None = Field(default=None, exclude=True)

    def active_part(self) -> ActiveHold:
        return ActiveHold(hold_id=self.hold_id, credits=self.credits, expires_at=self.expires_at)

    def stored(self) -> dict[str, Any]:
        # Metadata as JSON text, as usage events keep it: it replays exactly.
        placed_under = {"plan_id": self.plan_id, "plan_version": self.plan_version}
        return self.model_dump() | {"metadata": json.dumps(self.model_dump(mode="json")["metadata"])} | placed_under

    @classmethod
    def from_stored(cls, item: dict[str, Any]) -> Hold:
        return cls.model_validate(item | {"metadata": loads_exact(item.get("metadata") or "{}")})

    def as_of(self, now: datetime) -> Hold:
        """A hold past its expiry is expired, whether or not a change has written it off yet."""
        if self.status == "held" and self.has_expired(now):
            return self.model_copy(update={"status": "expired"})
        return self
