"""Who an invoice is addressed to (an organization's billing profile) and who issues it (the
deployment's issuer): the parties printed on invoices and credit notes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .values import UtcTimestamp, document_text

DEFAULT_NET_TERMS_DAYS = 30
Line = document_text(max_length=200)


def _country_code(value: Any) -> Any:
    """ISO 3166-1 alpha-2, from the maintained list (the `iso3166` package: one module, imported
    only where a party is validated)."""
    from iso3166 import countries_by_alpha2

    if not isinstance(value, str) or len(value) != 2 or value.upper() not in countries_by_alpha2:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as DE or US")
    return value.upper()


def _email(value: Any) -> Any:
    """An address's syntax (RFC 5321/5322, internationalized), normalized; never a DNS look-up."""
    from email_validator import EmailNotValidError, validate_email

    if not isinstance(value, str) or len(value) > 254:
        raise ValueError("must be an e-mail address of at most 254 characters")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError("must be a valid e-mail address, such as billing@example.com") from None


def _whole_days(value: Any) -> Any:
    """A whole JSON number of days (not a string, not a fraction), bounded before conversion."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError("must be a whole number of days (a JSON number)")
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        raise ValueError("must be a whole number of days")
    if abs(value) > 1000:
        raise ValueError("must be between 0 and 90 days")
    return int(value)


CountryCode = Annotated[str, BeforeValidator(_country_code)]
Email = Annotated[str, BeforeValidator(_email)]
NetTermsDays = Annotated[int, BeforeValidator(_whole_days), Ge(0), Le(90)]


class PostalAddress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    line1: Line
    line2: Line | None = None
    city: Line
    postal_code: document_text(max_length=32)
    region: Line | None = None
    country: CountryCode

    def lines(self) -> list[str]:
        """As printed on a document, one line each."""
        locality = " ".join(part for part in (self.postal_code, self.city) if part)
        return [part for part in (self.line1, self.line2, locality, self.region, self.country) if part]


class BillingProfileRequest(BaseModel):
    """`PUT /organizations/{organization_id}/billing-profile`."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    legal_name: Line
    email: Email
    address: PostalAddress
    tax_id: document_text(max_length=64) | None = None
    net_terms_days: NetTermsDays = DEFAULT_NET_TERMS_DAYS


class BillingProfile(BillingProfileRequest):
    """The profile as kept: in the organization's residency (stored with it, not answered)."""

    organization_id: str
    residency: str | None = Field(default=None, exclude=True)
    updated_at: UtcTimestamp


def _absent(value: object) -> bool:
    return value is None


Absent = Field(default=None, exclude_if=_absent)  # not answered at all where there is none


class BillTo(BaseModel):
    """An invoice's addressee: the profile's parties, or the organization id alone when it has none."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    organization_id: str
    legal_name: str | None = Absent
    email: str | None = Absent
    address: PostalAddress | None = Absent
    tax_id: str | None = Absent

    @classmethod
    def of(cls, organization_id: str, profile: BillingProfile | None) -> BillTo:
        if profile is None:
            return cls(organization_id=organization_id)
        parties = profile.model_dump(include={"legal_name", "email", "address", "tax_id"})
        return cls(organization_id=organization_id, **parties)


def due_at(issued_at: datetime, profile: BillingProfile | None) -> datetime:
    terms = profile.net_terms_days if profile is not None else DEFAULT_NET_TERMS_DAYS
    return issued_at + timedelta(days=terms)


class Issuer(BaseModel):
    """The deployment's `BILLING_ISSUER` (JSON): who issues its invoices."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: Line
    address: PostalAddress
    tax_id: document_text(max_length=64) | None = Absent
    email: Email | None = Absent

    @classmethod
    def from_setting(cls, text: str) -> Issuer:
        return cls.model_validate(json.loads(text))


SANDBOX_ISSUER = Issuer.model_construct(  # trusted constant: not validated on import
    name="Marketplace Billing Sandbox (not a real issuer)",
    address=PostalAddress.model_construct(
        line1="1 Example Street", line2=None, city="Springfield", postal_code="00000", region=None, country="US"
    ),
    tax_id="SANDBOX-000",
    email=None,
)
