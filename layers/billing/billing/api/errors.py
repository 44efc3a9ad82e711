"""The one place that turns errors into the contract's envelope:
`{"error": {"code", "message", "details"}}` with the status API.md gives each kind."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ..domain import errors as domain
from ..domain.idempotency import IdempotencyKeyReused

STATUS_BY_ERROR: list[tuple[type[domain.BillingError], int]] = [
    (domain.MalformedRequest, 400),
    (domain.Unauthenticated, 401),
    (domain.CreditLimitReached, 402),
    (domain.Forbidden, 403),
    (domain.NotFound, 404),
    (domain.RetryableConflict, 409),
    (domain.Conflict, 409),
    (domain.MethodNotAllowed, 405),
    (domain.PreconditionFailed, 412),
    (domain.PayloadTooLarge, 413),
    (domain.UnsupportedMediaType, 415),
    (domain.ValidationFailed, 422),
    (IdempotencyKeyReused, 422),
    (domain.UnknownService, 422),
]


def status_of(error: domain.BillingError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_body(error: domain.BillingError) -> str:
    return json.dumps(envelope(error.code, error.message, error.details), separators=(",", ":"), default=str)


def _message(raw: str) -> str:
    return raw.removeprefix("Value error, ")


def validation_failed(error: ValidationError, *, location: str) -> domain.ValidationFailed:
    return domain.ValidationFailed.from_pydantic(error, location=location)


def from_powertools_validation(errors: list[dict[str, Any]]) -> domain.BillingError:
    """Powertools' own request validation (routes that opt into `enable_validation`): a body that
    is not JSON is a 400, anything else a 422 naming the field (`loc` = (where, name, ...))."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return domain.MalformedRequest("The request body is not valid JSON.")
    fields = []
    for e in errors:
        where, *path = [str(part) for part in e.get("loc", ("body",))] or ["body"]
        fields.append(
            domain.FieldError(
                ".".join(path) or where,
                _message(str(e.get("msg", "is invalid"))),
                location=where,
                kind=str(e.get("type", "invalid")),
            )
        )
    return domain.ValidationFailed(fields)
