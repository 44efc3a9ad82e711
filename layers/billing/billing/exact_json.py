"""JSON in, with every number bounded before it is converted.

`json.loads` hands number literals to Python's int() and Decimal(), whose costs grow with the
literal: `int(Decimal("1E+999999999999999999"))` never finishes, `1e99999999999999999999` makes
Decimal raise an arithmetic error, and a 4,301-digit integer takes the parser's own error path.
Here each literal is looked at as text first: one that no field of this API could hold becomes
an `OutOfRange` marker, which every validator refuses (a 422 naming the field), in microseconds.
Duplicate keys are refused too (a duplicated `quantity` must not be charged as the last one)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

# Far wider than any field accepts (credits < 10^12 with 6 decimals, cents < 10^12, ints < 2^63),
# far narrower than what makes int()/Decimal() slow. Fields apply their own, tighter bounds.
MAX_LITERAL_DIGITS = 40
MAX_EXPONENT = 40
_NUMBER = re.compile(r"-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?", re.ASCII)


class MalformedJson(json.JSONDecodeError):
    """Not JSON this API reads: syntax, nesting, duplicate keys, NaN/Infinity. A JSONDecodeError,
    so Powertools' own body validation (where a function opts into it) answers 400 as well."""

    def __init__(self, reason: str):
        super().__init__(reason, "", 0)

    def __str__(self) -> str:
        return self.msg


class OutOfRange:
    """A number literal too large, too small or too long for any field: kept as its (shortened)
    text, so a validator can say which field held it, and never converted."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text if len(text) <= 24 else text[:21] + "..."

    def __repr__(self) -> str:
        return f"OutOfRange({self.text})"


def _bounded(text: str) -> bool:
    found = _NUMBER.fullmatch(text)
    if not found:
        return False
    whole, fraction, exponent = found.group(1), found.group(2) or "", found.group(3)
    if len(whole) + len(fraction) > MAX_LITERAL_DIGITS or (exponent and len(exponent.lstrip("+-")) > 3):
        return False
    return not exponent or abs(int(exponent)) <= MAX_EXPONENT


def _integer(text: str) -> int | OutOfRange:
    return int(text) if _bounded(text) else OutOfRange(text)


def _decimal(text: str) -> Decimal | OutOfRange:
    return Decimal(text) if _bounded(text) else OutOfRange(text)


def _refuse_constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not a number this API accepts")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise MalformedJson(f'the key "{repeated[:64]}" appears more than once in one object')
    return found


def loads_exact(text: str | bytes) -> Any:
    """JSON with integers as int, other numbers as exact Decimal, out-of-range literals as
    `OutOfRange`; raises MalformedJson for anything that is not JSON this API reads."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")  # strictly: json.loads would also guess UTF-16 and UTF-32
        return json.loads(
            text, parse_int=_integer, parse_float=_decimal, parse_constant=_refuse_constant, object_pairs_hook=_object
        )
    except RecursionError:
        raise MalformedJson("it is nested too deeply") from None
    except MalformedJson:
        raise
    except UnicodeDecodeError:
        raise MalformedJson("it is not UTF-8 text") from None
    except ValueError as error:  # json.JSONDecodeError: say where, not Python's internals
        raise MalformedJson(_plain_reason(error)) from None


def _plain_reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg.lower()} at line {error.lineno}, column {error.colno}"
    return "it is not valid JSON"
