"""The OpenAPI 3.1 document of the API, generated from the operations table (`operations.py`, checked against
template.yaml by a test) and the pydantic models themselves: requests in validation mode, responses in
serialization mode (what goes over the wire: decimals as strings). Built on the first request for it
and kept for the container's life: schema generation takes a few hundred milliseconds."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from .examples import MERGE_PATCH_EXAMPLE, PATH_EXAMPLES, REQUEST_EXAMPLES
from .operations import CSV, MERGE_PATCH, Route, routes

TITLE = "Marketplace Billing API"
VERSION = "1"
REF = "#/components/schemas/{model}"
ERROR_ENVELOPE = "ErrorEnvelope"
_PARAMETER = re.compile(r"{([A-Za-z0-9_]+)}")
DESCRIPTION = (
    "Generated from the service's own route table and models. "
    "Money is integer cents; credits, quantities and rates are exact decimal strings.\n\n"
    "**Trying it out**: every route but the public catalog needs a bearer token. Press *Authorize* and "
    "paste one (the token alone, without `Bearer`). Against the local stack, "
    "`make token ROLE=org:admin ORG=org-acme RESIDENCY=us` prints one (roles: `marketplace:admin`, `finance`, "
    "`service`, `org:admin`, `org:member`), as does `POST /_local/token`; in a deployment the identity provider "
    "issues it. Each operation names the roles it needs. The request examples follow the README's walk on a "
    "fresh sandbox: `org-acme` subscribes to `lab-standard` first; a fixed idempotency key sent twice is replayed."
)
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT with `sub`, `roles`, `org` (organization roles) and `residency`. "
    "Locally: `make token ROLE=... ORG=... RESIDENCY=...`.",
}


def _error_envelope() -> dict[str, Any]:
    field = {
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "location": {"type": "string", "enum": ["body", "query", "path", "header"]},
            "message": {"type": "string"},
        },
        "required": ["field", "message"],
    }
    return {
        "type": "object",
        "description": "Every error: a stable machine `code`, a human `message`, and `details` "
        "(a 422 names each offending field in `details.fields`).",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {
                        "type": "object",
                        "properties": {"fields": {"type": "array", "items": field}},
                        "additionalProperties": True,
                    },
                },
                "required": ["code", "message", "details"],
            }
        },
        "required": ["error"],
    }


def _error_response(codes: tuple[str, ...]) -> dict[str, Any]:
    schema = {
        "allOf": [
            {"$ref": REF.format(model=ERROR_ENVELOPE)},
            {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}},
        ]
    }
    return {
        "description": "Error: " + ", ".join(f"`{c}`" for c in codes),
        "content": {"application/json": {"schema": schema}},
    }


DECIMAL_LIMIT = 10**12
DECIMAL_TEXT = r"^[+-]?(?:\d{1,12}(?:\.\d{0,6})?|\.\d{1,6})$"
_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _json_schema_bounds(node: Any) -> Any:
    """pydantic leaves annotated_types bounds it cannot place (on `Decimal` accepted as a number or
    a string, on ints with a before-validator) as `ge`/`gt`: JSON Schema's minimum/exclusiveMinimum
    on the number branch (or the node itself); a string branch keeps its own checks."""
    if isinstance(node, list):
        return [_json_schema_bounds(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema_bounds(value) for key, value in node.items()}
    bounds = {_BOUNDS[key]: node.pop(key) for key in list(node) if key in _BOUNDS}
    if bounds:
        targets = [b for b in node.get("anyOf", []) if b.get("type") in ("number", "integer")] or [node]
        for target in targets:
            for key, value in bounds.items():
                target.setdefault(key, value)
    branches = node.get("anyOf", [])
    if [b.get("type") for b in branches] == ["number", "string"] and "pattern" not in branches[1]:
        # An exact decimal (values.py), sent as a JSON number or a string: below 10^12, 6 decimals.
        branches[0].setdefault("exclusiveMaximum", DECIMAL_LIMIT)
        if "minimum" not in branches[0]:
            branches[0].setdefault("exclusiveMinimum", -DECIMAL_LIMIT)
        branches[1]["pattern"] = DECIMAL_TEXT
    return node


def _model_schemas(table: list[Route]) -> tuple[dict[tuple[Any, str], dict[str, Any]], dict[str, Any]]:
    """Every model the table names, in the mode it is used in, as a $ref (or inline schema) plus
    the shared definitions."""
    from pydantic import BaseModel
    from pydantic.json_schema import models_json_schema

    used: list[tuple[Any, str]] = []
    for route in table:
        if isinstance(route.body, type):
            used.append((route.body, "validation"))
        for model in route.responses.values():
            if isinstance(model, type) and issubclass(model, BaseModel):
                used.append((model, "serialization"))
    unique = list(dict.fromkeys(used))
    refs, top = models_json_schema(unique, ref_template=REF)
    return refs, _json_schema_bounds(top.get("$defs", {}))


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: `X | None = None` is documented as an optional X."""
    schema = {k: v for k, v in schema.items() if k != "title" and not (k == "default" and v is None)}
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema |= branches[0]
    elif branches:
        schema["anyOf"] = branches
    return schema


