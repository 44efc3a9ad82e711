"""What a usage event carries beside its quantity: where it came from (a planner run, an
instrumentation session) and its guardrail flags. Apart from `usage`, so the credit domain's hold
records and the guardrail analytics name them without loading the usage domain's models (~4 ms of
a cold start, which neither those functions' stores nor their requests need)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from .values import free_text

SourceKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
SourceId = free_text(max_length=128, min_length=1)
GuardrailFlag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
EscalationCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class UsageSource(_Strict):
    kind: SourceKind
    id: SourceId


class Guardrail(_Strict):
    """Planner finalizations carry open escalation codes; instrumentation runs carry guardrail flags."""

    flags: list[GuardrailFlag] = Field(default_factory=list, max_length=20)
    escalation_codes: list[EscalationCode] = Field(default_factory=list, max_length=20)

    @field_validator("flags", "escalation_codes")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("must not repeat a value")
        return values
