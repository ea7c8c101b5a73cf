"""Write DER records to JSON or CSV, in the formats the importers read back.

Floats are written with full precision, so ``ders_from_json(ders_to_json(records))`` and a CSV
write/read round trip return records equal to the originals.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gridderms.ders.csv_format import ALL_COLUMNS, REACTIVE_COLUMNS, format_cell
from gridderms.ders.errors import DerError
from gridderms.ders.records import DerRecord


def der_to_json_dict(record: DerRecord) -> dict[str, Any]:
    """Return the JSON-ready dict of one record (the object layout ``ders_from_json`` reads).

    Parameters
    ----------
    record : DerRecord
        Record to convert.

    Returns
    -------
    dict[str, Any]
        Field name to JSON value; ``tags`` sorted, datetimes ISO 8601 strings.
    """
    data = record.model_dump(mode="json")
    data["tags"] = sorted(record.tags)
    return data


def ders_to_json(
    records: Iterable[DerRecord], path: str | os.PathLike[str] | None = None, *, indent: int = 2
) -> str:
    """Serialise records as a JSON list of objects.

    Parameters
    ----------
    records : Iterable[DerRecord]
        Records to write, in order.
    path : str or os.PathLike, optional
        File to write (UTF-8, overwritten); when omitted only the text is returned.
    indent : int, optional
        JSON indentation, default 2.

    Returns
    -------
    str
        The JSON text.

    Raises
    ------
    DerError
        The file cannot be written.
    """
    text = json.dumps([der_to_json_dict(record) for record in records], indent=indent) + "\n"
    if path is not None:
        _write(Path(path), text)
    return text


def ders_to_csv(records: Iterable[DerRecord], path: str | os.PathLike[str]) -> None:
    """Write records as a CSV file with every column of :data:`csv_format.ALL_COLUMNS`.

    Columns that do not apply to a row's ``der_type`` are left blank.

    Parameters
    ----------
    records : Iterable[DerRecord]
        Records to write, in order.
    path : str or os.PathLike
        File to write (UTF-8, overwritten).

    Raises
    ------
    DerError
        The file cannot be written.
    """
    rows: list[dict[str, str]] = []
    for record in records:
        values: dict[str, object] = dict(record)
        reactive = record.reactive
        values.update({column: getattr(reactive, column) for column in REACTIVE_COLUMNS})
        rows.append({column: format_cell(values.get(column)) for column in ALL_COLUMNS})
    target = Path(path)
    try:
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=ALL_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise DerError(f"cannot write DER file '{target}': {exc}") from None


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DerError(f"cannot write DER file '{path}': {exc}") from None
