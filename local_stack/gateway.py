"""API Gateway (REST, Lambda proxy), locally: route matching on the template's paths, the
TOKEN authorizer the template declares, proxy events, and the template's gateway responses."""

from __future__ import annotations

import base64
import fnmatch
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .functions import LocalFunction
from .template import PSEUDO, Stack

API_GATEWAY_BODY_LIMIT = 10 * 1024 * 1024
API_ID = "localapi"


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class ApiGateway:
    def __init__(self, stack: Stack, functions: dict[str, LocalFunction]):
        self.stack = stack
        self.functions = functions
        self.routes = stack.api_routes()
        self.authorizers = stack.authorizers()
        self.responses = stack.gateway_responses()
        self.stage = stack.stage()

    def gateway_response(
        self, kind: str, default_status: int, authorizer: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A response API Gateway makes itself, as the template's GatewayResponses shape it,
        with `$context.authorizer.<key>` filled in from the authorizer's context."""
        spec = (
            self.responses.get(kind)
            or self.responses.get("DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX")
            or {}
        )
        status = int(spec.get("StatusCode", default_status))
        body = (spec.get("ResponseTemplates") or {}).get("application/json") or json.dumps({"message": kind})
        for key, value in (authorizer or {}).items():
            body = body.replace(f"$context.authorizer.{key}", str(value))
        return HttpResponse(status, {"Content-Type": "application/json"}, body.encode())

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str = "127.0.0.1"
    ) -> HttpResponse:
        url = urlsplit(raw_path)
        path = url.path.rstrip("/") or "/"
        if len(body) > API_GATEWAY_BODY_LIMIT:
            return self.gateway_response("REQUEST_TOO_LARGE", 413)
        route, path_params = self._match(method, path)
        if route is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", 403)
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer:
            outcome = self._authorize(route.authorizer, method, path, headers)
            if isinstance(outcome, HttpResponse):
                return outcome
            authorizer_context = outcome
        event = self._proxy_event(
            route.path, method, path, url.query, headers, body, path_params, authorizer_context, source_ip
        )
        try:
            result = self.functions[route.function_id].invoke(event)
        except Exception:  # a function that raises is a 502 from API Gateway
            import traceback

            traceback.print_exc()
            return self.gateway_response("DEFAULT_5XX", 502)
        return http_response_from_proxy(result)

    def _match(self, method: str, path: str):
        """As API Gateway: a resource's own method first, then its ANY method."""
        for wanted in (method, "ANY"):
            for route in self.routes:
                found = route.pattern.match(path)
                if found and route.method == wanted:
                    return route, found.groupdict()
        return None, {}

    def _authorize(self, name: str, method: str, path: str, headers: dict[str, str]) -> dict[str, Any] | HttpResponse:
        authorizer = self.authorizers[name]
        token = _header(headers, authorizer.identity_header)
        if not token:
            return self.gateway_response("UNAUTHORIZED", 401)
        region, account = PSEUDO["AWS::Region"], PSEUDO["AWS::AccountId"]
        method_arn = f"arn:aws:execute-api:{region}:{account}:{API_ID}/{self.stage}/{method}{path}"
        try:
            answer = self.functions[authorizer.function_id].invoke(
                {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
            )
        except Exception as error:
            if str(error) == "Unauthorized":
                return self.gateway_response("UNAUTHORIZED", 401)
            return self.gateway_response("AUTHORIZER_FAILURE", 500)
        if not _allows(answer.get("policyDocument", {}), method_arn):
            return self.gateway_response("ACCESS_DENIED", 403, answer.get("context"))
        return {**(answer.get("context") or {}), "principalId": answer.get("principalId")}

    def _proxy_event(
        self, resource, method, path, query, headers, body, path_params, authorizer, source_ip
    ) -> dict[str, Any]:
        multi_query = parse_qs(query, keep_blank_values=True)
        try:
            text, encoded = (body.decode("utf-8") if body else None), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        return {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers),
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "stage": self.stage,
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "accountId": PSEUDO["AWS::AccountId"],
                "apiId": API_ID,
                "protocol": "HTTP/1.1",
                "identity": {"sourceIp": source_ip, "userAgent": _header(headers, "User-Agent")},
                "authorizer": authorizer,
            },
            "body": text,
            "isBase64Encoded": encoded,
        }


def refusal(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> HttpResponse:
    """An answer of the local stack itself, in the API's error envelope."""
    body = json.dumps({"error": {"code": code, "message": message, "details": details or {}}}).encode()
    return HttpResponse(status, {"Content-Type": "application/json"}, body)


def http_response_from_proxy(result: Any) -> HttpResponse:
    """A Lambda proxy result as the HTTP response API Gateway would send."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return HttpResponse(502, {"Content-Type": "application/json"}, b'{"message":"Internal server error"}')
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key] = ", ".join(str(v) for v in values)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return HttpResponse(int(result["statusCode"]), headers, raw)


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _allows(policy: dict[str, Any], method_arn: str) -> bool:
    allowed = False
    for statement in policy.get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed
