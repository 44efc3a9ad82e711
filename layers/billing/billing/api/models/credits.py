"""The credits function's request models."""

from __future__ import annotations

from typing import Literal

from .paging import PageQuery


class GrantsQuery(PageQuery):
    status: Literal["active", "depleted", "expired", "voided"] | None = None
