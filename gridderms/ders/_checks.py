"""Shared input checks for the DER models: finite numbers, no booleans posing as numbers.

pydantic's strict mode already rejects ``True`` for a ``float`` field, and ``Field(gt=...)``
rejects some NaNs, but neither message names the DER. These checks run before field validation
(``model_validator(mode="before")``) so the message names the field and, when known, the DER id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from gridderms.bounds import is_name

STRICT_FROZEN = ConfigDict(extra="forbid", strict=True, frozen=True)
"""Configuration of every DER model: unknown fields rejected, no coercion, immutable."""

_NUMERIC = (float, int)


def der_id_suffix(der_id: object) -> str:
    """Return ``" (der_id 'x')"`` for a valid id (:data:`gridderms.bounds.NAME_PATTERN`), else
    an empty string (an invalid id is not echoed: its own message names it, escaped)."""
    return f" (der_id '{der_id}')" if is_name(der_id) else ""


def check_numeric_inputs(
    model: type[BaseModel], data: object, *, der_id: object = None, prefix: str = ""
) -> None:
    """Reject booleans and non-finite floats given for the numeric fields of ``model``.

    Parameters
    ----------
    model : type[BaseModel]
        Model whose ``float`` and ``int`` fields are checked.
    data : object
        Raw input of the model; only a mapping is inspected (a model instance is already valid).
    der_id : object, optional
        Raw ``der_id`` of the DER the input belongs to, named in the message when a string.
    prefix : str, optional
        Prepended to the field name in the message, e.g. ``"reactive."`` for nested models.

    Raises
    ------
    ValueError
        A numeric field holds a ``bool``, NaN or an infinity.
    """
    if not isinstance(data, Mapping):
        return
    suffix = der_id_suffix(der_id)
    for name, field in model.model_fields.items():
        if field.annotation not in _NUMERIC or name not in data:
            continue
        value = data[name]
        if isinstance(value, bool):
            raise ValueError(
                f"field '{prefix}{name}' must be a number, got boolean {value}{suffix}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"field '{prefix}{name}' must be a finite number, got {value}{suffix}")
