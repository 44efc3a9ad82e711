"""How every balance change runs: optimistic concurrency with bounded, jittered retries, and
idempotency keys whose first result is replayed to every retry of the same request."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from ..domain.errors import Conflict, RetryableConflict
from ..domain.idempotency import IdempotencyRecord, KeyAlreadyCommitted

if TYPE_CHECKING:
    from ..store.base import SubscriptionStore

Result = TypeVar("Result", bound=BaseModel)
RecordFor = Callable[[BaseModel], IdempotencyRecord | None]
Pause = Callable[[float], None]

# 24 attempts of full-jitter backoff wait ~3 s at worst: well inside the functions' 10 s timeout.
MAX_ATTEMPTS = 24
BACKOFF_BASE_SECONDS = 0.01
BACKOFF_CAP_SECONDS = 0.25


def with_retries(attempt: Callable[[], Result], *, pause: Pause = time.sleep) -> Result:
    """Run `attempt` until it stops losing races (RetryableConflict), with "full jitter" backoff
    so concurrent writers spread out. When the attempts run out nothing has been written and the
    caller gets a retryable 409."""
    for number in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except RetryableConflict:
            if number < MAX_ATTEMPTS - 1:
                pause(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**number)))
    raise RetryableConflict(
        "Too many concurrent changes to this subscription; nothing was written. Retry the request.",
        details={"retryable": True},
    )


def run_idempotently(
    store: SubscriptionStore,
    *,
    scope: str | None,
    fingerprint: str,
    result_type: type[Result],
    attempt: Callable[[RecordFor], Result],
    now: datetime,
    pause: Pause = time.sleep,
) -> tuple[Result, bool]:
    """Returns (result, replayed). `attempt(record_for)` builds its result, then commits
    `record_for(result)` atomically with its change. A request whose key has already committed
    gets that first result back, or 422 `idempotency_key_reused` when its body differs."""
    if scope is not None:
        recorded = store.idempotency_record(scope)
        if recorded is not None and recorded.is_live(now):
            return result_type.model_validate(recorded.replay_for(fingerprint)), True

    attempted: list[dict] = []  # what our own attempts tried to commit under the key

    def record_for(result: BaseModel) -> IdempotencyRecord | None:
        if scope is None:
            return None
        record = IdempotencyRecord.completed(scope, fingerprint, result, now)
        attempted.append(record.result)
        return record

    try:
        return with_retries(lambda: attempt(record_for), pause=pause), False
    except KeyAlreadyCommitted:
        # The key committed first: a twin's commit (answer as it did), or our own attempt whose
        # answer was lost and retried (then this request did the work: not a replay).
        recorded = store.idempotency_record(scope)
        first = result_type.model_validate(recorded.replay_for(fingerprint))
        return first, recorded.result not in attempted
    except (Conflict, RetryableConflict):
        # Refused for the state it found (balance floor, canceled, contention)? If the key committed
        # meanwhile, that state is the committed change's doing: answer as it did. It may be our own
        # attempt, whose answer was lost (an SDK retry of a commit that had landed): then this
        # request did the work, and it is no replay.
        recorded = store.idempotency_record(scope) if scope is not None else None
        if recorded is not None and recorded.is_live(now):
            return result_type.model_validate(recorded.replay_for(fingerprint)), recorded.result not in attempted
        raise
