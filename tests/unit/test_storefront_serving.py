"""The local stack serves the storefront's static export at /marketplace: its index, the right
content types, security headers, and nothing outside frontend/out/."""

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from local_stack.storefront import is_storefront_path, storefront_response
from scripts.storefront_csp import deploy_overrides


@pytest.fixture
def out(tmp_path: Path) -> Path:
    (tmp_path / "marketplace" / "_next" / "static" / "chunks").mkdir(parents=True)
    (tmp_path / "marketplace" / "index.html").write_text("<!DOCTYPE html><title>store</title>")
    (tmp_path / "marketplace" / "_next" / "static" / "chunks" / "main.js").write_text("console.log(1)")
    (tmp_path / "marketplace" / "_next" / "static" / "site.css").write_text("body{}")
    (tmp_path.parent / "secret.txt").write_text("not for the web")
    return tmp_path


def error_code(response) -> str:
    return json.loads(response.body)["error"]["code"]


@pytest.mark.parametrize("path", ["/marketplace", "/marketplace/", "/marketplace/index.html"])
def test_the_page_is_its_index_html_with_security_headers(out, path):
    response = storefront_response("GET", path, out)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.body.startswith(b"<!DOCTYPE html>")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-cache"


def test_build_assets_have_their_content_types_and_are_cached_for_good(out):
    script = storefront_response("GET", "/marketplace/_next/static/chunks/main.js", out)
    style = storefront_response("GET", "/marketplace/_next/static/site.css", out)
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert style.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "immutable" in script.headers["Cache-Control"]


@pytest.mark.parametrize(
    "path",
    [
        "/marketplace/../../secret.txt",
        "/marketplace/%2e%2e/%2e%2e/secret.txt",
        "/marketplace/..%2f..%2fsecret.txt",
        "/marketplace/..\\..\\secret.txt",
        "/marketplace/nope.js",
        "/marketplace/%00",
    ],
)
def test_a_path_never_leaves_the_build_and_a_missing_file_is_a_404_in_the_envelope(out, path):
    response = storefront_response("GET", path, out)
    assert response.status == 404
    assert error_code(response) == "not_found"
    assert b"not for the web" not in response.body


def test_only_get_and_head_are_served(out):
    response = storefront_response("POST", "/marketplace", out)
    assert response.status == 405


def test_an_unbuilt_storefront_says_how_to_build_it(tmp_path):
    response = storefront_response("GET", "/marketplace", tmp_path)
    assert response.status == 503
    assert "make run" in json.loads(response.body)["error"]["message"]


def test_only_marketplace_paths_are_the_storefronts():
    assert is_storefront_path("/marketplace")
    assert is_storefront_path("/marketplace/_next/x.js")
    assert not is_storefront_path("/marketplaces")
    assert not is_storefront_path("/api/billing/plans")


def test_a_page_runs_its_own_inline_scripts_by_hash_and_no_other(tmp_path):
    bootstrap = "(self.__next_f=self.__next_f||[]).push([0])"
    page = (
        f"<!DOCTYPE html><script src='/marketplace/_next/a.js'></script><script>{bootstrap}</script>"
        '<script type="application/json">{"data": 1}</script>'
    )
    (tmp_path / "marketplace").mkdir()
    (tmp_path / "marketplace" / "index.html").write_text(page)
    policy = storefront_response("GET", "/marketplace", tmp_path).headers["Content-Security-Policy"]
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
    digest = base64.b64encode(hashlib.sha256(bootstrap.encode()).digest()).decode()
    assert script_src == f"script-src 'self' 'sha256-{digest}'"  # the JSON block never runs: no hash for it


def test_the_deployed_policy_takes_the_builds_hashes_and_never_unsafe_inline_scripts():
    template = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
    policy = re.search(r"ContentSecurityPolicy: !Sub \"([^\"]+)\"", template).group(1)
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
    assert script_src == "script-src 'self' ${StorefrontScriptHashes}"


def test_deploy_overrides_keep_the_configured_ones_and_add_the_hashes():
    overrides = deploy_overrides("prod", ["'sha256-AAA='", "'sha256-BBB='"])
    assert overrides.startswith("Stage=prod ")
    assert overrides.endswith("StorefrontScriptHashes=\"'sha256-AAA=' 'sha256-BBB='\"")


@pytest.mark.parametrize("path", ["/marketplace/" + "a" * 256, "/marketplace/" + "a/" * 600])
def test_a_path_no_file_can_have_is_414_before_the_disk_is_asked(out, path):
    response = storefront_response("GET", path, out)
    assert response.status == 414 and error_code(response) == "uri_too_long"
