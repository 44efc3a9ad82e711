"""Where a usage event or a hold came from (a planner run, an instrumentation session). Apart from
`usage`, so the credit domain's hold records name a source without loading the usage domain's
models (~8 ms of every credit function's cold start)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from .values import free_text

SourceKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
SourceId = free_text(max_length=128, min_length=1)


class UsageSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: SourceKind
    id: SourceId
