"""`/marketplace`: the storefront's static export (`frontend/out/`, built by `make run` when its
sources changed) served beside the API on the same origin, as CloudFront serves it from S3 when
deployed. Plain files only: `/marketplace` is its index.html, a path never leaves `out/` (no
traversal, no symlinks out), a missing file is a 404 in the API's envelope. Local stack only."""

from __future__ import annotations

import mimetypes
import posixpath
from pathlib import Path
from urllib.parse import unquote

from scripts.storefront_csp import inline_script_hashes

from .gateway import HttpResponse, refusal

PREFIX = "/marketplace"
LONGEST_PATH, LONGEST_NAME = 1024, 255  # S3's longest key; the longest file name a disk holds
OUT = Path(__file__).resolve().parent.parent / "frontend" / "out"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".png": "image/png",
}
# What template.yaml's CloudFront response headers policy sends, so the page meets it locally too.
# Next's static export inlines its bootstrap scripts: each runs by its hash (scripts/storefront_csp.py),
# never by 'unsafe-inline'. React sets style attributes: styles keep 'unsafe-inline' (no script runs so).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def is_storefront_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def resolve(path: str, root: Path = OUT) -> Path | None:
    """The file under `root` that `path` names, or None: `..`, encoded or not, cannot climb out."""
    relative = posixpath.normpath("/" + unquote(path).replace("\\", "/")).lstrip("/")
    if "\x00" in relative:
        return None
    try:
        candidate = (root / relative).resolve()
        base = root.resolve()
        if candidate != base and base not in candidate.parents:
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None
    except OSError:  # a name the file system cannot hold (ENAMETOOLONG, ELOOP): no such file
        return None


def is_too_long(path: str) -> bool:
    """A path no storefront file can have: answered 414 before the disk is asked."""
    return len(path) > LONGEST_PATH or any(len(name) > LONGEST_NAME for name in unquote(path).split("/"))


def storefront_response(method: str, path: str, root: Path = OUT) -> HttpResponse:
    if method not in ("GET", "HEAD"):
        return refusal(405, "method_not_allowed", f"{method} {PREFIX} is not a thing; GET it.")
    if is_too_long(path):
        return refusal(
            414,
            "uri_too_long",
            f"The storefront has no path that long (at most {LONGEST_PATH} characters, {LONGEST_NAME} a name).",
        )
    if not (root / "marketplace" / "index.html").is_file():
        return refusal(
            503,
            "storefront_not_built",
            "The storefront is not built: `make run` builds it (Node.js 20 and npm needed), "
            "or run `npm ci && npm run build` in frontend/.",
        )
    found = resolve(path, root)
    if found is None:
        return refusal(404, "not_found", f"No such file of the storefront: {path}")
    kind = TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0] or "application/octet-stream"
    # Hashed build assets never change; the page itself is always revalidated.
    immutable = "/_next/static/" in path
    body = found.read_bytes()
    hashes = inline_script_hashes(body.decode("utf-8", "replace")) if found.suffix == ".html" else []
    headers = {
        "Content-Type": kind,
        "Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY.format(hashes="".join(f" {h}" for h in hashes)),
        **SECURITY_HEADERS,
    }
    return HttpResponse(200, headers, body)
