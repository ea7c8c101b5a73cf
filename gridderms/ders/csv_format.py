"""The DER CSV file layout: columns, which columns apply to which ``der_type``, cell encoding.

One row per DER. Common columns are required in the header; a type-specific column is required
only when a row of that type is present, and must be blank in rows of other types. Cells:

* numbers in plain decimal or scientific notation (``0.5``, ``1e-3``); ``bus`` an integer;
* booleans ``true`` / ``false`` (case-insensitive);
* datetimes ISO 8601 with a UTC offset (``2024-06-01T08:00:00+02:00``);
* ``tags`` separated by ``;`` (``feeder-a;priority``), blank for none;
* ``source_element`` (optional column) ``table:index`` (``sgen:3``), blank for none;
* a blank ``status`` means ``available``, a blank ``name`` the empty name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from gridderms.ders.records import DER_RECORD_CLASSES, DerRecordBase

CellKind = Literal["str", "int", "float", "bool", "datetime", "tags", "source"]
"""How a cell is encoded."""

COMMON_COLUMNS: tuple[str, ...] = (
    "der_id",
    "der_type",
    "bus",
    "name",
    "status",
    "s_rated_mva",
    "pf_min",
    "ieee1547_category",
    "tags",
)
"""Columns every DER CSV file must have, in file order."""

DECLARED_Q_COLUMNS: tuple[str, ...] = ("q_min_mvar", "q_max_mvar")
"""Optional columns of a declared reactive range [MVAr] (both or neither)."""

REACTIVE_COLUMNS: tuple[str, ...] = (
    "s_rated_mva",
    "pf_min",
    "ieee1547_category",
    *DECLARED_Q_COLUMNS,
)
"""Columns that fill the nested ``reactive`` capability."""

OPTIONAL_COLUMNS: tuple[str, ...] = ("source_element", *DECLARED_Q_COLUMNS)
"""Columns a DER CSV file may have; written last by the exporter."""

_BASE_FIELDS = frozenset(DerRecordBase.model_fields)

TYPE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    der_type: tuple(
        name
        for name, info in cls.model_fields.items()
        if name not in _BASE_FIELDS and info.is_required()
    )
    for der_type, cls in DER_RECORD_CLASSES.items()
}
"""Required type-specific columns of each ``der_type`` (record fields beyond the common
ones without a default)."""

TYPE_OPTIONAL_COLUMNS: Mapping[str, tuple[str, ...]] = {
    der_type: tuple(
        name
        for name, info in cls.model_fields.items()
        if name not in _BASE_FIELDS and not info.is_required() and name != "der_type"
    )
    for der_type, cls in DER_RECORD_CLASSES.items()
}
"""Optional type-specific columns (``p_min_mw``, ``p_limit_mw``, ``tilt_deg``...): blank or
absent means the record's default."""

ALL_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            *COMMON_COLUMNS,
            *(col for cols in TYPE_COLUMNS.values() for col in cols),
            *(col for cols in TYPE_OPTIONAL_COLUMNS.values() for col in cols),
            *OPTIONAL_COLUMNS,
        )
    )
)
"""Every known column, in the order the exporter writes them."""

_STR_COLUMNS = frozenset({"der_id", "der_type", "name", "status", "ieee1547_category"})
_DATETIME_COLUMNS = frozenset({"arrival", "departure", "window_start", "window_end"})
_BOOL_COLUMNS = frozenset({"curtailable"})


def cell_kind(column: str) -> CellKind:
    """Return how the cells of ``column`` are encoded.

    Parameters
    ----------
    column : str
        A column of :data:`ALL_COLUMNS`.

    Returns
    -------
    CellKind
        ``"str"``, ``"int"``, ``"float"``, ``"bool"``, ``"datetime"``, ``"tags"`` or
        ``"source"``.
    """
    if column == "tags":
        return "tags"
    if column == "source_element":
        return "source"
    if column == "bus":
        return "int"
    if column in _STR_COLUMNS or column == "technology":
        return "str"
    if column in _DATETIME_COLUMNS:
        return "datetime"
    if column in _BOOL_COLUMNS:
        return "bool"
    return "float"


CellValue = str | int | float | bool | datetime | frozenset[str] | tuple[str, int] | None


def parse_cell(column: str, text: str) -> CellValue:
    """Decode one non-blank cell.

    Parameters
    ----------
    column : str
        Column of the cell.
    text : str
        Cell text, already stripped and non-empty.

    Returns
    -------
    CellValue
        The decoded value; a float may be NaN or infinite (the record validation rejects it
        with a message naming the field and the DER).

    Raises
    ------
    ValueError
        The text does not encode a value of the column's kind; the message names the field.
    """
    kind = cell_kind(column)
    if kind == "str":
        return text
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"field '{column}' = {text!r} is not an integer") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"field '{column}' = {text!r} is not a number") from None
    if kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"field '{column}' = {text!r} is not a boolean (true/false)")
        return lowered == "true"
    if kind == "datetime":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"field '{column}' = {text!r} is not an ISO 8601 datetime") from None
    if kind == "tags":
        return frozenset(tag.strip() for tag in text.split(";") if tag.strip())
    table, sep, index = text.rpartition(":")
    if not sep or not table:
        raise ValueError(f"field '{column}' = {text!r} is not of the form table:index")
    try:
        return (table, int(index))
    except ValueError:
        raise ValueError(f"field '{column}' = {text!r} is not of the form table:index") from None


def format_cell(value: object) -> str:
    """Encode one value as cell text (``None`` as a blank cell).

    Parameters
    ----------
    value : object
        A record field value.

    Returns
    -------
    str
        Cell text; floats use ``repr`` so that they read back bit for bit.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset):
        return ";".join(sorted(value))
    if isinstance(value, tuple):
        return f"{value[0]}:{value[1]}"
    return str(value)
