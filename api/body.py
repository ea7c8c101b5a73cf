"""Strict JSON request bodies.

FastAPI validates bodies from already-parsed Python objects, where pydantic's strict mode
would refuse an ISO 8601 time stamp. These dependencies validate the raw JSON instead
(``model_validate_json``): strict (no ``true`` for a number, no ``"1"`` for a number), with
time stamps as ISO strings, and NaN/infinity rejected. Every body is first scanned for its
nesting (:func:`raw_json_body`): deeper than :data:`~gridderms.bounds.MAX_JSON_DEPTH` it is
refused (422 naming the limit) before any recursive parser sees it. The OpenAPI document still
describes each body: :func:`body_doc` references the model's schema, :func:`add_body_schemas`
adds them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

from gridderms.bounds import (
    MAX_JSON_BODY_BYTES,
    MAX_JSON_DEPTH,
    JsonTooDeepError,
    check_json_depth,
)
from gridderms.ders import DerError, DerRecord, ders_from_json

M = TypeVar("M", bound=BaseModel)

_BODY_SCHEMAS: dict[str, dict[str, Any]] = {}


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def refuse_deep_json(raw: bytes | str) -> None:
    """Refuse (422 at ``body``, naming the limit) a JSON text nested deeper than
    :data:`~gridderms.bounds.MAX_JSON_DEPTH`, before it is parsed."""
    try:
        check_json_depth(raw, MAX_JSON_DEPTH)
    except JsonTooDeepError as exc:
        raise RequestValidationError(
            [{"loc": ["body"], "msg": str(exc), "type": "json_too_deep"}]
        ) from None


async def raw_json_body(request: Request) -> bytes:
    """The request body, refused (413) past :data:`~gridderms.bounds.MAX_JSON_BODY_BYTES`
    while it streams in, and (422) when nested deeper than
    :data:`~gridderms.bounds.MAX_JSON_DEPTH` (every JSON body is read through this)."""
    chunks: list[bytes] = []
    received_bytes = 0
    async for chunk in request.stream():
        received_bytes += len(chunk)
        if received_bytes > MAX_JSON_BODY_BYTES:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"JSON body of more than {MAX_JSON_BODY_BYTES} bytes "
                f"({MAX_JSON_BODY_BYTES // 2**20} MiB); split it into smaller requests",
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    refuse_deep_json(raw)
    return raw


def check_voltage_band(
    vm_min_pu: float | None, vm_max_pu: float | None, default_min: float, default_max: float
) -> None:
    """Refuse (422 naming the field) a voltage band whose lower bound is not below its upper
    one, a side not given taking its default (the service's operating limits)."""
    low = default_min if vm_min_pu is None else vm_min_pu
    high = default_max if vm_max_pu is None else vm_max_pu
    if low < high:
        return
    field = "vm_max_pu" if vm_min_pu is None else "vm_min_pu"
    sides = (
        f"vm_min_pu = {low:g}{'' if vm_min_pu is not None else ' (the default)'} must be below "
        f"vm_max_pu = {high:g}{'' if vm_max_pu is not None else ' (the default)'}"
    )
    raise RequestValidationError([{"loc": ["body", field], "msg": sides, "type": "voltage_band"}])


def json_body(model: type[M], *, optional: bool = False) -> Callable[[Request], Awaitable[M]]:
    """A dependency returning the request body validated strictly as ``model``; with
    ``optional`` an empty body means ``{}`` (every field at its default)."""
    _BODY_SCHEMAS[model.__name__] = model.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )

    async def parse(request: Request) -> M:
        raw = await raw_json_body(request)
        try:
            return model.model_validate_json(raw or (b"{}" if optional else b"null"))
        except ValidationError as exc:
            raise RequestValidationError(_errors(exc)) from None

    return parse


_DER_SCHEMA = TypeAdapter(DerRecord).json_schema(ref_template="#/components/schemas/{model}")
_BODY_SCHEMAS["DerRecord"] = _DER_SCHEMA


async def der_record_body(request: Request) -> DerRecord:
    """The body as one DER record (``der_type`` selects PV, battery, EV charger, flexible
    load or generator), checked by the registry's own strict importer."""
    raw = await raw_json_body(request)
    try:
        document = json.loads(raw or b"null")
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ["body"], "msg": f"malformed JSON: {exc}", "type": "json_invalid"}]
        ) from None
    if not isinstance(document, dict):
        raise RequestValidationError(
            [{"loc": ["body"], "msg": "expected a JSON object", "type": "dict_type"}]
        )
    try:
        (record,) = ders_from_json(json.dumps([document]))
    except (DerError, ValueError) as exc:
        message = str(exc).replace("<JSON text> item 1", "DER record", 1)
        raise RequestValidationError(
            [{"loc": ["body"], "msg": message, "type": "der_record"}]
        ) from None
    return record


def body_doc(name: str, *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON body of schema ``name``."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def add_body_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add every body schema (and the models it refers to) to ``components.schemas``."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in _BODY_SCHEMAS.items():
        schema = dict(schema)
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(def_name, definition)
        schemas.setdefault(name, schema)
    return openapi
