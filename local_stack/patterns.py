"""Event patterns, as EventBridge rules and Lambda's FilterCriteria match them (the part this
template uses): nested objects, lists of allowed values (any element of an array may match), and
`{"prefix": ...}`."""

from __future__ import annotations

from typing import Any


def matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    if isinstance(pattern, list):
        return any(
            isinstance(v, str) and v.startswith(option["prefix"]) if isinstance(option, dict) else v == option
            for option in pattern
            for v in (value if isinstance(value, list) else [value])
        )
    return pattern == value
