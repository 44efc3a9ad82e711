"""`Billing`: the API's resources over one connection pool, with its retries and its token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._http import Transport
from .resources import Credits, Entitlements, Holds, Invoices, Ledger, Plans, Subscriptions, Usage


class Billing:
    """The Marketplace Billing API at `base_url` (ending in `/api/billing`).

    `token` is a bearer token; `token_provider`, a callable returning one, is asked when the client
    first needs a token and again (once a call) after a 401, so an expired token is replaced.
    Connection errors, timeouts, 429, 5xx and 409 `concurrent_update` / `idempotency_in_progress`
    are retried up to `max_retries` times (exponential backoff, full jitter, `Retry-After`)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        token_provider: Callable[[], str] | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
    ):
        self._http = Transport(
            base_url, token=token, token_provider=token_provider, timeout=timeout, max_retries=max_retries
        )
        self.plans = Plans(self._http)
        self.subscriptions = Subscriptions(self._http)
        self.usage = Usage(self._http)
        self.entitlements = Entitlements(self._http)
        self.holds = Holds(self._http)
        self.invoices = Invoices(self._http)
        self.credits = Credits(self._http)
        self.ledger = Ledger(self._http)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Billing:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
