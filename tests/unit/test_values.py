"""Exact values: credits as decimals, money as cents, RFC 3339 timestamps, exact JSON."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.domain.errors import ValidationFailed
from billing.domain.lab_standard import lab_standard_terms
from billing.domain.plans import PlanTerms, UsageRate
from billing.domain.usage import PeriodUsage, ServiceUsage, UsageRequest, price
from billing.domain.values import (
    format_decimal,
    format_timestamp,
    parse_timestamp,
    round_credits,
    to_cents,
    to_exact_decimal,
)
from billing.exact_json import MalformedJson, OutOfRange, loads_exact
from billing.services import usage_reporting

from .world import ADMIN, World


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("12.5", Decimal("12.5")),
        (12, Decimal(12)),
        (Decimal("1.000000"), Decimal(1)),
        (" 0.000001 ", Decimal("0.000001")),
        ("1e3", Decimal(1000)),
        ("-3.25", Decimal("-3.25")),
        ("999999999999.999999", Decimal("999999999999.999999")),
    ],
)
def test_exact_decimals_are_accepted(raw, expected):
    assert to_exact_decimal(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "NaN",
        "Infinity",
        "-inf",
        "1e12",
        "1000000000000",
        "0.0000001",
        "1e-7",
        "abc",
        "",
        True,
        None,
        0.1,
        [],
        "1e400",
        "1e1000000",
        "-1E+9999999",
    ],
)
def test_inexact_or_out_of_range_values_are_refused(raw):
    with pytest.raises(ValueError):
        to_exact_decimal(raw)


def test_decimals_format_without_exponent_or_trailing_zeros():
    assert format_decimal(Decimal("12.50")) == "12.5"
    assert format_decimal(Decimal("1E+3")) == "1000"
    assert format_decimal(Decimal("-0.0")) == "0"
    assert format_decimal(Decimal("0.000001")) == "0.000001"


@given(
    st.decimals(
        min_value=Decimal("-999999999999.999999"),
        max_value=Decimal("999999999999.999999"),
        places=6,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_credits_survive_a_round_trip_through_their_json_string(value):
    assert to_exact_decimal(format_decimal(value)) == value


def test_credit_rounding_is_half_even_at_six_places():
    assert round_credits(Decimal("0.0000005")) == Decimal("0.000000")
    assert round_credits(Decimal("0.0000015")) == Decimal("0.000002")
    assert round_credits(Decimal("2.0000025")) == Decimal("2.000002")


@pytest.mark.parametrize(
    "raw, ok",
    [(100, True), (Decimal("100.0"), True), (Decimal("100.5"), False), ("100", False), (True, False), (10**13, False)],
)
def test_cents_are_whole_numbers(raw, ok):
    if ok:
        assert to_cents(raw) == 100
    else:
        with pytest.raises(ValueError):
            to_cents(raw)


def test_timestamps_are_rfc3339_utc():
    moment = parse_timestamp("2026-11-24T11:00:00+01:00")
    assert moment == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-11-24T10:00:00Z"
    assert format_timestamp(parse_timestamp("2026-11-24T10:00:00.123456789Z")) == "2026-11-24T10:00:00.123Z"
    for bad in ("2026-11-24", "2026-11-24T10:00:00", "yesterday", 1795860000):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_json_numbers_parse_exactly_and_nan_is_refused():
    body = loads_exact('{"a": 0.1, "b": 12345678901.123456, "c": 7}')
    assert body == {"a": Decimal("0.1"), "b": Decimal("12345678901.123456"), "c": 7}
    assert isinstance(body["a"], Decimal)
    for bad in ('{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'):
        with pytest.raises(ValueError):
            loads_exact(bad)


def test_ids_are_ulids_that_sort_by_creation_time():
    from datetime import timedelta

    from billing.domain.ids import new_id

    start = datetime(2030, 1, 1, tzinfo=UTC)  # later than any id minted before in this process
    ids = [new_id(start + timedelta(milliseconds=ms)) for ms in (0, 1, 1000, 86_400_000)]
    assert all(len(i) == 26 and set(i) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for i in ids)
    assert ids == sorted(ids)
    same_moment = [new_id(datetime(2031, 1, 1, tzinfo=UTC)) for _ in range(1000)]
    assert same_moment == sorted(same_moment) and len(set(same_moment)) == 1000
    assert new_id(datetime(2032, 1, 1, tzinfo=UTC))[:10] == "01RY52G300"  # 48-bit ms time, Crockford base32


def test_out_of_range_inputs_are_refused_not_crashes():
    with pytest.raises(ValidationError):
        UsageRequest(organization_id="o", service="s", quantity=1, idempotency_key="k", metadata={"n": 10**40})
    terms = lab_standard_terms().model_dump() | {
        "features": [{"key": "seats", "label": "Seats", "included": True, "limit": 10**40}]
    }
    with pytest.raises(ValidationError):
        PlanTerms.model_validate(terms)
    with pytest.raises(ValidationFailed):
        price(Decimal("99999999999"), UsageRate(unit="run", credits_per_unit=Decimal("99999999999")))
    with pytest.raises(ValueError):
        to_cents(Decimal("1E+1000000"))  # refused by magnitude before int() could take seconds
    world = World()
    for far in (datetime(9999, 12, 31, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)):
        with pytest.raises(ValidationFailed):
            usage_reporting.usage_summary(world.billing, ADMIN, world.sid, period_start=far)


@pytest.mark.parametrize("literal", ["1E+999999999999999999", "1e-99999", "9" * 41, "0." + "0" * 40 + "1"])
def test_number_literals_no_field_holds_are_kept_as_text_never_converted(literal):
    parsed = loads_exact('{"n": ' + literal + "}")["n"]
    assert isinstance(parsed, OutOfRange)
    with pytest.raises(ValueError, match="out of range"):
        to_exact_decimal(parsed)


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', '{"a": NaN}', "[" * 5000 + "]" * 5000, '{"a": 1'])
def test_json_this_api_does_not_read_is_malformed(text):
    with pytest.raises(MalformedJson):
        loads_exact(text)


def test_totals_add_up_exactly_past_28_digits():
    big, small = Decimal("12345678901234567890123.000001"), Decimal("0.000001")
    parts = [PeriodUsage(services={"x": ServiceUsage(credits=amount, quantity=amount)}) for amount in (big, small)]
    merged = PeriodUsage.merged(parts)
    assert merged.services["x"].credits == merged.totals.credits == Decimal("12345678901234567890123.000002")
    assert format_decimal(merged.totals.credits) == "12345678901234567890123.000002"
