"""The holds function's request models."""

from __future__ import annotations

from typing import Literal

from .paging import PageQuery


class HoldsQuery(PageQuery):
    status: Literal["held", "settled", "released", "expired"] | None = None
