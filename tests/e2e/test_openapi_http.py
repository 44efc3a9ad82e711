"""The OpenAPI document and the API reference over HTTP, as `make run` serves them."""

import http.client
import json
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate


def test_the_openapi_document_is_public_and_valid(server):
    answer = server.request("GET", "/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    validate(document)
    assert "/api/billing/usage" in document["paths"]


def test_the_reference_page_renders_the_document_from_local_assets(server):
    page = server.request("GET", "/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/api/billing/openapi.json" in page.text
    assert "https://" not in page.text  # no CDN
    script = server.request("GET", "/docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert server.request("GET", "/docs/../../template.yaml").status_code == 404


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_any_other_method_gets_the_api_s_enveloped_405_not_a_501(server, method):
    # Schemathesis found: TRACE /api/billing/usage answered 501 from the local HTTP server itself.
    url = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request(method, "/api/billing/usage")
    answer = connection.getresponse()
    body = json.loads(answer.read())
    assert answer.status == 405, answer.status
    assert body["error"]["code"] == "method_not_allowed"


def test_head_gets_the_headers_without_a_body(server):
    url = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request("HEAD", "/api/billing/plans")
    answer = connection.getresponse()
    assert answer.read() == b""
    connection.request("GET", "/api/billing/plans")  # the connection is still in step
    assert connection.getresponse().status == 200
