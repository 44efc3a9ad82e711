"""Exact value types shared by every record: credits and rates as decimals, money as integer
cents, RFC 3339 UTC timestamps. Requests may send credits as JSON numbers or strings; inside
they are always `Decimal` (never binary floating point), and JSON out always sends strings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le
from pydantic import AfterValidator, BeforeValidator, PlainSerializer, StringConstraints

from ..exact_json import OutOfRange
from .clock import to_milliseconds

FRACTION_DIGITS = 6
CREDIT_QUANTUM = Decimal(1).scaleb(-FRACTION_DIGITS)  # 0.000001
MAGNITUDE_LIMIT = Decimal(10) ** 12  # one amount: a quantity, a rate, a top-up, a balance
MAX_CENTS = 10**12 - 1  # one amount of money: a base fee, a price
# Totals that add up many amounts (period aggregates, an invoice's overage). DynamoDB keeps 38
# significant digits; a period gains < 10^12 an event, and one subscription item takes at most
# ~1,000 writes a second (97 events each), so even an annual period tops out near 3 x 10^24: the
# bound is headroom, not a refusal anything can reach. Sums run in a 60-digit context (exact).
TOTAL_LIMIT = Decimal(10) ** 26
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)
_OUT_OF_RANGE = "is out of range: credits, quantities and rates are below 10^12 with at most 6 decimals"


def _as_decimal(value: Any) -> Decimal:
    """A JSON number or a decimal string as a Decimal, refusing in constant time what no field
    holds: floats, booleans, Unicode digits, underscores, exponents beyond three digits."""
    if isinstance(value, OutOfRange):
        raise ValueError(_OUT_OF_RANGE)
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a decimal number or a decimal string")
    if isinstance(value, float):
        # Only reachable from Python callers: the JSON parser hands us Decimals.
        raise ValueError("binary floating point is not accepted; send a decimal string")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 64 or not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError('must be a decimal number such as "12.5" (ASCII digits, no separators)')
        return Decimal(text)
    raise ValueError("must be a decimal number or a decimal string")


def to_exact_decimal(value: Any) -> Decimal:
    """Parse a credit/quantity/rate: finite, below 10^12 in magnitude, at most 6 fractional digits."""
    return _bounded_decimal(_as_decimal(value), MAGNITUDE_LIMIT)


def _bounded_decimal(number: Decimal, limit: Decimal) -> Decimal:
    if not number.is_finite():
        raise ValueError("must be a finite number")
    if number.copy_abs() >= limit:  # copy_abs: no context, so 1E+1000000 cannot overflow
        raise ValueError(f"must be below 10^{limit.adjusted()} in magnitude")
    if number.as_tuple().exponent < -FRACTION_DIGITS and number != round_credits(number):
        raise ValueError(f"must have at most {FRACTION_DIGITS} fractional digits")
    with exact_sums():  # normalize() rounds to the context precision: 28 digits would cut a total
        return number.normalize() if number else Decimal(0)


def to_total(value: Any) -> Decimal:
    """A stored or computed total (aggregates, invoice overage): exact, 6 decimals, below 10^26."""
    return _bounded_decimal(_as_decimal(value), TOTAL_LIMIT)


def format_decimal(value: Decimal) -> str:
    """Plain positional notation, no exponent, no trailing zeros: Decimal('12.50') -> '12.5'."""
    if not value:
        return "0"
    with exact_sums():
        return format(value.normalize(), "f")


def exact_sums():
    """A decimal context wide enough that sums of totals (below 10^26, 6 decimals) stay exact."""
    return localcontext(prec=60)


def round_credits(value: Decimal) -> Decimal:
    """Credits are kept to 6 fractional digits, rounded half-even (banker's rounding). The wide
    context lets a product of two in-range values (up to 10^24) round instead of failing."""
    with localcontext() as wide:
        wide.prec = 60
        return value.quantize(CREDIT_QUANTUM, rounding=ROUND_HALF_EVEN)


INT64 = range(-(2**63), 2**63)  # the whole numbers free-form fields hold: DynamoDB's 38 digits, with room
BoundedInt = Annotated[int, Ge(INT64.start), Le(INT64.stop - 1)]


# One strictness for every count and switch: pydantic's lax mode would take "5" and true as
# integers and "yes", 1 as booleans, while money ("100" cents) was already refused. A JSON number
# or a JSON boolean, as the contract types them; stored items read back (DynamoDB numbers are
# Decimals) pass the same check.


def to_whole_number(value: Any) -> int:
    """A count (priority, max_per_period, seconds, a version): a JSON number without a fraction."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError("must be a whole number (a JSON number, not a string)")
    if isinstance(value, Decimal):
        if not value.is_finite() or value.copy_abs() >= INT64.stop or value != value.to_integral_value():
            raise ValueError("must be a whole number")
        value = int(value)
    if value not in INT64:
        raise ValueError("must be a whole number below 2^63 in magnitude")
    return value


def to_flag(value: Any) -> bool:
    """A switch: JSON true or false, nothing else ("yes", 1, "true" are refused)."""
    if not isinstance(value, bool):
        raise ValueError("must be true or false (a JSON boolean)")
    return value


WholeNumber = Annotated[int, BeforeValidator(to_whole_number)]
Flag = Annotated[bool, BeforeValidator(to_flag)]


def to_cents(value: Any) -> int:
    """Money: a whole number of minor units. Accepts integral JSON numbers, nothing else."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError("must be a whole number of cents below 10^12")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("must be a whole number of cents")
    if (
        value.copy_abs() if isinstance(value, Decimal) else abs(value)
    ) > MAX_CENTS:  # before int(), which takes seconds on 1E+1000000
        raise ValueError("must be below 10^12 cents in magnitude")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError("must be a whole number of cents")
        value = int(value)
    return value


_as_json_string = PlainSerializer(format_decimal, return_type=str, when_used="json")

ExactDecimal = Annotated[Decimal, BeforeValidator(to_exact_decimal), _as_json_string]
Credits = ExactDecimal
NonNegativeDecimal = Annotated[Decimal, BeforeValidator(to_exact_decimal), Ge(0), _as_json_string]
PositiveDecimal = Annotated[Decimal, BeforeValidator(to_exact_decimal), Gt(0), _as_json_string]
TotalCredits = Annotated[Decimal, BeforeValidator(to_total), _as_json_string]
Cents = Annotated[int, BeforeValidator(to_cents)]
NonNegativeCents = Annotated[int, BeforeValidator(to_cents), Ge(0)]


# --- free text ----------------------------------------------------------------------------------

# Bidirectional controls make text display otherwise than it reads (U+202E turns "exe.pdf" into
# "fdp.exe" on screen, on an invoice, in a ledger reason). Ids refuse them by their patterns; every
# free text refuses them here, in one type, whatever its length.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# Control characters other than tab and line breaks (NUL, escape, delete...) print as nothing or
# as damage on a document, a terminal or a spreadsheet; no name or reason needs one.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(cell: str) -> str:
    """A text cell a spreadsheet would run as a formula (`=HYPERLINK(...)`, `+cmd|...`, `-1+1`,
    `@SUM(...)`) gets a leading `'`, which shows the text as typed (OWASP's CSV injection advice)."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def plain_text(text: str) -> str:
    if _BIDI_CONTROLS.search(text):
        raise ValueError("must not contain bidirectional control characters (such as U+202E, right-to-left override)")
    if _UNPRINTABLE.search(text):
        raise ValueError("must not contain control characters (such as NUL or escape)")
    return text


def free_text(*, max_length: int, min_length: int | None = None, strip: bool = False) -> Any:
    """The one type of free text (names, labels, descriptions, reasons, units): its bounds, and
    no bidirectional controls."""
    bounds = StringConstraints(strip_whitespace=strip, min_length=min_length, max_length=max_length)
    return Annotated[str, bounds, AfterValidator(plain_text)]


# --- time ---------------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with a `Z`; milliseconds only when there are any (the contract's precision,
    which the clocks and parse_timestamp already keep to)."""
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond >= 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


EARLIEST_YEAR, LATEST_YEAR = 1900, 9000  # far outside any billing time; far inside what datetime holds


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 instant, in UTC, between the years 1900 and 9000: a moment nearer datetime's own
    limits would overflow in the arithmetic that follows (an offset, a period, a window). Kept to
    the millisecond, like the clocks: what is stored is what is answered."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (RFC 3339)")
        return to_milliseconds(_in_range(value.astimezone(UTC)))
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp such as 2026-11-24T10:00:00Z")
    text = value.upper().replace(" ", "T").replace("Z", "+00:00")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds; drop finer digits
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    if not EARLIEST_YEAR <= int(text[:4]) <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    try:
        return to_milliseconds(_in_range(datetime.fromisoformat(text).astimezone(UTC)))
    except (ValueError, OverflowError):
        raise ValueError("must be a valid RFC 3339 timestamp") from None


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return moment


UtcTimestamp = Annotated[
    datetime, BeforeValidator(parse_timestamp), PlainSerializer(format_timestamp, return_type=str, when_used="json")
]


# --- document text -------------------------------------------------------------------------------

# Text printed on invoices and credit notes (a billing profile's name and address, a credit note's
# reason): free text that is also one line, with no control characters (a newline or NUL would
# break a CSV row or a PDF line; U+2028/9 are Unicode's line breaks).
_LINE_BREAKS_AND_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    if _LINE_BREAKS_AND_CONTROLS.search(text):
        raise ValueError("must be one line without control characters (such as a line break or a tab)")
    return text


def document_text(*, max_length: int = 200, min_length: int = 1) -> Any:
    """Free text printed on documents: trimmed, bounded, no bidirectional controls, one line."""
    return Annotated[free_text(max_length=max_length, min_length=min_length, strip=True), AfterValidator(one_line)]
