"""Building DER records from mappings, with errors that say where the bad value is.

Shared by the importers (:mod:`gridderms.ders.json_import`, :mod:`gridderms.ders.csv_import`,
:mod:`gridderms.ders.net_import`): every problem raises
:class:`~gridderms.ders.errors.DerImportError` with a message that names the source (file path
or net), the location (CSV data row, JSON item or net element, 1-based for files), the DER id
when known and the field, e.g.::

    ders.csv row 3 (der_id 'pv-7'): field 'p_available_mw' = 0.6 exceeds p_nameplate_mw = 0.5
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from gridderms.bounds import is_name
from gridderms.ders.errors import DerImportError
from gridderms.ders.records import DER_RECORD_CLASSES, DER_TYPES, DerRecord

KNOWN_TYPES = ", ".join(DER_TYPES)
"""The DER types, listed for a message."""


def show_value(value: object) -> str:
    """A cell or field value for a message (ISO 8601 date-times, ``%g`` floats, else ``repr``)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _explain(exc: ValidationError, *, csv_columns: bool = False) -> str:
    """Turn a pydantic error into ``field 'x' = value: problem`` sentences."""
    parts: list[str] = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(item) for item in error["loc"])
        if csv_columns and field.startswith("reactive."):
            field = field.removeprefix("reactive.")
        kind = error["type"]
        if kind == "value_error":
            message = str(error["msg"]).removeprefix("Value error, ")
            if csv_columns:
                message = message.replace("'reactive.", "'")
        elif kind == "missing":
            message = f"field '{field}' is missing"
        elif kind == "extra_forbidden":
            message = f"unknown field '{field}'"
        else:
            message = f"field '{field}' = {show_value(error.get('input'))}: {error['msg']}"
        parts.append(message)
    return "; ".join(parts)


def locate(location: str, der_id: object) -> str:
    """``location`` with the DER's id when it is a valid one (an invalid id is not echoed
    raw: the record's message names it, escaped)."""
    if is_name(der_id):
        return f"{location} (der_id '{der_id}')"
    return location


def _strip_own_id(message: str, der_id: object) -> str:
    """Drop the `` (der_id 'x')`` suffix of a record message: the location names it already."""
    return message.replace(f" (der_id '{der_id}')", "") if isinstance(der_id, str) else message


def build_record(data: Mapping[str, Any], where: str, *, csv_columns: bool = False) -> DerRecord:
    """Validate a mapping (Python values) into the record class named by ``der_type``."""
    der_type = data.get("der_type")
    der_id = data.get("der_id")
    cls = DER_RECORD_CLASSES.get(der_type) if isinstance(der_type, str) else None
    if cls is None:
        raise DerImportError(
            f"{locate(where, der_id)}: unknown der_type {der_type!r} "
            f"(expected one of {KNOWN_TYPES})"
        )
    try:
        record = cls.model_validate(data)
    except ValidationError as exc:
        message = _strip_own_id(_explain(exc, csv_columns=csv_columns), der_id)
        raise DerImportError(f"{locate(where, der_id)}: {message}") from None
    return cast("DerRecord", record)


def check_unique_ids(records: list[tuple[str, DerRecord]]) -> None:
    """Refuse a ``der_id`` that repeats among ``(location, record)`` pairs."""
    seen: dict[str, str] = {}
    for where, record in records:
        if record.der_id in seen:
            raise DerImportError(
                f"{locate(where, record.der_id)}: duplicate der_id "
                f"(first defined at {seen[record.der_id]})"
            )
        seen[record.der_id] = where


def read_der_text(path: Path) -> str:
    """The text of a DER file (UTF-8, an optional byte-order mark dropped)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DerImportError(f"DER file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DerImportError(f"cannot read DER file '{path}': {exc}") from None
