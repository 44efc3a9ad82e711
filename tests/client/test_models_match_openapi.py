"""The client's models are the service's OpenAPI document, kept exact by hand (as the storefront's
types are kept generated: tests/frontend): each model naming a schema (`__openapi__`) has that
schema's properties, no more and no fewer, the same required ones, the same JSON types and the
same nested schemas. When this fails, the API changed: update clients/python/.../models.py.

The document comes from the service's own code (billing.api.openapi), so no server is needed."""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from marketplace_billing import models
from pydantic import AwareDatetime, BaseModel

from billing.api.openapi import build_document

pytestmark = pytest.mark.client

MIRRORS = sorted(
    (c for c in vars(models).values() if isinstance(c, type) and issubclass(c, models.Model) and c.__openapi__),
    key=lambda c: c.__name__,
)
STRINGS = (str, Decimal, datetime, date, AwareDatetime)  # what the document sends as text


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return build_document()["components"]["schemas"]


def schema_types(schema: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        return {"object"}
    if "anyOf" in schema:
        return set().union(*(schema_types(branch) for branch in schema["anyOf"]))
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind or "any"}


def schema_refs(schema: Any) -> set[str]:
    if isinstance(schema, list):
        return set().union(set(), *(schema_refs(s) for s in schema))
    if not isinstance(schema, dict):
        return set()
    own = {schema["$ref"].rsplit("/", 1)[-1]} if "$ref" in schema else set()
    return own.union(*(schema_refs(schema.get(k)) for k in ("anyOf", "items", "additionalProperties")))


def annotation_types(annotation: Any) -> set[str]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(annotation_types(a) for a in typing.get_args(annotation)))
    if typing.get_origin(annotation) is typing.Annotated:
        return annotation_types(typing.get_args(annotation)[0])
    kind = typing.get_origin(annotation) or annotation
    if kind is type(None):
        return {"null"}
    if kind is bool:
        return {"boolean"}
    if kind is int:
        return {"integer"}
    if isinstance(kind, type) and issubclass(kind, STRINGS):
        return {"string"}
    if kind is list:
        return {"array"}
    if kind is dict or (isinstance(kind, type) and issubclass(kind, BaseModel)):
        return {"object"}
    return {"any"}


def annotation_refs(annotation: Any) -> set[str]:
    found = set()
    if isinstance(annotation, type) and issubclass(annotation, models.Model) and annotation.__openapi__:
        found.add(annotation.__openapi__)
    for argument in typing.get_args(annotation):
        found |= annotation_refs(argument)
    return found


def beyond_schema(field: Any) -> bool:
    """A field API.md promises that the document did not carry when the model was written (plan
    changes, usage corrections): checked only once the document has it, by JSON type."""
    return bool((field.json_schema_extra or {}).get("beyond_schema"))


def mirrored_fields(model: type[models.Model], schema: dict[str, Any]) -> dict[str, Any]:
    """The model's fields that the schema should have."""
    return {
        name: field
        for name, field in model.model_fields.items()
        if not beyond_schema(field) or name in schema["properties"]
    }


@pytest.mark.parametrize("model", MIRRORS, ids=lambda m: m.__name__)
def test_the_model_has_exactly_the_schemas_properties(model, schemas):
    assert model.__openapi__ in schemas, f"{model.__openapi__} left the OpenAPI document"
    schema = schemas[model.__openapi__]
    fields = mirrored_fields(model, schema)
    assert set(fields) == set(schema["properties"]), (
        f"{model.__name__} vs {model.__openapi__}: only in the model {set(fields) - set(schema['properties'])}, "
        f"only in the document {set(schema['properties']) - set(fields)}"
    )
    required = {name for name, field in fields.items() if field.is_required()}
    assert required == set(schema.get("required", ())), f"{model.__name__}: required fields differ"


@pytest.mark.parametrize("model", MIRRORS, ids=lambda m: m.__name__)
def test_each_field_has_the_schemas_json_type_and_nested_schema(model, schemas):
    schema = schemas[model.__openapi__]
    for name, field in mirrored_fields(model, schema).items():
        wanted = schema_types(schema["properties"][name])
        if "any" not in wanted:
            assert annotation_types(field.annotation) == wanted, f"{model.__name__}.{name}: {wanted}"
        named = schema_refs(schema["properties"][name])  # a bare "object" may be typed finer by the model
        if named and not beyond_schema(field):
            assert annotation_refs(field.annotation) == named, f"{model.__name__}.{name}: {named}"


def test_a_subscription_read_alone_is_the_subscription_with_its_health(schemas):
    """GET /subscriptions/{id} answers `SubscriptionWithHealth`: the same model, `health` filled in."""
    with_health = schemas["SubscriptionWithHealth"]
    assert set(with_health["properties"]) == set(schemas["Subscription"]["properties"]) | {"health"}
    assert schema_refs(with_health["properties"]["health"]) == {models.Health.__openapi__}


def test_a_stale_model_is_caught():
    """The check can fail: a schema with one more property than the model is reported."""

    class Stale(models.Model):
        __openapi__ = "GrantAllocation"
        grant_id: str

    schema = build_document()["components"]["schemas"]["GrantAllocation"]
    assert set(mirrored_fields(Stale, schema)) != set(schema["properties"])
    assert annotation_types(models.GrantAllocation.model_fields["amount"].annotation) == {"string"}
    assert annotation_types(models.Subscription.model_fields["auto_top_up"].annotation) == {"object", "null"}
