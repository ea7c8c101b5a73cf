"""Read DER records from a JSON list of objects, the layout
:func:`~gridderms.ders.exporters.ders_to_json` writes."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gridderms.bounds import JsonTooDeepError, check_json_depth
from gridderms.ders.csv_format import ALL_COLUMNS, cell_kind, parse_cell
from gridderms.ders.errors import DerImportError
from gridderms.ders.record_validation import (
    build_record,
    check_unique_ids,
    locate,
    read_der_text,
)
from gridderms.ders.records import DerRecord


def _json_to_python(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Turn the JSON encodings of non-JSON field types into Python values for strict validation.

    ISO 8601 strings in datetime fields become datetimes, lists of strings in ``tags`` a
    frozenset, a two-item list in ``source_element`` a tuple. Everything else is passed
    unchanged, so strict validation still refuses ``true`` or ``"0.4"`` as numbers.
    """
    data = dict(item)
    for name, value in item.items():
        kind = cell_kind(name) if name in ALL_COLUMNS else None
        if kind == "datetime" and isinstance(value, str):
            try:
                data[name] = parse_cell(name, value)
            except ValueError as exc:
                raise DerImportError(f"{locate(where, item.get('der_id'))}: {exc}") from None
        elif kind == "tags" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            data[name] = frozenset(value)
        elif kind == "source" and isinstance(value, list) and len(value) == 2:
            data[name] = tuple(value)
    return data


def ders_from_json(source: str | os.PathLike[str]) -> list[DerRecord]:
    """Read DER records from a JSON list of objects, each with a ``der_type``.

    The objects use the record field names; ``reactive`` is a nested object
    (``{"s_rated_mva": 0.1, "pf_min": 0.9, "ieee1547_category": "B"}``), ``tags`` a list of
    strings, datetimes ISO 8601 strings with a UTC offset. JSON ``true``/``false`` are not
    accepted as numbers, ``NaN``/``Infinity`` are rejected.

    Parameters
    ----------
    source : str or os.PathLike
        A path, or the JSON text itself: a ``str`` whose first non-blank character is ``[`` or
        ``{`` is parsed as text, any other ``str`` and every ``PathLike`` as a path.

    Returns
    -------
    list[DerRecord]
        The records, in file order.

    Raises
    ------
    DerImportError
        The file is missing or unreadable, the JSON is malformed, nested deeper than
        :data:`~gridderms.bounds.MAX_JSON_DEPTH` or not a list of objects, an object has an
        unknown ``der_type`` or an invalid field, or a ``der_id`` repeats. The
        message names the file, the 1-based item number, the ``der_id`` and the field.
    """
    if isinstance(source, str) and source.lstrip()[:1] in ("[", "{"):
        label, text = "<JSON text>", source
    else:
        path = Path(source)
        label, text = str(path), read_der_text(path)
    try:
        check_json_depth(text)  # before parsing: the parser recurses
        payload = json.loads(text)
    except JsonTooDeepError as exc:
        raise DerImportError(f"{label}: {exc}") from None
    except json.JSONDecodeError as exc:
        place = f"line {exc.lineno} column {exc.colno}"
        raise DerImportError(f"{label}: malformed JSON at {place}: {exc.msg}") from None
    if not isinstance(payload, list):
        raise DerImportError(
            f"{label}: expected a JSON list of DER objects, got {type(payload).__name__}"
        )
    located: list[tuple[str, DerRecord]] = []
    for number, item in enumerate(payload, start=1):
        where = f"{label} item {number}"
        if not isinstance(item, dict):
            raise DerImportError(f"{where}: expected a JSON object, got {type(item).__name__}")
        if "der_type" not in item:
            raise DerImportError(
                f"{locate(where, item.get('der_id'))}: field 'der_type' is missing"
            )
        located.append((where, build_record(_json_to_python(item, where), where)))
    check_unique_ids(located)
    return [record for _, record in located]
