"""The plan catalog's use cases against the in-memory store."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from msgspec.structs import replace
from pydantic import ValidationError

from billing.domain.clock import TestClock
from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.lab_standard import LAB_STANDARD_ID, lab_standard_terms
from billing.domain.plans import PlanTerms
from billing.services import catalog
from billing.services.unit_of_work import Billing

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def at(billing: Billing, moment: datetime) -> Billing:
    """The deployment with its test clock moved forward to `moment`."""
    if moment > billing.now():
        billing.clock.freeze(moment)
    return billing


def terms(**changes) -> PlanTerms:
    return lab_standard_terms().model_copy(update=changes)


def test_lab_standard_has_real_content():
    plan = lab_standard_terms()
    assert plan.base_fee_cents > 0 and plan.billing_cadence == "monthly" and plan.credit_allowance > 0
    assert plan.overage_rate_cents > 0 and plan.sla.tier
    assert {"planner", "instrumentation", "analytics"} <= set(plan.usage_rates)
    assert any(f.included for f in plan.features) and any(not f.included for f in plan.features)


def test_an_empty_sandbox_catalog_is_seeded_with_lab_standard_once():
    billing = Billing.in_memory(TestClock(at=NOW))
    first = catalog.list_catalog(at(replace(billing, sandbox=True), NOW), limit=50, cursor=None)
    second = catalog.list_catalog(at(replace(billing, sandbox=True), NOW + timedelta(seconds=1)), limit=50, cursor=None)
    assert [p.plan_id for p in first.items] == [LAB_STANDARD_ID]
    assert second.items == first.items
    assert billing.plans.version(LAB_STANDARD_ID, 2) is None


def test_a_production_catalog_is_never_seeded():
    billing = Billing.in_memory(TestClock(at=NOW))
    assert catalog.list_catalog(at(replace(billing, sandbox=False), NOW), limit=50, cursor=None).items == []
    assert billing.plans.current(LAB_STANDARD_ID) is None


def test_the_catalog_lists_active_plans_cheapest_first_and_pages():
    billing = Billing.in_memory(TestClock(at=NOW))
    for plan_id, fee in [("gold", 90_000), ("bronze", 10_000), ("silver", 50_000), ("retired", 1)]:
        catalog.publish_plan(billing, plan_id, terms(base_fee_cents=fee))
    catalog.archive_plan(billing, "retired")
    page = catalog.list_catalog(at(replace(billing, sandbox=True), NOW), limit=2, cursor=None)
    assert [p.plan_id for p in page.items] == ["bronze", "silver"]
    rest = catalog.list_catalog(at(replace(billing, sandbox=True), NOW), limit=2, cursor=page.next_cursor)
    assert [p.plan_id for p in rest.items] == ["gold"] and rest.next_cursor is None


def test_publishing_a_taken_plan_id_is_a_conflict():
    billing = Billing.in_memory(TestClock(at=NOW))
    catalog.publish_plan(billing, "genomics", terms())
    with pytest.raises(Conflict) as raised:
        catalog.publish_plan(billing, "genomics", terms(base_fee_cents=1))
    assert raised.value.code == "plan_exists"
    assert catalog.get_plan(billing, "genomics").base_fee_cents == lab_standard_terms().base_fee_cents


def test_revisions_add_versions_and_keep_the_old_ones_readable():
    billing = Billing.in_memory(TestClock(at=NOW))
    catalog.publish_plan(billing, "genomics", terms())
    revised = catalog.revise_plan(at(billing, NOW + timedelta(days=1)), "genomics", terms(base_fee_cents=1234))
    assert revised.version == 2 and revised.created_at == NOW and revised.updated_at == NOW + timedelta(days=1)
    assert catalog.get_plan(billing, "genomics").base_fee_cents == 1234
    assert catalog.get_plan(billing, "genomics", version=1).base_fee_cents == lab_standard_terms().base_fee_cents
    with pytest.raises(NotFound):
        catalog.get_plan(billing, "genomics", version=3)


def test_concurrent_revisions_each_get_their_own_version():
    billing = Billing.in_memory(TestClock(at=NOW))
    catalog.publish_plan(billing, "genomics", terms())
    results = []
    threads = [
        threading.Thread(
            target=lambda fee=fee: results.append(catalog.revise_plan(billing, "genomics", terms(base_fee_cents=fee)))
        )
        for fee in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.version for r in results) == list(range(2, 10))
    assert all(billing.plans.version("genomics", v) is not None for v in range(1, 10))


def test_archived_plans_cannot_be_revised_and_archiving_twice_is_harmless():
    billing = Billing.in_memory(TestClock(at=NOW))
    catalog.publish_plan(billing, "genomics", terms())
    assert catalog.archive_plan(billing, "genomics").status == "archived"
    assert catalog.archive_plan(at(billing, NOW + timedelta(hours=1)), "genomics").updated_at == NOW
    with pytest.raises(Conflict) as raised:
        catalog.revise_plan(billing, "genomics", terms())
    assert raised.value.code == "plan_archived"
    with pytest.raises(NotFound):
        catalog.archive_plan(billing, "nothing-here")


def test_bad_cursors_are_refused():
    billing = Billing.in_memory(TestClock(at=NOW))
    with pytest.raises(ValidationFailed):
        catalog.list_catalog(at(replace(billing, sandbox=False), NOW), limit=1, cursor="not-a-plan")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"base_fee_cents": -1}, "base_fee_cents"),
        ({"currency": "usd"}, "currency"),
        ({"usage_rates": {}}, "usage_rates"),
        ({"overage_policy": "maybe"}, "overage_policy"),
        ({"billing_cadence": "weekly"}, "billing_cadence"),
        (
            {"usage_rates": {"planner": {"unit": "run", "credits_per_unit": "0"}}},
            "usage_rates.planner.credits_per_unit",
        ),
        ({"credit_allowance": "0.0000001"}, "credit_allowance"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_plan_terms_refuse_bad_fields(change, field):
    raw = lab_standard_terms().model_dump() | change
    with pytest.raises(ValidationError) as raised:
        PlanTerms.model_validate(raw)
    assert field in {".".join(str(p) for p in e["loc"]) for e in raised.value.errors()}


def test_plan_terms_keep_decimals_exact():
    plan = PlanTerms.model_validate(lab_standard_terms().model_dump() | {"overage_rate_cents": Decimal("0.123456")})
    assert plan.overage_rate_cents == Decimal("0.123456")
    assert plan.model_dump(mode="json")["overage_rate_cents"] == "0.123456"
