"""Invoices as documents over HTTP: billing profiles (validation, roles, residency), the bill-to,
issuer and due date an invoice is issued with, exports that neutralise hostile text, PDFs whose
text is what the invoice says, and credit notes (gapless numbers, per-line limits under
concurrency, credits granted in the same write, replays) (invariant 13)."""

import csv
import io
from datetime import timedelta

import pytest

from billing.domain.values import parse_timestamp

from .test_invoices_http import draft, end_period, with_overage
from .test_plans_http import error_of
from .test_subscriptions_http import new_org


def profile_body(**changes):
    return {
        "legal_name": "Labor Zürich AG",
        "email": "billing@labor.example",
        "address": {"line1": "Bahnhofstrasse 1", "city": "Zürich", "postal_code": "8001", "country": "CH"},
        "tax_id": "CHE-123.456.789",
        "net_terms_days": 14,
    } | changes


def put_profile(server, token, org, body=None, who=None):
    return server.request(
        "PUT",
        f"/organizations/{org}/billing-profile",
        token=who or token("org:admin", org=org),
        json=profile_body() if body is None else body,
    )


def fields_of(response) -> set[str]:
    return {f["field"] for f in error_of(response)["details"]["fields"]}


# --- billing profiles -------------------------------------------------------------------------


def test_a_profile_is_saved_by_its_org_admin_and_read_by_its_users_finance_and_staff(server, token):
    org = new_org()
    missing = server.request("GET", f"/organizations/{org}/billing-profile", token=token("org:member", org=org))
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    saved = put_profile(server, token, org, profile_body(address=profile_body()["address"] | {"country": "ch"}))
    assert saved.status_code == 200, saved.text
    profile = saved.json()
    assert profile["organization_id"] == org and profile["address"]["country"] == "CH"
    assert profile["net_terms_days"] == 14 and "residency" not in profile
    for who in (token("org:member", org=org), token("finance"), token("marketplace:admin")):
        read = server.request("GET", f"/organizations/{org}/billing-profile", token=who)
        assert read.status_code == 200 and read.json() == profile
    defaulted = put_profile(server, token, org, {k: v for k, v in profile_body().items() if k != "net_terms_days"})
    assert defaulted.json()["net_terms_days"] == 30
    assert put_profile(server, token, org, who=token("marketplace:admin")).status_code == 200


def test_only_the_org_admin_and_staff_write_a_profile_and_other_organizations_see_none(server, token):
    org = new_org()
    assert put_profile(server, token, org).status_code == 200
    for who in (token("org:member", org=org), token("finance"), token("service")):
        refused = put_profile(server, token, org, who=who)
        assert refused.status_code == 403 and error_of(refused)["details"]["permission"] == "manage_billing_profile"
    stranger = new_org()
    hidden = put_profile(server, token, org, who=token("org:admin", org=stranger))
    nothing = server.request(
        "GET", f"/organizations/{new_org()}/billing-profile", token=token("org:admin", org=stranger)
    )
    peeked = server.request("GET", f"/organizations/{org}/billing-profile", token=token("org:admin", org=stranger))
    assert hidden.status_code == peeked.status_code == 404
    assert peeked.json()["error"]["code"] == nothing.json()["error"]["code"] == "not_found"
    assert server.request("GET", f"/organizations/{org}/billing-profile").status_code == 401


