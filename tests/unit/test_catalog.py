"""The plan catalog's use cases against the in-memory store."""
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.lab_standard import LAB_STANDARD_ID, lab_standard_terms
from billing.domain.plans import PlanTerms
from billing.services import catalog
from billing.store.memory import InMemoryPlanStore

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def terms(**changes) -> PlanTerms:
    return lab_standard_terms().model_copy(update=changes)


def test_lab_standard_has_real_content():
    plan = lab_standard_terms()
    assert plan.base_fee_cents > 0 and plan.billing_cadence == "monthly" and plan.credit_allowance > 0
    assert plan.overage_rate_cents > 0 and plan.sla.tier
    assert {"planner", "instrumentation", "analytics"} <= set(plan.usage_rates)
    assert any(f.included for f in plan.features) and any(not f.included for f in plan.features)


def test_an_empty_sandbox_catalog_is_seeded_with_lab_standard_once():
    plans = InMemoryPlanStore()
    first = catalog.list_catalog(plans, sandbox=True, now=NOW, limit=50, cursor=None)
    second = catalog.list_catalog(plans, sandbox=True, now=NOW + timedelta(seconds=1), limit=50, cursor=None)
    assert [p.plan_id for p in first.items] == [LAB_STANDARD_ID]
    assert second.items == first.items
    assert plans.version(LAB_STANDARD_ID, 2) is None


def test_a_production_catalog_is_never_seeded():
    plans = InMemoryPlanStore()
    assert catalog.list_catalog(plans, sandbox=False, now=NOW, limit=50, cursor=None).items == []
    assert plans.current(LAB_STANDARD_ID) is None


def test_the_catalog_lists_active_plans_cheapest_first_and_pages():
    plans = InMemoryPlanStore()
    for plan_id, fee in [("gold", 90_000), ("bronze", 10_000), ("silver", 50_000), ("retired", 1)]:
        catalog.publish_plan(plans, plan_id, terms(base_fee_cents=fee), now=NOW)
    catalog.archive_plan(plans, "retired", now=NOW)
    page = catalog.list_catalog(plans, sandbox=True, now=NOW, limit=2, cursor=None)
    assert [p.plan_id for p in page.items] == ["bronze", "silver"]
    rest = catalog.list_catalog(plans, sandbox=True, now=NOW, limit=2, cursor=page.next_cursor)
    assert [p.plan_id for p in rest.items] == ["gold"] and rest.next_cursor is None


def test_publishing_a_taken_plan_id_is_a_conflict():
    plans = InMemoryPlanStore()
    catalog.publish_plan(plans, "genomics", terms(), now=NOW)
    with pytest.raises(Conflict) as raised:
        catalog.publish_plan(plans, "genomics", terms(base_fee_cents=1), now=NOW)
    assert raised.value.code == "plan_exists"
    assert catalog.get_plan(plans, "genomics").base_fee_cents == lab_standard_terms().base_fee_cents


def test_revisions_add_versions_and_keep_the_old_ones_readable():
    plans = InMemoryPlanStore()
    catalog.publish_plan(plans, "genomics", terms(), now=NOW)
    revised = catalog.revise_plan(plans, "genomics", terms(base_fee_cents=1234), now=NOW + timedelta(days=1))
    assert revised.version == 2 and revised.created_at == NOW and revised.updated_at == NOW + timedelta(days=1)
    assert catalog.get_plan(plans, "genomics").base_fee_cents == 1234
    assert catalog.get_plan(plans, "genomics", version=1).base_fee_cents == lab_standard_terms().base_fee_cents
    with pytest.raises(NotFound):
        catalog.get_plan(plans, "genomics", version=3)


def test_concurrent_revisions_each_get_their_own_version():
    plans = InMemoryPlanStore()
    catalog.publish_plan(plans, "genomics", terms(), now=NOW)
    results = []
    threads = [threading.Thread(target=lambda fee=fee: results.append(catalog.revise_plan(plans, "genomics", terms(base_fee_cents=fee), now=NOW))) for fee in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.version for r in results) == list(range(2, 10))
    assert all(plans.version("genomics", v) is not None for v in range(1, 10))


def test_archived_plans_cannot_be_revised_and_archiving_twice_is_harmless():
    plans = InMemoryPlanStore()
    catalog.publish_plan(plans, "genomics", terms(), now=NOW)
    assert catalog.archive_plan(plans, "genomics", now=NOW).status == "archived"
    assert catalog.archive_plan(plans, "genomics", now=NOW + timedelta(hours=1)).updated_at == NOW
    with pytest.raises(Conflict) as raised:
        catalog.revise_plan(plans, "genomics", terms(), now=NOW)
    assert raised.value.code == "plan_archived"
    with pytest.raises(NotFound):
        catalog.archive_plan(plans, "nothing-here", now=NOW)


def test_bad_cursors_are_refused():
    plans = InMemoryPlanStore()
    with pytest.raises(ValidationFailed):
        catalog.list_catalog(plans, sandbox=False, now=NOW, limit=1, cursor="not-a-plan")


@pytest.mark.parametrize(
    "change, field",
    [({"base_fee_cents": -1}, "base_fee_cents"), ({"currency": "usd"}, "currency"), ({"usage_rates": {}}, "usage_rates"),
     ({"overage_policy": "maybe"}, "overage_policy"), ({"billing_cadence": "weekly"}, "billing_cadence"),
     ({"usage_rates": {"planner": {"unit": "run", "credits_per_unit": "0"}}}, "usage_rates.planner.credits_per_unit"),
     ({"credit_allowance": "0.0000001"}, "credit_allowance"), ({"surprise": 1}, "surprise")],
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
