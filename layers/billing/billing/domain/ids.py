"""Server-chosen ids: ULIDs (48-bit millisecond time + 80 random bits, Crockford base32), so ids
sort by creation time. Two ids minted in the same millisecond keep their order (the ULID spec's
monotonic mode), but the second adds a random step, not one, so it cannot be guessed from the
first. Only the millisecond just used carries over: a moment in the future (a schedule's event
time, a test clock) never sticks, and ids of other milliseconds are random from scratch.
Hand-written because python-ulid's import costs ~30 ms of cold start (it reads its own package
metadata), a sixth of the budget, for these few lines."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

OrganizationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Residency = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,16}$")]
ServiceName = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")
]  # a producer service, as plans price it

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_STEP_BITS = 48  # up to 2^48 a step: ~2^32 ids fit in one millisecond before a fresh draw


class IdSequence:
    """Ids in the monotonic mode above: each sequence remembers only its own last millisecond, so
    ids minted for another purpose (at another moment) never break its order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (-1, 0)

    def new_id(self, moment: datetime) -> str:
        milliseconds = int(moment.timestamp() * 1000)
        with self._lock:
            last_ms, last_random = self._last
            step = int.from_bytes(os.urandom(_STEP_BITS // 8), "big") + 1
            if milliseconds == last_ms and last_random + step < 1 << _RANDOM_BITS:
                random_part = last_random + step
            else:
                random_part = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big")
            self._last = (milliseconds, random_part)
        value = (milliseconds << _RANDOM_BITS) | random_part
        return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


_ids = IdSequence()


def new_id(moment: datetime) -> str:
    return _ids.new_id(moment)


def first_id_at(moment: datetime) -> str:
    """The smallest id minted at `moment`'s millisecond: ids from [a, b) sort in [first_id_at(a), first_id_at(b))."""
    value = int(moment.timestamp() * 1000) << _RANDOM_BITS
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
