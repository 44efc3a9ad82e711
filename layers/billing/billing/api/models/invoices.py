"""The invoices function's request models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ...domain.errors import ValidationFailed
from ...domain.subscriptions import OrganizationId, Residency
from ...domain.values import UtcTimestamp
from .paging import PageQuery
from .windows import DayOrTimestamp, require_from_before_to

if TYPE_CHECKING:
    from ...domain.credit_notes import CreditNoteFilters
    from ...domain.invoices import InvoiceFilters


def _query_flag(value: Any) -> Any:
    """A switch in a query string: `true` or `false`, as written (a query has no JSON booleans)."""
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


QueryFlag = Annotated[bool, BeforeValidator(_query_flag)]


class UpcomingQuery(BaseModel):
    """`GET .../invoices/upcoming?cancel_now=true`: the final invoice if it were canceled now."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    cancel_now: QueryFlag = False


class InvoicesQuery(PageQuery):
    """`GET /invoices?status&organization_id&period_start_from&period_start_to&residency`."""

    status: Literal["draft", "issued", "void"] | None = None
    organization_id: OrganizationId | None = None
    period_start_from: UtcTimestamp | None = None
    period_start_to: UtcTimestamp | None = None
    residency: Residency | None = None

    @model_validator(mode="after")
    def _ordered(self) -> InvoicesQuery:
        if self.period_start_from and self.period_start_to and self.period_start_from > self.period_start_to:
            raise ValidationFailed.naming(
                ("period_start_from", "period_start_to"),
                "'period_start_from' must not be after 'period_start_to'",
                location="query",
            )
        return self

    def filters(self) -> InvoiceFilters:
        from ...domain.invoices import InvoiceFilters

        return InvoiceFilters(
            status=self.status,
            organization_id=self.organization_id,
            period_from=self.period_start_from,
            period_to=self.period_start_to,
        )


class CreditNotesQuery(PageQuery):
    """`GET /credit-notes?organization_id&from&to&residency`: created in [from, to), newest first."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    organization_id: OrganizationId | None = None
    start: DayOrTimestamp | None = Field(default=None, alias="from")
    end: DayOrTimestamp | None = Field(default=None, alias="to")
    residency: Residency | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CreditNotesQuery:
        require_from_before_to(self.start, self.end)
        return self

    def filters(self) -> CreditNoteFilters:
        from ...domain.credit_notes import CreditNoteFilters

        return CreditNoteFilters(organization_id=self.organization_id, start=self.start, end=self.end)
