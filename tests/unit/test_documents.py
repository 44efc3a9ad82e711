"""Invoices as documents on the in-memory twin (credit notes: per-line limits, numbers, the grant in
the same write, replays, voiding refused) and the PDF renderer itself (text extractable, Unicode
names, hostile text made printable, loaded by no function's cold start)."""

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from billing.domain.billing_profiles import SANDBOX_ISSUER, BillingProfile, BillingProfileRequest
from billing.domain.credit_notes import CreditNoteRequest
from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.idempotency import IdempotencyKeyReused
from billing.services import billing_profiles, credit_notes, credits, invoices
from billing.services.credits import CreditChangeRequest

from .lambda_env import function_environment
from .world import ADMIN, World, no_pause

ROOT = Path(__file__).resolve().parents[2]
EXPORT_FUNCTION = ROOT / "functions" / "document_export"


def issued_world() -> tuple[World, object]:
    """Lab Standard with 5 credits of overage, its first period invoiced and issued."""
    world = World()
    world.record("over", "1005")
    end = world.subscription.current_period_end + timedelta(minutes=1)
    world.at(end).invoicing_run(end)
    draft = world.invoices.latest_for_period(world.sid, world.subscription.current_period_start)
    issued = invoices.issue_invoice(world.billing, ADMIN, world.sid, draft.invoice_id, pause=no_pause)
    return world, issued


def note(*lines, key="k1", **more) -> CreditNoteRequest:
    return CreditNoteRequest.model_validate(
        {"lines": [{"line": n, "amount_cents": c} for n, c in lines], "reason": "fault", "idempotency_key": key} | more
    )


def test_credit_notes_never_give_back_more_than_a_line_billed_and_numbers_run_on():
    world, invoice = issued_world()
    overage = invoice.line_items[1].amount_cents
    first, replayed = credit_notes.issue_credit_note(
        world.billing, ADMIN, world.sid, invoice.invoice_id, note((1, overage - 1)), pause=no_pause
    )
    assert not replayed and first.number == "CN-000001" and first.total_cents == overage - 1
    again, replayed = credit_notes.issue_credit_note(
        world.billing, ADMIN, world.sid, invoice.invoice_id, note((1, overage - 1)), pause=no_pause
    )
    assert replayed and again.model_dump(mode="json") == first.model_dump(mode="json")
    with pytest.raises(IdempotencyKeyReused):
        credit_notes.issue_credit_note(world.billing, ADMIN, world.sid, invoice.invoice_id, note((1, 1), reason="x"))
    with pytest.raises(ValidationFailed) as refused:
        credit_notes.issue_credit_note(world.billing, ADMIN, world.sid, invoice.invoice_id, note((1, 2), key="k2"))
    assert [f["field"] for f in refused.value.fields] == ["lines.0.amount_cents"]
    second, _ = credit_notes.issue_credit_note(
        world.billing, ADMIN, world.sid, invoice.invoice_id, note((1, 1), key="k3"), pause=no_pause
    )
    assert second.number == "CN-000002"
    credited = invoices.get_invoice(world.billing, ADMIN, world.sid, invoice.invoice_id)
    assert credited.credited_cents == overage and credited.amount_due_cents == credited.total_cents - overage
    with pytest.raises(Conflict) as voiding:
        invoices.void_invoice(world.billing, ADMIN, world.sid, invoice.invoice_id, pause=no_pause)
    assert voiding.value.code == "invoice_credited"
    issued_events = [e for e in world.subscriptions.outbox if e.detail_type == "CreditNoteIssued"]
    assert [e.detail["credit_note"]["number"] for e in issued_events] == ["CN-000001", "CN-000002"]


def test_granted_credits_land_on_the_active_subscription_with_the_note():
    world, invoice = issued_world()
    granted, _ = credit_notes.issue_credit_note(
        world.billing, ADMIN, world.sid, invoice.invoice_id, note((0, 100), grant_credits="7.5"), pause=no_pause
    )
    grant = world.subscriptions.grant(world.subscriptions.get(world.sid), granted.grant_id)
    assert (grant.kind, grant.amount, grant.expires_at) == ("promotional", Decimal("7.5"), None)
    assert world.ledger()[-1].reference == f"credit_note:{granted.credit_note_id}"


def interfering(world: World, meanwhile) -> None:
    """Run `meanwhile` once, after the note's first attempt has read the invoice and the counter."""
    read = world.invoices.next_credit_note_number
    pending = [meanwhile]

    def next_number():
        answer = read()
        while pending:
            pending.pop()()
        return answer

    world.invoices.next_credit_note_number = next_number


