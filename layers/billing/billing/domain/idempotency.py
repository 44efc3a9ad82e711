"""Idempotency keys. A key is scoped (e.g. to an organization) and bound to the fingerprint of
the request it first came with; its record holds that request's result, kept well past any
client's retry window (Stripe keeps 24 h, Metronome 34 days: we keep 35)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from .errors import FieldRefusal
from .values import UtcTimestamp

RETENTION = timedelta(days=35)
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, no spaces
IdempotencyKey = Annotated[str, StringConstraints(pattern=IDEMPOTENCY_KEY_PATTERN)]


class IdempotencyKeyReused(FieldRefusal):
    code = "idempotency_key_reused"


class KeyAlreadyCommitted(Exception):
    """A store signal: another request with this idempotency key committed first."""


class IdempotencyRecord(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    scope: str
    fingerprint: str
    result: dict[str, Any]
    created_at: UtcTimestamp
    expires_at: UtcTimestamp

    @classmethod
    def completed(cls, scope: str, fingerprint: str, result: BaseModel, now: datetime) -> IdempotencyRecord:
        return cls(
            scope=scope,
            fingerprint=fingerprint,
            result=result.model_dump(mode="json"),
            created_at=now,
            expires_at=now + RETENTION,
        )

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at

    def replay_for(self, fingerprint: str) -> dict[str, Any]:
        """The first result, if this is the same request again; else the key was reused."""
        if fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(
                "This idempotency key was already used with a different request body.", field="idempotency_key"
            )
        return self.result


def fingerprint(request: BaseModel, *context: str) -> str:
    """The same request (after validation, so "12.50" and 12.5 agree) gives the same fingerprint."""
    canonical = json.dumps([list(context), request.model_dump(mode="json")], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def scope_key(kind: str, owner: str, key: str) -> str:
    return f"{kind}#{owner}#{key}"
