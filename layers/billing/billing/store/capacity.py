"""Write units a transaction consumes, by DynamoDB's published sizing rules: an item's size is its
attribute names plus values; writes round up to 1 KB per item; transactional writes count twice;
each index entry a write creates is one more (non-transactional) write. moto reports no real
capacity, so the store estimates it this way; on AWS, ReturnConsumedCapacity gives the bill."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict


class WriteUnits(BaseModel):
    model_config = ConfigDict(defer_build=True)

    table: float
    indexes: float

    @property
    def total(self) -> float:
        return self.table + self.indexes

    def per(self, count: int) -> dict[str, float]:
        count = max(count, 1)
        return {
            "table": round(self.table / count, 3),
            "indexes": round(self.indexes / count, 3),
            "total": round(self.total / count, 3),
        }


def _value_size(attribute: dict[str, Any]) -> int:
    ((kind, raw),) = attribute.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = len(Decimal(raw).normalize().as_tuple().digits)
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in raw)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v).encode()) for v in raw)
    return len(str(raw))


def item_size(attributes: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in attributes.items())


def kilobytes(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def transactional(item_sizes: list[int], *, index_entry_sizes: list[int] = ()) -> WriteUnits:
    return WriteUnits(
        table=float(sum(2 * kilobytes(s) for s in item_sizes)),
        indexes=float(sum(kilobytes(s) for s in index_entry_sizes)),
    )
