"""The shared REST edge: the error envelope for every kind of failure, in one place."""

import json
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from billing.api.http import billing_api, parse_body
from billing.api.models.paging import PageQuery


def event(method="GET", path="/api/billing/things", body=None, query=None, authorizer=None):
    return {
        "httpMethod": method,
        "path": path,
        "resource": path,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": query,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"authorizer": authorizer, "stage": "dev", "requestId": "r"},
    }


def answer(app, **kwargs):
    result = app.resolve(event(**kwargs), None)
    return result["statusCode"], json.loads(result["body"])


def test_powertools_validation_errors_come_out_in_the_envelope_naming_the_field():
    app = billing_api(enable_validation=True)

    @app.get("/things")
    def things(limit: Annotated[int, Query(le=200)] = 50):
        return {"limit": limit}

    status, body = answer(app, query={"limit": "500"})
    assert status == 422 and body["error"]["code"] == "validation_error"
    assert body["error"]["details"]["fields"][0]["field"] == "limit"
    assert body["error"]["details"]["fields"][0]["location"] == "query"
    assert answer(app, query={"limit": "5"}) == (200, {"limit": 5})


def test_powertools_body_validation_of_malformed_json_is_a_400():
    app = billing_api(enable_validation=True)

    @app.post("/things")
    def things(page: PageQuery):
        return {}

    status, body = answer(app, method="POST", body="{nope")
    assert status == 400 and body["error"]["code"] == "malformed_json"


def test_our_parsing_reports_malformed_json_non_objects_and_bad_fields():
    app = billing_api()

    @app.post("/things")
    def things():
        return {"limit": parse_body(app, PageQuery).limit}

    assert answer(app, method="POST", body="{nope")[1]["error"]["code"] == "malformed_json"
    assert answer(app, method="POST", body="[1, 2]")[0] == 400
    assert answer(app, method="POST", body="")[0] == 400
    status, body = answer(app, method="POST", body='{"limit": 0, "extra": 1}')
    assert status == 422
    assert {f["field"] for f in body["error"]["details"]["fields"]} == {"limit", "extra"}


def test_oversized_bodies_unknown_routes_and_crashes_use_the_envelope():
    app = billing_api()

    @app.post("/things")
    def things():
        raise RuntimeError("boom")

    assert answer(app, method="POST", body="x" * (256 * 1024 + 1))[1]["error"]["code"] == "payload_too_large"
    assert answer(app, method="POST", body="x" * (256 * 1024 + 1))[0] == 413
    assert answer(app, path="/api/billing/nowhere") == (404, answer(app, path="/api/billing/nowhere")[1])
    assert answer(app, path="/api/billing/nowhere")[1]["error"]["code"] == "not_found"
    status, body = answer(app, method="POST", body="{}")
    assert status == 500 and body["error"]["code"] == "internal_error" and "boom" not in json.dumps(body)


def test_concurrent_requests_to_two_resolvers_each_read_their_own_request(monkeypatch):
    """The local stack serves requests concurrently in one process (a resolver per container):
    one request must never read another's query, body or headers."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier
    from types import SimpleNamespace

    from billing import observability
    from billing.api.http import lambda_entry

    monkeypatch.setattr(observability.metrics, "namespace", "BillingTest")  # as the template sets it
    both_resolved = Barrier(2, timeout=5)

    def resolver():
        app = billing_api()

        @app.get("/echo")
        def echo():
            both_resolved.wait()  # the other request has started resolving by now
            return {"who": app.current_event.query_string_parameters["who"]}

        return lambda_entry(app)

    def ask(handler, who):
        event = {
            "httpMethod": "GET",
            "path": "/api/billing/echo",
            "resource": "/api/billing/echo",
            "headers": {},
            "queryStringParameters": {"who": who},
            "requestContext": {"requestId": who, "stage": "local"},
            "body": None,
        }
        context = SimpleNamespace(
            function_name="echo",
            function_version="$LATEST",
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:echo",
            memory_limit_in_mb=128,
            aws_request_id=who,
        )
        return json.loads(handler(event, context)["body"])["who"]

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(ask, resolver(), "first"), pool.submit(ask, resolver(), "second")
        assert (first.result(), second.result()) == ("first", "second")