def test_a_profile_is_kept_in_its_residency(server, token):
    org = new_org()
    assert put_profile(server, token, org).status_code == 200  # the org's users are "us"
    elsewhere = put_profile(server, token, org, who=token("marketplace:admin", residency="eu"))
    assert elsewhere.status_code == 403 and error_of(elsewhere)["code"] == "residency_mismatch"
    read_elsewhere = server.request(
        "GET", f"/organizations/{org}/billing-profile", token=token("finance", residency="eu")
    )
    assert read_elsewhere.status_code == 403 and error_of(read_elsewhere)["code"] == "residency_mismatch"
    unserved = put_profile(server, token, new_org(), who=token("marketplace:admin", residency="ap"))
    assert unserved.status_code == 403 and error_of(unserved)["code"] == "residency_not_served"
    subscribed = with_overage(server, token, new_org())  # a "us" subscription decides the residency
    moved = put_profile(server, token, subscribed["organization_id"], who=token("marketplace:admin", residency="eu"))
    assert moved.status_code == 403 and error_of(moved)["code"] == "residency_mismatch"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"legal_name": "A" * 10_000}, "legal_name"),
        ({"legal_name": "Evil\u202egpj.exe"}, "legal_name"),
        ({"legal_name": "Isolated\u2066name\u2069"}, "legal_name"),
        ({"legal_name": "Marked\u200fname"}, "legal_name"),
        ({"legal_name": "Two\nlines"}, "legal_name"),
        ({"legal_name": "Nul\x00byte"}, "legal_name"),
        ({"legal_name": "   "}, "legal_name"),
        ({"email": "not an address"}, "email"),
        ({"address": {"line1": "x", "city": "y", "postal_code": "1", "country": "XX"}}, "address.country"),
        ({"address": {"line1": "x", "city": "y", "postal_code": "1", "country": "DEU"}}, "address.country"),
        ({"address": {"line1": "x", "city": "y", "country": "DE"}}, "address.postal_code"),
        ({"net_terms_days": 91}, "net_terms_days"),
        ({"net_terms_days": -1}, "net_terms_days"),
        ({"net_terms_days": "30"}, "net_terms_days"),
        ({"net_terms_days": 1.5}, "net_terms_days"),
        ({"tax_id": "x" * 65}, "tax_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_hostile_or_invalid_profile_is_refused_naming_the_field_and_nothing_is_written(server, token, change, field):
    org = new_org()
    refused = put_profile(server, token, org, profile_body(**change))
    assert refused.status_code == 422 and error_of(refused)["code"] == "validation_error"
    assert field in fields_of(refused)
    assert server.request("GET", f"/organizations/{org}/billing-profile", token=token("finance")).status_code == 404


# --- invoices as documents --------------------------------------------------------------------


def issued_invoice(server, token, org, *, quantity="201"):
    sid = with_overage(server, token, org, quantity=quantity)["subscription_id"]
    invoice = draft(server, token, sid).json()
    end_period(server, token, sid)
    issued = server.request(
        "POST", f"/subscriptions/{sid}/invoices/{invoice['invoice_id']}/issue", token=token("finance")
    )
    assert issued.status_code == 200, issued.text
    return issued.json()


def test_a_draft_shows_the_current_profile_and_issuing_copies_it_with_the_due_date(server, token):
    org = new_org()
    sid = with_overage(server, token, org)["subscription_id"]
    bare = draft(server, token, sid).json()
    assert bare["bill_to"] == {"organization_id": org} and bare["due_at"] is None
    assert bare["issuer"]["name"] and bare["issuer"]["address"]["country"]
    assert bare["credited_cents"] == 0 and bare["amount_due_cents"] == bare["total_cents"]
    assert put_profile(server, token, org).status_code == 200
    path = f"/subscriptions/{sid}/invoices/{bare['invoice_id']}"
    shown = server.request("GET", path, token=token("org:member", org=org)).json()
    assert shown["bill_to"]["legal_name"] == "Labor Zürich AG" and shown["bill_to"]["organization_id"] == org
    end_period(server, token, sid)
    issued = server.request("POST", f"{path}/issue", token=token("finance")).json()
    assert issued["bill_to"] == shown["bill_to"]
    assert parse_timestamp(issued["due_at"]) - parse_timestamp(issued["issued_at"]) == timedelta(days=14)
    assert put_profile(server, token, org, profile_body(legal_name="Renamed GmbH")).status_code == 200
    assert server.request("GET", path, token=token("finance")).json()["bill_to"]["legal_name"] == "Labor Zürich AG"


def test_csv_export_carries_bill_to_due_date_and_amount_due_with_formulas_neutralised(server, token):
    org = new_org()
    assert put_profile(server, token, org, profile_body(legal_name='=HYPERLINK("http://x.example","pay")')).ok
    invoice = issued_invoice(server, token, org)
    exported = server.request(
        "GET",
        f"/subscriptions/{invoice['subscription_id']}/invoices/{invoice['invoice_id']}/export?format=csv",
        token=token("org:member", org=org),
    )
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {row["bill_to_name"] for row in rows} == {"'" + '=HYPERLINK("http://x.example","pay")'}
    assert {row["due_at"] for row in rows} == {invoice["due_at"]}
    assert {int(row["amount_due_cents"]) for row in rows} == {invoice["amount_due_cents"]}


# --- PDF documents ----------------------------------------------------------------------------


def pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def export(server, token, invoice, fmt, who=None, *, note=None):
    path = f"/subscriptions/{invoice['subscription_id']}/invoices/{invoice['invoice_id']}"
    path += f"/credit-notes/{note['credit_note_id']}/export" if note else "/export"
    return server.request("GET", f"{path}?format={fmt}", token=who or token("finance"))


def test_an_issued_invoice_pdf_names_issuer_bill_to_dates_lines_and_amount_due(server, token):
    org = new_org()
    name = "株式会社 Łódź Zürich Labor"
    assert put_profile(server, token, org, profile_body(legal_name=name)).status_code == 200
    invoice = issued_invoice(server, token, org)
    response = export(server, token, invoice, "pdf", who=token("org:member", org=org))
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert f'filename="{invoice["number"]}.pdf"' in response.headers["Content-Disposition"]
    text = " ".join(pdf_text(response.content).split())
    for expected in (
        "INVOICE",
        invoice["number"],
        invoice["issuer"]["name"],
        "Łódź",
        "Zürich",
        "株式会社",
        "Bahnhofstrasse 1",
        invoice["issued_at"][:10],
        invoice["due_at"][:10],
        invoice["period_start"],
        "instrumentation overage",
        "0.125 USD",  # the unit price: 12.5 cents a credit
        "499.00 USD",
        "Amount due",
        f"{invoice['amount_due_cents'] / 100:.2f} USD",
    ):
        assert expected in text, expected
    assert "DRAFT" not in text


def test_a_draft_pdf_is_marked_draft_and_a_hostile_profile_prints_as_plain_text(server, token):
    org = new_org()
    formula = '=HYPERLINK("http://evil.example","Pay here")'
    assert put_profile(server, token, org, profile_body(legal_name=formula)).status_code == 200
    sid = with_overage(server, token, org)["subscription_id"]
    invoice = draft(server, token, sid).json()
    response = export(server, token, invoice, "pdf")
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert "DRAFT" in text and formula in text and "not yet issued" in text
    assert export(server, token, invoice, "pdf", who=token("finance", residency="eu")).status_code == 403
    stranger = export(server, token, invoice, "pdf", who=token("org:member", org=new_org()))
    assert stranger.status_code == 404
    assert export(server, token, invoice, "docx").status_code == 422


# --- credit notes -----------------------------------------------------------------------------


def credit(server, token, invoice, body, who=None):
    return server.request(
        "POST",
        f"/subscriptions/{invoice['subscription_id']}/invoices/{invoice['invoice_id']}/credit-notes",
        token=who or token("finance"),
        json=body,
    )


def note_body(*lines, reason="Instrument fault", key=None, **more):
    return {
        "lines": [{"line": line, "amount_cents": cents} for line, cents in lines],
        "reason": reason,
        "idempotency_key": key or f"cn-{new_org()}",
    } | more


def number_of(note) -> int:
    return int(note["number"].removeprefix("CN-"))


def test_a_credit_note_gives_back_part_of_a_line_and_the_invoice_shows_what_is_due(server, token):
    org = new_org()
    invoice = issued_invoice(server, token, org)
    body = note_body((1, 40))
    created = credit(server, token, invoice, body)
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["number"].startswith("CN-") and len(note["number"]) == 9
    assert (note["invoice_id"], note["organization_id"], note["currency"]) == (invoice["invoice_id"], org, "USD")
    assert note["lines"] == [{"line": 1, "description": invoice["line_items"][1]["description"], "amount_cents": 40}]
    assert note["total_cents"] == 40 and note["reason"] == "Instrument fault" and note["credits_granted"] is None
    replay = credit(server, token, invoice, body)
    assert replay.status_code == 200 and replay.json() == note
    reused = credit(server, token, invoice, body | {"reason": "Another"})
    assert reused.status_code == 422 and error_of(reused)["code"] == "idempotency_key_reused"
    path = f"/subscriptions/{invoice['subscription_id']}/invoices/{invoice['invoice_id']}"
    shown = server.request("GET", path, token=token("org:member", org=org)).json()
    assert shown["credited_cents"] == 40 and shown["amount_due_cents"] == invoice["total_cents"] - 40
    listed = server.request("GET", f"{path}/credit-notes", token=token("org:admin", org=org)).json()
    assert listed["items"] == [note]
    second = credit(server, token, invoice, note_body((1, 22), (0, 100))).json()
    assert number_of(second) == number_of(note) + 1  # gapless
    newest_first = server.request("GET", f"{path}/credit-notes", token=token("finance")).json()["items"]
    assert [n["number"] for n in newest_first] == [second["number"], note["number"]]
    refused = credit(server, token, invoice, note_body((1, 1)))  # line 1 billed 62: 40 + 22 given back
    assert refused.status_code == 422 and fields_of(refused) == {"lines.0.amount_cents"}
    assert "line 1" in error_of(refused)["details"]["fields"][0]["message"]
    voided = server.request("POST", f"{path}/void", token=token("finance"))
    assert voided.status_code == 409 and error_of(voided)["code"] == "invoice_credited"
    assert server.request("GET", path, token=token("finance")).json()["status"] == "issued"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([(2, 1)], "lines.0.line"),  # the invoice has lines 0 and 1
        ([(0, 0)], "lines.0.amount_cents"),
        ([(0, -5)], "lines.0.amount_cents"),
        ([(0, 49_901)], "lines.0.amount_cents"),  # past what the line billed
        ([(0, 10), (0, 10)], "lines"),
    ],
)
def test_a_credit_note_past_a_line_or_naming_no_line_is_422_naming_it_and_writes_nothing(server, token, lines, field):
    invoice = issued_invoice(server, token, new_org())
    refused = credit(server, token, invoice, note_body(*lines))
    assert refused.status_code == 422 and field in fields_of(refused)
    path = f"/subscriptions/{invoice['subscription_id']}/invoices/{invoice['invoice_id']}"
    assert server.request("GET", f"{path}/credit-notes", token=token("finance")).json()["items"] == []
    assert server.request("GET", path, token=token("finance")).json()["credited_cents"] == 0


