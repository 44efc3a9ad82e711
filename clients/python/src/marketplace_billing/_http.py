"""One request to the API, sent again on the failures that are safe to send again.

Every write carries an idempotency key chosen once per call, and the body is encoded once, so a
retry after a lost answer is the same request: the API answers it with the first result and
charges nothing twice."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from pydantic import BaseModel

from ._version import __version__
from .errors import AuthenticationFailed, BillingError, NetworkError, error_for

M = TypeVar("M", bound=BaseModel)

RETRIED_CONFLICTS = frozenset({"concurrent_update", "idempotency_in_progress"})
# No answer, or half of one: the connection refused, dropped (even mid-body) or timed out.
NO_ANSWER = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
BACKOFF_BASE = 0.25  # seconds: the first retry waits up to this, each next one up to twice as long
BACKOFF_CAP = 20.0
RETRY_AFTER_LIMIT = 60.0  # a server asking for a longer wait gets the error now, not a hung caller


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def to_json(value: Any) -> Any:
    """Request values as the API takes them: decimals as exact strings (never floats), instants as
    RFC 3339 UTC, models as their fields (unset ones left out)."""
    if isinstance(value, BaseModel):
        return to_json(value.model_dump(exclude_none=True))
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")  # fixed point, the document's decimal form: "1E+2" is sent as "100"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone: pass an aware datetime")
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, float):
        raise TypeError("floats are not exact: pass a Decimal, an int or a string for credits and quantities")
    return value


class Transport:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        token_provider: Callable[[], str] | None,
        timeout: float,
        max_retries: int,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout, self.max_retries = timeout, max_retries
        self._token_provider = token_provider
        self._token = token
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = f"marketplace-billing-python/{__version__}"
        self.sleep: Callable[[float], None] = time.sleep  # tests may replace it

    def close(self) -> None:
        self._session.close()

    def _authorization(self, *, fresh: bool = False) -> dict[str, str]:
        if self._token_provider is not None and (fresh or self._token is None):
            self._token = self._token_provider()
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> requests.Response:
        """Send until answered with a success, a final error, or `max_retries` retries spent.
        Raises the error's `BillingError` class; `error.retried` says whether an earlier attempt
        may have landed (its answer was lost or refused as retryable)."""
        data = None if body is None else json.dumps(to_json(body), separators=(",", ":")).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        query = {k.rstrip("_"): to_json(v) for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path
        retries, refreshed = 0, False
        authorization = self._authorization()
        while True:
            try:
                answer = self._session.request(
                    method, url, data=data, params=query, headers=headers | authorization, timeout=self.timeout
                )
            except NO_ANSWER as failure:
                if retries < self.max_retries:
                    self.sleep(backoff(retries))
                    retries += 1
                    continue
                raise _tagged(NetworkError(None, "network_error", str(failure)), retries) from failure
            if answer.status_code < 400:
                return answer
            error = error_for(answer.status_code, _json_or_none(answer), answer)
            if isinstance(error, AuthenticationFailed) and self._token_provider is not None and not refreshed:
                # The token expired or was revoked: ask for a fresh one, once a call.
                refreshed, authorization = True, self._authorization(fresh=True)
                continue
            wait = self._retry_wait(answer, error, retries)
            if wait is None:
                raise _tagged(error, retries)
            self.sleep(wait)
            retries += 1

    def _retry_wait(self, answer: requests.Response, error: BillingError, retries: int) -> float | None:
        """How long to wait before the next attempt, or None when this error is final."""
        status = answer.status_code
        retryable = status == 429 or status >= 500 or (status == 409 and error.code in RETRIED_CONFLICTS)
        if not retryable or retries >= self.max_retries:
            return None
        asked = retry_after(answer.headers.get("Retry-After"))
        if asked is None:
            return backoff(retries)
        return asked if asked <= RETRY_AFTER_LIMIT else None

    def json(self, method: str, path: str, **options: Any) -> Any:
        return self.request(method, path, **options).json(parse_float=Decimal)

    def pages(self, path: str, model: type[M], params: Mapping[str, Any] | None = None) -> Iterator[M]:
        """Every item of a list, page after page (`next_cursor`), fetched as the caller iterates."""
        params = dict(params or {})
        while True:
            page = self.json("GET", path, params=params)
            for item in page["items"]:
                yield model.model_validate(item)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter: anywhere in [0, base × 2^retries], capped, so that
    clients refused together do not come back together."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**retries))


def retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _json_or_none(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _tagged(error: BillingError, retries: int) -> BillingError:
    error.retried = retries > 0
    return error
