"""JSON values of a feeder file: how they read in a message, and whether they fit the type a
table declares for their column (used by :mod:`network_models.safe_json`)."""

from __future__ import annotations

import json

import pandas as pd


def json_kind(value: object) -> str:
    """How a JSON value reads in a message: ``a string ('abc')``, ``a list``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        if "_module" in value and "_class" in value:
            return f"a {value.get('_class')!s} object"
        return "an object"
    return f"a {type(value).__name__}"


def key_path(where: str, key: object) -> str:
    """JSON path of ``key`` in the object at ``where``."""
    text = str(key)
    return f"{where}.{text}" if text.isidentifier() else f"{where}[{text!r}]"


#: what the values of a column declared of each kind must be
DECLARED_VALUES = {"integer": "integers", "number": "numbers", "boolean": "true or false"}


def dtype_kind(name: object) -> str:
    """``integer``, ``number``, ``boolean`` or ``""`` (other, unknown) for a dtype name."""
    if not isinstance(name, str):
        return ""
    try:
        kind = pd.api.types.pandas_dtype(name).kind
    except (TypeError, ValueError):
        return ""
    return {"i": "integer", "u": "integer", "f": "number", "b": "boolean"}.get(kind, "")


def fits_declared(value: object, kind: str) -> bool:
    """Whether a JSON value (not null) fits a column declared of ``kind``."""
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return kind == "number" or isinstance(value, int) or float(value).is_integer()