def test_only_issued_invoices_take_credit_notes_from_finance_of_their_residency(server, token):
    org = new_org()
    sid = with_overage(server, token, org)["subscription_id"]
    drafted = draft(server, token, sid).json()
    refused = credit(server, token, drafted, note_body((0, 1)))
    assert refused.status_code == 409 and error_of(refused)["code"] == "invoice_not_issued"
    invoice = issued_invoice(server, token, new_org())
    for who in (token("org:admin", org=invoice["organization_id"]), token("service")):
        assert credit(server, token, invoice, note_body((0, 1)), who=who).status_code == 403
    elsewhere = credit(server, token, invoice, note_body((0, 1)), who=token("marketplace:admin", residency="eu"))
    assert elsewhere.status_code == 403 and error_of(elsewhere)["code"] == "residency_mismatch"
    path = f"/subscriptions/{invoice['subscription_id']}/invoices/{invoice['invoice_id']}"
    assert server.request("POST", f"{path}/void", token=token("finance")).status_code == 200
    void = credit(server, token, invoice, note_body((0, 1)))
    assert void.status_code == 409 and error_of(void)["code"] == "invoice_not_issued"
    missing = credit(server, token, invoice | {"invoice_id": "inv_nope"}, note_body((0, 1)))
    assert missing.status_code == 404


