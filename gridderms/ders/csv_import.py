"""Read DER records from a CSV file, one row per DER (layout: :mod:`gridderms.ders.csv_format`)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gridderms.ders.csv_format import (
    COMMON_COLUMNS,
    OPTIONAL_COLUMNS,
    REACTIVE_COLUMNS,
    TYPE_COLUMNS,
    TYPE_OPTIONAL_COLUMNS,
    CellValue,
    parse_cell,
)
from gridderms.ders.errors import DerImportError
from gridderms.ders.record_validation import (
    KNOWN_TYPES,
    build_record,
    check_unique_ids,
    locate,
    read_der_text,
)
from gridderms.ders.records import DerRecord


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    header = reader.fieldnames
    if not header:
        raise DerImportError(f"{path}: empty file, expected a header row")
    columns = [column.strip() for column in header]
    known = set(COMMON_COLUMNS) | set(OPTIONAL_COLUMNS)
    known.update(column for cols in TYPE_COLUMNS.values() for column in cols)
    known.update(column for cols in TYPE_OPTIONAL_COLUMNS.values() for column in cols)
    for column in columns:
        if column not in known:
            raise DerImportError(f"{path}: unknown column '{column}'")
    for column in COMMON_COLUMNS:
        if column not in columns:
            raise DerImportError(
                f"{path}: missing column '{column}' (required: {', '.join(COMMON_COLUMNS)})"
            )
    if len(set(columns)) != len(columns):
        repeated = sorted({column for column in columns if columns.count(column) > 1})
        raise DerImportError(f"{path}: repeated column(s) {', '.join(repeated)}")
    try:
        for number, raw in enumerate(reader, start=1):
            if None in raw:
                raise DerImportError(f"{path} row {number}: more cells than header columns")
            yield number, {column.strip(): (cell or "").strip() for column, cell in raw.items()}
    except csv.Error as exc:
        raise DerImportError(f"{path} line {reader.line_num}: malformed CSV: {exc}") from None


def _csv_record(row: Mapping[str, str], where: str, columns: frozenset[str]) -> DerRecord:
    der_id = row.get("der_id") or None
    der_type = row.get("der_type", "")
    if der_type not in TYPE_COLUMNS:
        raise DerImportError(
            f"{locate(where, der_id)}: unknown der_type {der_type!r} "
            f"(expected one of {KNOWN_TYPES})"
        )
    required = TYPE_COLUMNS[der_type]
    own = (*required, *TYPE_OPTIONAL_COLUMNS[der_type])
    for column in required:
        if column not in columns:
            raise DerImportError(
                f"{locate(where, der_id)}: missing column '{column}' required for der_type "
                f"'{der_type}'"
            )
    data: dict[str, Any] = {"name": ""}
    reactive: dict[str, CellValue] = {}
    for column, text in row.items():
        if not text:
            continue
        if column not in COMMON_COLUMNS and column not in OPTIONAL_COLUMNS and column not in own:
            raise DerImportError(
                f"{locate(where, der_id)}: field '{column}' = {text!r} does not apply to "
                f"der_type '{der_type}' (leave it blank)"
            )
        try:
            value = parse_cell(column, text)
        except ValueError as exc:
            raise DerImportError(f"{locate(where, der_id)}: {exc}") from None
        if column in REACTIVE_COLUMNS:
            reactive[column] = value
        else:
            data[column] = value
    data["reactive"] = reactive
    return build_record(data, where, csv_columns=True)


def ders_from_csv(path: str | os.PathLike[str]) -> list[DerRecord]:
    """Read DER records from a CSV file, one row per DER.

    The layout is described in :mod:`gridderms.ders.csv_format`: the common columns
    ``der_id, der_type, bus, name, status, s_rated_mva, pf_min, ieee1547_category, tags`` are
    required, the type-specific columns (``p_nameplate_mw``, ``e_capacity_mwh``...) are
    required when a row of that type is present and must be blank in other rows.

    Parameters
    ----------
    path : str or os.PathLike
        Path of the CSV file (UTF-8, optional byte-order mark, comma separated).

    Returns
    -------
    list[DerRecord]
        One record per data row, in file order.

    Raises
    ------
    DerImportError
        The file is missing or unreadable, a column is missing or unknown, a row has an unknown
        ``der_type`` or an invalid value, or a ``der_id`` repeats. The message names the file,
        the 1-based data row (header and blank lines not counted), the ``der_id`` and the field.
    """
    file = Path(path)
    text = read_der_text(file)
    located: list[tuple[str, DerRecord]] = []
    columns: frozenset[str] | None = None
    for number, row in _csv_rows(file, text):
        columns = columns or frozenset(row)
        where = f"{file} row {number}"
        located.append((where, _csv_record(row, where, columns)))
    check_unique_ids(located)
    return [record for _, record in located]
