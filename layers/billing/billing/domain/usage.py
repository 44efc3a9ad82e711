"""Usage: what producer services report, priced in credits, and the per-period aggregate that
summaries, health and invoices read instead of scanning events."""
from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class UsageTotals(BaseModel):
    """A period's usage across services: all credits consumed and the part that was overage."""

    model_config = ConfigDict(frozen=True)

    credits: Decimal = Decimal(0)
    overage_credits: Decimal = Decimal(0)