def _query_parameters(model: Any) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation", by_alias=True, ref_template=REF)
    required = set(schema.get("required", ()))
    found = []
    for name, prop in schema.get("properties", {}).items():
        found.append({"name": name, "in": "query", "required": name in required, "schema": _not_null(prop)})
    return found


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    from pydantic import TypeAdapter

    found = []
    for name in _PARAMETER.findall(route.path):
        annotation = route.path_types.get(name)
        schema = TypeAdapter(annotation).json_schema() if annotation is not None else {"type": "string", "minLength": 1}
        parameter = {"name": name, "in": "path", "required": True, "schema": schema}
        if name in PATH_EXAMPLES:
            parameter["example"] = PATH_EXAMPLES[name]
        found.append(parameter)
    return found


def _operation(route: Route, refs: dict[tuple[Any, str], dict[str, Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag] if route.tag else [],
        "description": "Public: no token needed."
        if route.public
        else "Roles: " + ", ".join(f"`{role}`" for role in route.roles) + ".",
        "x-roles": list(route.roles),
    }
    if route.public:
        operation["security"] = []
    parameters = _path_parameters(route)
    if route.query is not None:
        parameters += _query_parameters(route.query)
    for name, schema in route.headers.items():
        parameters.append({"name": name, "in": "header", "required": False, "schema": schema})
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        body: dict[str, Any] = {
            "schema": route.body if isinstance(route.body, dict) else refs[(route.body, "validation")]
        }
        example = _request_example(route)
        if example is not None:
            body["example"] = example
        operation["requestBody"] = {"required": route.body_required, "content": {"application/json": body}}
    responses: dict[str, Any] = {}
    for status, model in sorted(route.responses.items()):
        if model == CSV:
            content = {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
                "application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}},
            }
        elif model is dict:
            content = {"application/json": {"schema": {"type": "object"}}}
        else:
            content = {"application/json": {"schema": refs[(model, "serialization")]}}
        description = (
            "Replayed: the first answer to this idempotency key" if status == 200 and 201 in route.responses else "OK"
        )
        responses[str(status)] = {"description": description, "content": content}
    for status, codes in route.error_codes().items():
        responses[str(status)] = _error_response(codes)
    operation["responses"] = responses
    return operation


def _request_example(route: Route) -> dict[str, Any] | None:
    """A body "Try it out" can send as it is (examples.py), by the request model's name."""
    if route.body is MERGE_PATCH:
        return MERGE_PATCH_EXAMPLE
    return REQUEST_EXAMPLES.get(getattr(route.body, "__name__", ""))


def _links(route: Route, table: list[Route]) -> dict[str, Any]:
    """What a created resource leads to: every operation whose path parameters the 201 body names
    (a subscription's, an invoice's, a plan's operations), as OpenAPI links for stateful clients."""
    model = route.responses.get(201)
    fields = set(getattr(model, "model_fields", {}))
    links = {}
    for other in table:
        names = _PARAMETER.findall(other.path)
        if other is not route and names and set(names) <= fields:
            links[other.operation_id] = {
                "operationId": other.operation_id,
                "parameters": {name: f"$response.body#/{name}" for name in names},
            }
    return links


def build_document(table: list[Route] | None = None) -> dict[str, Any]:
    table = routes() if table is None else table
    refs, definitions = _model_schemas(table)
    paths: dict[str, dict[str, Any]] = {}
    for route in table:
        operation = _operation(route, refs)
        links = _links(route, table)
        if links:
            operation["responses"]["201"]["links"] = links
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    definitions[ERROR_ENVELOPE] = _error_envelope()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(definitions.items())),
            "securitySchemes": {"bearer": BEARER},
        },
        "security": [{"bearer": []}],
    }


@cache
def document_json() -> str:
    """The document as JSON text, built once per container."""
    import json

    return json.dumps(build_document(), separators=(",", ":"))
