"""The storefront's Content-Security-Policy script sources, from its static export: `'self'` and
the SHA-256 hash of each inline script of every page (Next's bootstrap: `self.__next_f.push(...)`),
so no inline script runs unless the build wrote it and `'unsafe-inline'` is never needed.

The local stack computes them from the page it serves; `make deploy` puts the whole build's into
the CloudFront response headers policy (template parameter StorefrontScriptHashes):

    python scripts/storefront_csp.py                 # the hash sources of frontend/out
    python scripts/storefront_csp.py --env sandbox   # samconfig's parameter overrides, plus them"""

from __future__ import annotations

import argparse
import base64
import hashlib
import tomllib
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "frontend" / "out"
EXECUTABLE_TYPES = {"", "text/javascript", "application/javascript", "module"}  # JSON data blocks never run
# CloudFront takes a Content-Security-Policy of at most 1,783 characters; the rest of the policy
# (template.yaml) takes about 400 of them, with an identity provider's origins.
HASHES_LIMIT = 1300


class _InlineScripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._inline: bool = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            found = dict(attrs)
            self._inline = "src" not in found and (found.get("type") or "").strip().lower() in EXECUTABLE_TYPES
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._inline:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._inline:
            self.scripts.append("".join(self._text))
            self._inline = False


def inline_script_hashes(html: str) -> list[str]:
    """`'sha256-...'` of each inline script, as a browser hashes it (the text between the tags)."""
    parser = _InlineScripts()
    parser.feed(html)
    parser.close()
    digests = (hashlib.sha256(script.encode()).digest() for script in parser.scripts)
    return list(dict.fromkeys(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests))


def build_script_hashes(out: Path = OUT) -> list[str]:
    """The hashes of every page of the build, in a stable order."""
    pages = sorted(out.rglob("*.html"))
    if not pages:
        raise SystemExit("frontend/out is not built: run `bash scripts/bootstrap storefront` first.")
    hashes = sorted({h for page in pages for h in inline_script_hashes(page.read_text(encoding="utf-8"))})
    if len(" ".join(hashes)) > HASHES_LIMIT:
        raise SystemExit(f"{len(hashes)} inline scripts: their hashes do not fit CloudFront's CSP header")
    return hashes


def deploy_overrides(env: str, hashes: list[str]) -> str:
    """samconfig's parameter overrides for `env` with the build's script hashes added (a
    --parameter-overrides given to `sam deploy` replaces the configured ones, so it carries both)."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    configured = config[env].get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    return f'{configured} StorefrontScriptHashes="{" ".join(hashes)}"'.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", help="print samconfig's parameter overrides for ENV with the hashes added")
    args = parser.parse_args(argv)
    hashes = build_script_hashes()
    print(deploy_overrides(args.env, hashes) if args.env else " ".join(hashes))


if __name__ == "__main__":
    main()
