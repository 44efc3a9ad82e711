"""A page of a list endpoint: `{"items": [...], "next_cursor": "..." | null}`, and the one place a
cursor is sealed and opened.

A cursor is a position the list wrote (a DynamoDB key, a period index, each residency's place)
sealed with an HMAC under the deployment's cursor secret. Shape checks alone cannot tell a position
the list gave from a well-formed one a client edited (`"sk": "LEDGER#0"` instead of the real key),
and the contract makes every cursor but the list's own a 422: the seal does, in one comparison, for
every list; whatever a list then checks of the opened position is a second line."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from .errors import ValidationFailed

Item = TypeVar("Item")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_SEAL_BYTES = 16  # 128 bits of HMAC-SHA256: forging one is guessing


class Page(BaseModel, Generic[Item]):
    model_config = ConfigDict(defer_build=True)

    items: list[Item]
    next_cursor: str | None = None


_secret = b"local-dev-cursor-secret-never-deployed"  # the deployment's BILLING_CURSOR_SECRET replaces it


def use_cursor_secret(secret: str) -> None:
    """The deployment's cursor secret (the composition root sets it from the configuration)."""
    global _secret
    _secret = secret.encode()


def seal_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True, default=str).encode()
    return f"{_b64(raw)}.{_b64(_seal(raw))}"


def open_cursor(cursor: str) -> dict[str, Any]:
    """The position a sealed cursor holds; anything else (edited, forged, truncated) is a 422."""
    body, _, seal = cursor.partition(".")
    try:
        raw, given = _unb64(body), _unb64(seal)
    except (ValueError, binascii.Error):
        raise not_a_cursor() from None
    if not hmac.compare_digest(given, _seal(raw)):
        raise not_a_cursor()
    position = json.loads(raw)  # sealed by us: it is our own JSON
    if not isinstance(position, dict):
        raise not_a_cursor()
    return position


def not_a_cursor() -> ValidationFailed:
    return ValidationFailed.of("cursor", "is not a cursor this list returned", location="query")


def _seal(raw: bytes) -> bytes:
    return hmac.new(_secret, raw, hashlib.sha256).digest()[:_SEAL_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


# --- one list merged from several (each residency's) -------------------------------------------

Source = Callable[[str | None, str | None], Page]  # (before, the source's own cursor) -> a page


def merged_page(
    sources: Mapping[str, Source],
    order: Callable[[Any], str],
    *,
    limit: int,
    cursor: str | None,
    binding: str,
) -> Page:
    """One page of several lists, each sorted newest first by `order` (a residency's, from its
    own index), merged newest first. The cursor carries each list's position: the order key of the
    last item it gave (the next page asks it for what sorts below), none yet, or done (left out).
    `binding` names the list and its filters, so another list's cursor is refused.

    A source is read one page at a time and only while it might hold the next item: a filtered
    index page can be short, or empty, with more behind it."""
    start = _merged_positions(cursor, binding, sources) if cursor else dict.fromkeys(sources)
    after = dict(start)
    buffered: dict[str, list] = {name: [] for name in start}
    source_cursor: dict[str, str | None] = dict.fromkeys(start)
    exhausted: set[str] = set()
    items: list = []
    while len(items) < limit:
        for name in start:
            while not buffered[name] and name not in exhausted:
                page = sources[name](start[name], source_cursor[name])
                buffered[name], source_cursor[name] = list(page.items), page.next_cursor
                if page.next_cursor is None:
                    exhausted.add(name)
        ready = [name for name in start if buffered[name]]
        if not ready:
            break
        newest = max(ready, key=lambda name: order(buffered[name][0]))
        item = buffered[newest].pop(0)
        items.append(item)
        after[newest] = order(item)
    unfinished = {name: after[name] for name in start if buffered[name] or name not in exhausted}
    return Page(items=items, next_cursor=seal_cursor({"merged": binding, "before": unfinished}) if unfinished else None)


def _merged_positions(cursor: str, binding: str, sources: Mapping[str, Source]) -> dict[str, str | None]:
    position = open_cursor(cursor)
    before = position.get("before")
    if position.get("merged") != binding or not isinstance(before, dict) or not set(before) <= set(sources):
        raise not_a_cursor()
    if not all(key is None or isinstance(key, str) and len(key) <= 1024 for key in before.values()):
        raise not_a_cursor()
    return {name: before[name] for name in sources if name in before}  # the sources' order, not the cursor's


def list_binding(*parts: Any) -> str:
    """A short digest of what makes a list this list (its name, filters, the residencies it merges)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
