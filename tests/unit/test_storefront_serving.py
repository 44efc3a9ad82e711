"""The local stack serves the storefront's static export at /marketplace: its index, the right
content types, security headers, and nothing outside frontend/out/."""

import json
from pathlib import Path

import pytest

from local_stack.storefront import is_storefront_path, storefront_response


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