def test_a_note_and_its_grant_commit_together_when_the_credits_move_under_them():
    world, invoice = issued_world()
    top_up = CreditChangeRequest.model_validate(
        {"type": "top_up", "amount": "1", "reason": "meanwhile", "idempotency_key": "t1"}
    )
    interfering(world, lambda: credits.change_credits(world.billing, ADMIN, world.sid, top_up, pause=no_pause))
    before = len(world.ledger())
    granted, _ = credit_notes.issue_credit_note(
        world.billing, ADMIN, world.sid, invoice.invoice_id, note((0, 100), grant_credits="2"), pause=no_pause
    )
    assert granted.number == "CN-000001"  # the lost attempt took no number
    added = [entry.type for entry in world.ledger()[before:]]
    assert added == ["top_up", "grant"]  # the grant once, after the change that moved the credits
    assert [e.detail_type for e in world.subscriptions.outbox].count("CreditNoteIssued") == 1


def test_a_note_refused_at_its_commit_grants_nothing():
    world, invoice = issued_world()
    interfering(
        world, lambda: invoices.void_invoice(world.billing, ADMIN, world.sid, invoice.invoice_id, pause=no_pause)
    )
    before = len(world.ledger())
    with pytest.raises(Conflict) as refused:
        credit_notes.issue_credit_note(
            world.billing, ADMIN, world.sid, invoice.invoice_id, note((0, 100), grant_credits="2"), pause=no_pause
        )
    assert refused.value.code == "invoice_not_issued"
    assert len(world.ledger()) == before
    assert world.invoices.credit_notes_page(world.sid, invoice.invoice_id, limit=10, cursor=None).items == []


def test_a_profile_is_kept_in_the_callers_residency_and_addresses_the_next_issue():
    world = World()
    request = BillingProfileRequest.model_validate(
        {
            "legal_name": "Łódź Lab sp. z o.o.",
            "email": "ap@lodz.example",
            "address": {"line1": "ul. Piotrkowska 1", "city": "Łódź", "postal_code": "90-001", "country": "pl"},
            "net_terms_days": 7,
        }
    )
    saved = billing_profiles.save_billing_profile(world.billing, ADMIN, "org-1", request)
    assert saved.residency == "us" and saved.address.country == "PL"
    world.record("over", "1005")
    end = world.subscription.current_period_end + timedelta(minutes=1)
    world.at(end).invoicing_run(end)
    draft = world.invoices.latest_for_period(world.sid, world.subscription.current_period_start)
    issued = invoices.issue_invoice(world.billing, ADMIN, world.sid, draft.invoice_id, pause=no_pause)
    assert issued.bill_to.legal_name == "Łódź Lab sp. z o.o." and issued.due_at == issued.issued_at + timedelta(days=7)


# --- the renderer -------------------------------------------------------------------------------


@pytest.fixture
def document_pdf(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPORT_FUNCTION))
    import document_pdf

    return document_pdf


def pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).split())


def test_an_invoice_pdf_prints_unicode_names_and_drops_control_and_bidi_characters(document_pdf):
    world, invoice = issued_world()
    profile = BillingProfile.model_construct(
        organization_id="org-1",
        legal_name="株式会社 Zürich\u202egpj.exe",  # as if it had slipped past validation
        email="a@b.example",
        address=None,
        tax_id=None,
        net_terms_days=30,
    )
    shown = invoice.addressed(profile, SANDBOX_ISSUER)
    text = pdf_text(document_pdf.invoice_pdf(shown, []))
    assert "株式会社 Zürichgpj.exe" in text and "\u202e" not in text
    assert invoice.number in text and "DRAFT" not in text
    assert document_pdf.needs_cjk(shown) and not document_pdf.needs_cjk(invoice.addressed(None, SANDBOX_ISSUER))
    as_draft = invoice.model_copy(update={"status": "draft", "number": None})
    assert "DRAFT" in pdf_text(document_pdf.invoice_pdf(as_draft, []))


def test_no_function_loads_the_pdf_renderer_on_a_cold_start():
    """Every function's app imported in one fresh interpreter: fpdf2 (and Pillow, fontTools) stay
    unloaded until a PDF is asked for."""
    apps = sorted(str(path) for path in (ROOT / "functions").glob("*/app.py"))
    code = (
        "import importlib.util, json, sys\n"
        f"for n, path in enumerate({apps!r}):\n"
        "    spec = importlib.util.spec_from_file_location(f'app{n}', path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('fpdf', 'PIL', 'fontTools'))))"
    )
    env = function_environment(BILLING_JWT_SECRET="unit-test-secret")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "billing"), str(EXPORT_FUNCTION)])
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(run.stdout.splitlines()[-1]) == []


def test_the_pdf_renderer_ships_only_with_the_export_function():
    def pinned(path: Path) -> set[str]:
        lines = path.read_text().splitlines()
        return {line.split("==")[0] for line in lines if line and not line.startswith(("#", "-r"))}

    assert "fpdf2" in pinned(EXPORT_FUNCTION / "requirements.txt")
    assert "fpdf2" not in pinned(ROOT / "layers" / "billing" / "requirements.txt")
    for other in (ROOT / "functions").glob("*/requirements.txt"):
        assert other.parent == EXPORT_FUNCTION or "fpdf2" not in pinned(other)
