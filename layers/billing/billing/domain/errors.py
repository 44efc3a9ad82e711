"""Domain errors. Each carries a stable machine code from the API contract; the api layer alone
decides which HTTP status each kind becomes."""

from __future__ import annotations

from typing import Any


class BillingError(Exception):
    code = "billing_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class Unauthenticated(BillingError):
    code = "unauthenticated"


class Forbidden(BillingError):
    """Role or residency does not allow it (`forbidden`, `residency_mismatch`, `residency_not_served`)."""

    code = "forbidden"


class NotFound(BillingError):
    """No such resource, or it belongs to another organization: the two are indistinguishable."""

    code = "not_found"


class Conflict(BillingError):
    """The resource's state does not allow the change (`plan_exists`, `plan_archived`, ...)."""

    code = "conflict"


class FieldError(dict):
    """One invalid field: where it is (body/query/path/header), its dotted name, and why."""

    def __init__(self, field: str, message: str, *, location: str = "body", kind: str = "invalid"):
        super().__init__(field=field, location=location, message=message, type=kind)


class ValidationFailed(BillingError):
    code = "validation_error"

    def __init__(self, fields: list[FieldError], *, code: str | None = None, message: str | None = None):
        names = ", ".join(f["field"] for f in fields) or "request"
        super().__init__(message or f"Invalid request: {names}.", code=code, details={"fields": fields})
        self.fields = fields

    @classmethod
    def from_pydantic(cls, error: Any, *, location: str) -> ValidationFailed:
        """A pydantic ValidationError as a 422 naming every bad field (`usage_rates.planner.unit`)."""
        fields = [
            FieldError(
                ".".join(str(p) for p in e["loc"]) or location, _plain_message(e), location=location, kind=e["type"]
            )
            for e in error.errors(include_url=False, include_context=False, include_input=False)
        ]
        return cls(fields)

    @classmethod
    def naming(cls, fields: tuple[str, ...], message: str, *, location: str) -> ValidationFailed:
        """One message for several fields that are wrong together (`from` after `to`: either may be)."""
        return cls([FieldError(field, message, location=location) for field in fields])

    @classmethod
    def of(cls, field: str, message: str, *, location: str = "body", code: str | None = None) -> ValidationFailed:
        return cls([FieldError(field, message, location=location)], code=code, message=f"{field}: {message}")


# Pydantic's wording where it would show a regular expression or a class name, or reads like Python.
PLAIN_MESSAGES = {
    "string_pattern_mismatch": "has characters or a form this field does not accept",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "extra_forbidden": "is not a field of this request",
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def _plain_message(error: dict[str, Any]) -> str:
    return PLAIN_MESSAGES.get(error["type"]) or error["msg"].removeprefix("Value error, ")


class MalformedRequest(BillingError):
    """The body is not JSON, or not a JSON object."""

    code = "malformed_json"


class UnsupportedMediaType(BillingError):
    """A body sent as something other than JSON (415)."""

    code = "unsupported_media_type"


class MethodNotAllowed(BillingError):
    """The path exists; the method does not (405)."""

    code = "method_not_allowed"


class PreconditionFailed(BillingError):
    """`If-Match` names a version the resource has moved on from (412)."""

    code = "precondition_failed"


class PayloadTooLarge(BillingError):
    code = "payload_too_large"


class RetryableConflict(BillingError):
    """Optimistic concurrency kept losing; nothing was written and the caller may retry."""

    code = "concurrent_update"


class CreditLimitReached(BillingError):
    """The plan blocks overage and the balances do not cover the usage (402)."""

    code = "insufficient_credits"


class FieldRefusal(BillingError):
    """A 422 of its own code about one field: like every 422, it names the field in `details.fields`
    (and, as before, in `details.field`)."""

    def __init__(self, message: str, *, field: str, details: dict[str, Any] | None = None):
        fields = [FieldError(field, message)]
        super().__init__(message, details={"field": field, **(details or {}), "fields": fields})


class UnknownService(FieldRefusal):
    """The subscription's plan has no rate for the service (422)."""

    code = "unknown_service"