def test_granting_credits_needs_an_active_subscription_and_lands_with_the_note(server, token):
    from .test_subscriptions_http import subscribe

    org = new_org()
    invoice = issued_invoice(server, token, org)  # issuing ended (canceled) its subscription
    refused = credit(server, token, invoice, note_body((1, 10), grant_credits="25"))
    assert refused.status_code == 409 and error_of(refused)["code"] == "no_active_subscription"
    path = f"/subscriptions/{invoice['subscription_id']}/invoices/{invoice['invoice_id']}"
    assert server.request("GET", f"{path}/credit-notes", token=token("finance")).json()["items"] == []
    active = subscribe(server, token, org)["subscription_id"]
    created = credit(server, token, invoice, note_body((1, 10), grant_credits="25"))
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["credits_granted"] == "25"
    grants = server.request("GET", f"/subscriptions/{active}/grants", token=token("finance")).json()["items"]
    (granted,) = [g for g in grants if g["kind"] == "promotional"]
    assert (granted["amount"], granted["expires_at"], granted["status"]) == ("25", None, "active")
    entries = server.request("GET", f"/subscriptions/{active}/ledger", token=token("finance")).json()["items"]
    assert [e["reference"] for e in entries if e["type"] == "grant" and e["amount"] == "25"] == [
        f"credit_note:{note['credit_note_id']}"
    ]
    published = server.request("GET", "/_local/events", params={"type": "CreditNoteIssued"}).json()
    details = [e["detail"] for e in published.get("items", published) if isinstance(e, dict)]
    assert any(d.get("credit_note", {}).get("credit_note_id") == note["credit_note_id"] for d in details), published


def test_eight_concurrent_notes_for_a_whole_line_one_succeeds_and_numbers_stay_gapless(server, token):
    from concurrent.futures import ThreadPoolExecutor

    from .contention import until_not_contended

    invoice = issued_invoice(server, token, new_org())
    whole = invoice["line_items"][1]["amount_cents"]
    bodies = [note_body((1, whole), key=f"race-{n}-{invoice['invoice_id']}") for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda body: until_not_contended(lambda: credit(server, token, invoice, body)), bodies))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [422] * 7, [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 422):
        assert fields_of(refused) == {"lines.0.amount_cents"}
    (winner,) = [a.json() for a in answers if a.status_code == 201]
    following = credit(server, token, invoice, note_body((0, 1))).json()
    assert number_of(following) == number_of(winner) + 1
    path = f"/subscriptions/{invoice['subscription_id']}/invoices/{invoice['invoice_id']}"
    assert server.request("GET", path, token=token("finance")).json()["credited_cents"] == whole + 1


def test_finance_lists_credit_notes_across_organizations_newest_first_within_a_window(server, token):
    org = new_org()
    invoice = issued_invoice(server, token, org)
    first = credit(server, token, invoice, note_body((0, 100))).json()
    second = credit(server, token, invoice, note_body((0, 200))).json()
    found = server.request(
        "GET", "/credit-notes", params={"organization_id": org}, token=token("marketplace:admin")
    ).json()
    assert [n["credit_note_id"] for n in found["items"]] == [second["credit_note_id"], first["credit_note_id"]]
    window = {"organization_id": org, "from": first["created_at"], "to": second["created_at"]}
    before_second = server.request("GET", "/credit-notes", params=window, token=token("finance")).json()["items"]
    assert [n["credit_note_id"] for n in before_second] == (
        [first["credit_note_id"]] if first["created_at"] != second["created_at"] else []
    )
    assert server.request("GET", "/credit-notes", token=token("org:admin", org=org)).status_code == 403
    eu_only = {"organization_id": org, "residency": "eu"}
    other = server.request("GET", "/credit-notes", params=eu_only, token=token("finance", residency="eu"))
    assert other.status_code == 200 and other.json()["items"] == []  # its notes reside in "us"
    paged, cursor = [], None
    while True:  # one at a time: every residency served, merged, newest first
        params = {"organization_id": org, "limit": 1} | ({"cursor": cursor} if cursor else {})
        answer = server.request("GET", "/credit-notes", params=params, token=token("finance")).json()
        paged += [n["credit_note_id"] for n in answer["items"]]
        if not (cursor := answer["next_cursor"]):
            break
    assert paged == [second["credit_note_id"], first["credit_note_id"]]
    bad = server.request(
        "GET", "/credit-notes", params={"from": "2026-12-02", "to": "2026-12-01"}, token=token("finance")
    )
    assert bad.status_code == 422


def test_a_credit_note_exports_as_csv_json_and_a_pdf_naming_both_numbers(server, token):
    org = new_org()
    invoice = issued_invoice(server, token, org)
    note = credit(server, token, invoice, note_body((1, 30), reason="-2+3 refund for a failed run")).json()
    csv_file = export(server, token, invoice, "csv", who=token("org:member", org=org), note=note)
    assert csv_file.status_code == 200 and csv_file.headers["Content-Type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(csv_file.text)))
    assert (row["credit_note_number"], row["invoice_number"], row["amount_cents"]) == (
        note["number"],
        invoice["number"],
        "30",
    )
    assert row["reason"] == "'-2+3 refund for a failed run"  # neutralised
    as_json = export(server, token, invoice, "json", note=note).json()
    assert as_json["number"] == note["number"] and as_json["total_cents"] == 30
    pdf = export(server, token, invoice, "pdf", note=note)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    text = " ".join(pdf_text(pdf.content).split())
    for expected in ("CREDIT NOTE", note["number"], invoice["number"], "0.30 USD", "-2+3 refund for a failed run"):
        assert expected in text, expected
    invoice_text = " ".join(pdf_text(export(server, token, invoice, "pdf").content).split())
    assert f"Credit note {note['number']}" in invoice_text
    amount_due = invoice["total_cents"] - 30
    assert f"{amount_due // 100}.{amount_due % 100:02d} USD" in invoice_text
    missing = export(server, token, invoice, "pdf", note=note | {"credit_note_id": "cn_nope"})
    assert missing.status_code == 404
