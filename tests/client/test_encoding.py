"""What the client puts in a request body: decimals as exact fixed-point strings (the OpenAPI
document's decimal form), instants as RFC 3339 UTC with milliseconds, never a float."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from marketplace_billing import UsageRecord, sequence_analysis
from marketplace_billing._http import to_json

pytestmark = pytest.mark.client


def test_decimals_are_sent_exactly_in_fixed_point():
    assert to_json({"quantity": Decimal("1E+2"), "amount": Decimal("-0.000001"), "n": 3}) == {
        "quantity": "100",
        "amount": "-0.000001",
        "n": 3,
    }


def test_instants_are_sent_in_utc_with_milliseconds():
    lab_time = datetime(2026, 11, 24, 11, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert to_json(lab_time) == "2026-11-24T10:30:00.123Z"
    with pytest.raises(ValueError, match="time zone"):
        to_json(datetime(2026, 11, 24))


def test_floats_are_refused_before_anything_is_sent():
    with pytest.raises(TypeError, match="floats are not exact"):
        to_json({"quantity": 0.1})
    with pytest.raises(ValueError, match="floats are not exact"):
        UsageRecord(organization_id="o", service="planner", quantity=0.1)


def test_a_usage_record_is_the_post_usage_body_without_unset_fields():
    record = sequence_analysis(
        "org-helix", "seq-1", units=Decimal("96.5"), occurred_at=datetime(2026, 11, 24, tzinfo=UTC)
    )
    assert to_json(record) == {
        "organization_id": "org-helix",
        "service": "analytics",
        "quantity": "96.5",
        "idempotency_key": "sequence_analysis:seq-1",
        "occurred_at": "2026-11-24T00:00:00.000Z",
        "source": {"kind": "sequence_analysis", "id": "seq-1"},
    }
