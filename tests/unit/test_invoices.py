"""Invoice composition: lines from the period aggregate, half-even cents per line, proration,
and exports whose rows add up to the total."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.domain.errors import RetryableConflict
from billing.domain.invoice_drafting import compose_invoice, whole_cents
from billing.domain.invoice_export import as_csv, as_json, major_units
from billing.domain.invoices import invoice_id
from billing.domain.lab_standard import lab_standard_terms
from billing.domain.periods import period_at
from billing.domain.plans import Plan
from billing.domain.subscriptions import SlaAcceptance, Subscription
from billing.domain.usage import PeriodUsage, ServiceUsage
from billing.services import invoices

from .world import ADMIN, NOW, World

START = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
PERIOD = period_at(START, "monthly", 0)  # Jan 31 -> Feb 28


def plan(**changes) -> Plan:
    return Plan.first_version("lab", lab_standard_terms().model_copy(update=changes), START)


def subscription(**changes) -> Subscription:
    fields = dict(
        subscription_id="01SUB",
        organization_id="org-1",
        plan_id="lab",
        plan_version=1,
        status="active",
        residency="us",
        billing_cadence="monthly",
        billing_cycle_anchor=START,
        sla_acceptance=SlaAcceptance(accepted_by="a", accepted_at=START, sla_tier="standard", sla_version="1"),
        current_period_start=PERIOD.start,
        current_period_end=PERIOD.end,
        credit_balance=0,
        allowance_balance=0,
        purchased_balance=0,
        ledger_seq=1,
        created_at=START,
    )
    return Subscription(**(fields | changes))


def usage(**overage_by_service: str) -> PeriodUsage:
    return PeriodUsage(
        services={
            s: ServiceUsage(quantity=Decimal(1), credits=Decimal(o), overage_credits=Decimal(o), events=1)
            for s, o in overage_by_service.items()
        }
    )


@pytest.mark.parametrize(
    "amount, cents",
    [("0.5", 0), ("1.5", 2), ("2.5", 2), ("3.5", 4), ("41.25", 41), ("6.25", 6), ("13.75", 14), ("-2.5", -2)],
)
def test_cents_round_half_even(amount, cents):
    assert whole_cents(Decimal(amount)) == cents


def test_worked_example_with_a_fractional_overage_rate():
    """Rate 12.5 cents a credit. Overage 3.3 -> 41.25 -> 41; 0.5 -> 6.25 -> 6; 1.1 -> 13.75 -> 14;
    0.3 -> 3.75 -> 4. Base fee 49,900. Total 49,900 + 41 + 6 + 14 + 4 = 49,965."""
    invoice = compose_invoice(
        subscription(),
        plan(overage_rate_cents=Decimal("12.5")),
        PERIOD,
        usage(instrumentation="3.3", analytics="0.5", planner="1.1", sequencing="0.3", quiet="0"),
        now=PERIOD.end,
    )
    lines = {(line.kind, line.service): line.amount_cents for line in invoice.line_items}
    assert lines == {
        ("base_fee", None): 49_900,
        ("overage", "analytics"): 6,
        ("overage", "instrumentation"): 41,
        ("overage", "planner"): 14,
        ("overage", "sequencing"): 4,
    }
    assert invoice.subtotal_cents == invoice.total_cents == 49_965
    rows = list(csv.DictReader(io.StringIO(as_csv(invoice))))
    assert len(rows) == len(invoice.line_items) and rows[0].keys() >= {
        "description",
        "quantity",
        "unit_amount_cents",
        "amount_cents",
    }
    assert sum(int(r["amount_cents"]) for r in rows) == int(rows[0]["invoice_total_cents"]) == 49_965
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal(rows[0]["invoice_total"]) == Decimal("499.65")
    assert {r["unit_amount_cents"] for r in rows if r["kind"] == "overage"} == {"12.5"}
    exported = as_json(invoice)
    assert (
        sum(line["amount_cents"] for line in exported["lines"]) == exported["total_cents"]
        and exported["total"] == "499.65"
    )


def test_rounding_each_line_differs_from_rounding_the_sum():
    invoice = compose_invoice(
        subscription(),
        plan(base_fee_cents=0, overage_rate_cents=Decimal("1")),
        PERIOD,
        usage(a="0.5", b="0.5", c="0.5"),
        now=PERIOD.end,
    )
    assert [line.amount_cents for line in invoice.line_items[1:]] == [
        0,
        0,
        0,
    ] and invoice.total_cents == 0  # not round(1.5) = 2


def test_a_period_cut_short_by_cancellation_prorates_the_base_fee():
    canceled_at = PERIOD.start + timedelta(days=7)  # 7 of the 28 days of February's period
    invoice = compose_invoice(
        subscription(status="canceled", canceled_at=canceled_at),
        plan(base_fee_cents=28_000),
        PERIOD,
        usage(),
        now=canceled_at,
    )
    [base] = invoice.line_items
    assert base.amount_cents == 7_000 and base.quantity == Decimal("0.25") and base.unit_amount_cents == 28_000
    assert "the larger of 7.0 of 28.0 days and 0 of 1000 allowance credits used" in base.description
    assert "canceled 2027-02-07" in base.description


def test_drafting_again_keeps_the_id_and_the_creation_time():
    first = compose_invoice(subscription(), plan(), PERIOD, usage(), now=PERIOD.end)
    again = compose_invoice(
        subscription(), plan(), PERIOD, usage(x="1"), now=PERIOD.end + timedelta(hours=1), previous=first
    )
    assert again.invoice_id == first.invoice_id == invoice_id("01SUB", PERIOD.start)
    assert again.created_at == first.created_at and again.updated_at > first.updated_at


def test_major_units_follow_the_currency_exponent():
    assert (major_units(49_965, "USD"), major_units(500, "JPY"), major_units(1234, "KWD"), major_units(-5, "EUR")) == (
        "499.65",
        "500",
        "1.234",
        "-0.05",
    )


def test_a_stale_draft_never_overwrites_a_newer_one():
    world = World()
    first, _ = invoices.draft_invoice(world.billing, ADMIN, world.sid, invoices.DraftRequest())
    newer, _ = invoices.draft_invoice(
        world.at(NOW + timedelta(minutes=1)).billing, ADMIN, world.sid, invoices.DraftRequest()
    )
    with pytest.raises(RetryableConflict):
        world.invoices.save_draft(
            first.model_copy(update={"updated_at": NOW + timedelta(minutes=2)}), first
        )  # built on the older read
    assert world.invoices.get(world.sid, first.invoice_id) == newer


def _allowance(amount: str = "1000", **changes):
    from billing.domain.grants import CreditGrant

    grant = CreditGrant.issue(
        subscription_id="01SUB",
        period_start=PERIOD.start,
        currency="USD",
        kind="allowance",
        amount=Decimal(amount),
        priority=0,
        reason="allowance",
        actor="close",
        now=PERIOD.start,
        effective_at=PERIOD.start,
        expires_at=PERIOD.end,
    )
    return grant.model_copy(update=changes)


def debited(credits: str) -> PeriodUsage:
    """Usage of `credits`, all of it paid by some grant (no overage)."""
    return PeriodUsage(
        services={"planner": ServiceUsage(quantity=Decimal(1), credits=Decimal(credits), overage_credits=0, events=1)}
    )


@pytest.mark.parametrize(
    "left_on_the_allowance, billed_cents",
    [
        ("1000", 7_000),  # a promotion paid all 1000 credits of usage: the allowance is whole, 7 of 28 days bill
        ("400", 16_800),  # the allowance itself paid 600 of its 1000: 60% of the fee
        ("0", 28_000),  # used up
    ],
)
def test_cancellation_prorates_by_what_the_allowance_grant_itself_paid(left_on_the_allowance, billed_cents):
    canceled_at = PERIOD.start + timedelta(days=7)
    allowance = _allowance()
    live = allowance.active_part().model_copy(update={"remaining": Decimal(left_on_the_allowance)})
    invoice = compose_invoice(
        subscription(status="canceled", canceled_at=canceled_at, grants=(live,) if live.remaining else ()),
        plan(base_fee_cents=28_000),
        PERIOD,
        debited("1000"),
        now=canceled_at,
        grants=[allowance if live.remaining else allowance.model_copy(update={"status": "depleted", "remaining": 0})],
    )
    [base] = invoice.line_items
    assert base.amount_cents == billed_cents
    used = 1000 - int(left_on_the_allowance)
    assert f"and {used} of 1000 allowance credits used" in base.description


def test_an_ended_allowance_grant_counts_what_it_paid_before_it_ended():
    """Drafted again after the close: the allowance expired with 250 left, so it paid 750."""
    canceled_at = PERIOD.start + timedelta(days=7)
    expired = _allowance(status="expired", remaining=Decimal(0), ended_amount=Decimal(250))
    invoice = compose_invoice(
        subscription(status="canceled", canceled_at=canceled_at, final_period_closed=True),
        plan(base_fee_cents=28_000),
        PERIOD,
        debited("5000"),
        now=canceled_at + timedelta(days=1),
        grants=[expired],
    )
    assert invoice.line_items[0].amount_cents == 21_000
