"""The REST edge every API function shares: one resolver factory, exact JSON in and out,
body/query parsing into pydantic models, the error envelope, and the Lambda entry point."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..domain import errors as domain
from ..exact_json import MalformedJson, loads_exact
from ..lazy_packages import lean_powertools
from ..observability import instrumented, logger
from . import errors
from .auth import Caller, Permission, caller_from_authorizer
from .headers import IDEMPOTENCY_KEY

_rest = lean_powertools()  # the REST resolver alone, not every resolver and event class Powertools ships
APIGatewayRestResolver, CORSConfig, Response = _rest.APIGatewayRestResolver, _rest.CORSConfig, _rest.Response

API_PREFIX = "/api/billing"
MAX_BODY_BYTES = 256 * 1024
JSON = "application/json"

Model = TypeVar("Model", bound=BaseModel)


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    return Response(status_code=status, content_type=JSON, body=dumps(payload), headers=headers)


def error_response(error: domain.BillingError) -> Response:
    return Response(status_code=errors.status_of(error), content_type=JSON, body=errors.error_body(error))


def billing_api(*, enable_validation: bool = False) -> APIGatewayRestResolver:
    """A resolver for routes written relative to /api/billing, answering every error in the envelope.
    `enable_validation` turns on Powertools' own parameter validation for a function that wants it;
    it costs ~100 ms of cold start, so the billing functions parse with `parse_body`/`parse_query`."""
    app = APIGatewayRestResolver(
        strip_prefixes=[API_PREFIX],
        enable_validation=enable_validation,
        serializer=dumps,
        json_body_deserializer=loads_exact,
        cors=cors_for(os.environ.get("BILLING_CORS_ORIGINS", "")),
    )
    app.use(middlewares=[_refuse_oversized_body])

    @app.exception_handler(domain.BillingError)
    def _billing_error(error: domain.BillingError) -> Response:
        if errors.status_of(error) >= 500:
            logger.exception("billing error without a status")
        return error_response(error)

    @app.not_found
    def _no_route(_: Exception) -> Response:
        """A path the API has, asked with another method: 405 with `Allow` (OPTIONS: 204 with it,
        when no CORS origin is configured to answer the preflight); any other path: 404."""
        method, path = app.current_event.http_method, app.current_event.path
        allowed = allowed_methods(path)
        if not allowed:
            return error_response(domain.NotFound(f"No route {method} {path[:200]}."))
        allow = {"Allow": ", ".join((*allowed, "OPTIONS"))}
        if method == "OPTIONS":
            return Response(status_code=204, content_type=None, body="", headers=allow)
        refused = domain.MethodNotAllowed(
            f"{path[:200]} answers {', '.join(allowed)}, not {method[:16]}.", details={"allowed": list(allowed)}
        )
        return Response(status_code=405, content_type=JSON, body=errors.error_body(refused), headers=allow)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return Response(
            status_code=500,
            content_type=JSON,
            body=dumps(errors.envelope("internal_error", "Something went wrong on our side; it has been logged.")),
        )

    if enable_validation:
        from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

        @app.exception_handler(RequestValidationError)
        def _powertools_validation(error: RequestValidationError) -> Response:
            return error_response(errors.from_powertools_validation(list(error.errors())))

    return app


def cors_for(origins: str) -> CORSConfig | None:
    """Cross-origin callers from `BILLING_CORS_ORIGINS` (a comma list; none by default: the storefront
    is served from the API's own origin)."""
    allowed = [origin.strip() for origin in origins.split(",") if origin.strip()]
    if not allowed:
        return None
    return CORSConfig(
        allow_origin=allowed[0],
        extra_origins=allowed[1:],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match"],
        expose_headers=["ETag", "Location", "Idempotent-Replayed"],
        max_age=600,
    )


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods of the API route that `path` (a request path) matches, from the operations table
    (the one the OpenAPI document is made of; tests keep it in step with template.yaml)."""
    for route, methods in _route_patterns():
        if route.fullmatch(path.rstrip("/")):
            return methods
    return ()


@lru_cache(maxsize=1)
def _route_patterns() -> list[tuple[re.Pattern, tuple[str, ...]]]:
    """Built on the first request for a method a path lacks (it imports the models): never on a
    cold start's way to an answer."""
    from .operations import routes

    methods: dict[str, set[str]] = {}
    for route in routes():
        methods.setdefault(route.path, set()).add(route.method)
    return [(re.compile(re.sub(r"\{[^/]+\}", "[^/]+", path)), tuple(sorted(found))) for path, found in methods.items()]


def _body_bytes(event: dict) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except ValueError:
            raise domain.MalformedRequest("The request body is not valid base64.") from None
    return body.encode("utf-8") if isinstance(body, str) else body


def _refuse_oversized_body(app: APIGatewayRestResolver, next_middleware: Callable[..., Response]) -> Response:
    if len(_body_bytes(app.current_event.raw_event)) > MAX_BODY_BYTES:
        return error_response(domain.PayloadTooLarge(f"The request body is over {MAX_BODY_BYTES // 1024} KiB."))
    return next_middleware(app)


# --- request parsing ------------------------------------------------------------------------


def caller(app: APIGatewayRestResolver) -> Caller:
    return caller_from_authorizer(app.current_event.request_context.authorizer.raw_event)


def authorize(app: APIGatewayRestResolver, permission: Permission) -> Caller:
    """Who is asking, and may they? Checked before the body is even read (403 before 400/422)."""
    return caller(app).authorize(permission)


def _refuse_other_media_types(app: APIGatewayRestResolver) -> None:
    """A body declared as anything but JSON (a form, plain text) is not read as JSON: 415."""
    declared = app.current_event.headers.get("Content-Type")  # case-insensitive in Powertools
    media_type = (declared or JSON).split(";")[0].strip().lower()
    if media_type != JSON and not media_type.endswith("+json"):
        raise domain.UnsupportedMediaType(
            f"Send the body as {JSON}, not {media_type[:100]}.",
            details={"content_type": media_type[:100], "accepted": [JSON]},
        )


def json_object(app: APIGatewayRestResolver, *, required: bool = True) -> dict[str, Any]:
    raw = _body_bytes(app.current_event.raw_event)
    if not raw.strip():
        if required:
            raise domain.MalformedRequest("A JSON object body is required.")
        return {}
    _refuse_other_media_types(app)
    try:
        body = loads_exact(raw)
    except MalformedJson as error:
        raise domain.MalformedRequest(f"The request body is not valid JSON: {error}.") from None
    if not isinstance(body, dict):
        raise domain.MalformedRequest("The request body must be a JSON object.")
    return body


def parse_body(app: APIGatewayRestResolver, model: type[Model], *, required: bool = True) -> Model:
    body = json_object(app, required=required)
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise errors.validation_failed(error, location="body") from None


def parse_query(app: APIGatewayRestResolver, model: type[Model]) -> Model:
    params = app.current_event.query_string_parameters or {}
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise errors.validation_failed(error, location="query") from None


def lambda_entry(app: APIGatewayRestResolver) -> Callable[[dict, Any], dict]:
    def handle(event: dict, context: Any) -> dict:
        # Powertools keeps the request on its router *class*, one per process. Lambda runs one
        # request a process; the local stack runs concurrent requests in one, so each resolver
        # (one per container, one request at a time) keeps its own and never reads another's.
        app.current_event = app._to_proxy_event(event)
        app.lambda_context = context
        return app.resolve(event, context)

    return instrumented(handle, correlation_id_path=correlation_paths.API_GATEWAY_REST)


def path_value(annotation: Any, name: str, raw: str) -> Any:
    """A path parameter validated like a field (422 naming it, location `path`)."""
    try:
        return TypeAdapter(annotation).validate_python(raw)
    except ValidationError as error:
        raise domain.ValidationFailed.of(
            name, errors.validation_failed(error, location="path").fields[0]["message"], location="path"
        ) from None


def idempotency_key_header(app: APIGatewayRestResolver) -> str | None:
    key = app.current_event.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise domain.ValidationFailed.of(
            "Idempotency-Key", "must be 1 to 255 visible ASCII characters", location="header"
        )
    return key


def if_match_version(app: APIGatewayRestResolver) -> int | None:
    """The plan version `If-Match` names (`"3"`, `W/"3"`), None when absent or `*`. A value that
    names no version can match nothing: 412."""
    raw = app.current_event.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise domain.PreconditionFailed(
            'If-Match must be an ETag this API returned, such as "3".', details={"if_match": raw[:64]}
        )
    return int(tag)


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def created_or_replayed(result: BaseModel, replayed: bool, *, location: str | None = None) -> Response:
    """201 for the request that did the work; 200 with the same body for each replay of it."""
    if replayed:
        return json_response(200, result, headers={"Idempotent-Replayed": "true"})
    return json_response(201, result, headers={"Location": location} if location else None)
