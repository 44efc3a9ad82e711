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
