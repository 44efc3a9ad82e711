"""Every error answer of the API raises a `BillingError` subclass chosen by its status; the error
envelope's `code`, `message` and `details` ride along (and, for a 422, `fields`)."""

from __future__ import annotations

from typing import Any


class BillingError(Exception):
    """An error answer (or, for `NetworkError`, no answer at all)."""

    retried: bool = False  # whether an earlier attempt of this call may have landed (its answer was lost)

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        response: Any = None,
    ):
        super().__init__(f"{status or 'no answer'} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details: dict[str, Any] = details or {}
        self.response = response

    @property
    def fields(self) -> list[dict[str, Any]]:
        """The offending fields of a 422 (`field`, `location`, `message`); empty otherwise."""
        return list(self.details.get("fields", []))


class AuthenticationFailed(BillingError):
    """401: no token, or one the API refused (the message says why)."""


class InsufficientCredits(BillingError):
    """402: the plan blocks overage and the credits available do not cover the usage or hold."""


class PermissionDenied(BillingError):
    """403: the caller's role or residency does not allow it (`details.permission` names what is missing)."""


class NotFound(BillingError):
    """404: no such resource, or one of another organization (the API does not say which)."""


class Conflict(BillingError):
    """409: the resource's state refuses it (`code` says how: `subscription_exists`, `hold_not_active`, ...)."""


class ValidationFailed(BillingError):
    """422: fields missing or invalid (`fields`), an idempotency key reused with another body, an unknown service."""


class RateLimited(BillingError):
    """429, still refused after every retry."""


class ServerError(BillingError):
    """5xx, still failing after every retry."""


class NetworkError(BillingError):
    """No answer (connection refused or dropped, timeout), still after every retry."""


_BY_STATUS: dict[int, type[BillingError]] = {
    401: AuthenticationFailed,
    402: InsufficientCredits,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
}


def error_for(status: int, body: Any, response: Any = None) -> BillingError:
    """The exception for an error answer; a body that is not the envelope (a proxy's page) still
    raises the status's class, with the code `http_<status>`."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    kind = ServerError if status >= 500 else _BY_STATUS.get(status, BillingError)
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    return kind(
        status,
        str(error.get("code") or f"http_{status}"),
        str(error.get("message") or "the API answered without an error envelope"),
        details,
        response=response,
    )
