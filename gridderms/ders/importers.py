"""Build DER records from a pandapower net, a JSON file or a CSV file.

Every problem raises :class:`~gridderms.ders.errors.DerImportError` with a message that names
the source (file path or net), the location (CSV data row, JSON item or net element, 1-based
for files), the DER id when known and the field, e.g.::

    ders.csv row 3 (der_id 'pv-7'): field 'p_available_mw' = 0.6 exceeds p_nameplate_mw = 0.5
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from pydantic import ValidationError

from gridderms.bounds import JsonTooDeepError, check_json_depth, is_name
from gridderms.ders.capability import Ieee1547Category
from gridderms.ders.csv_format import (
    ALL_COLUMNS,
    COMMON_COLUMNS,
    OPTIONAL_COLUMNS,
    REACTIVE_COLUMNS,
    TYPE_COLUMNS,
    TYPE_OPTIONAL_COLUMNS,
    CellValue,
    cell_kind,
    parse_cell,
)
from gridderms.ders.errors import DerImportError
from gridderms.ders.records import DER_RECORD_CLASSES, DER_TYPES, DerRecord

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

DEFAULT_STORAGE_EFFICIENCY = 0.95
"""One-way charge and discharge efficiency [-] given to pandapower storages without one."""

_KNOWN_TYPES = ", ".join(DER_TYPES)


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


def _show(value: object) -> str:
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
            message = f"field '{field}' = {_show(error.get('input'))}: {error['msg']}"
        parts.append(message)
    return "; ".join(parts)


def _where(location: str, der_id: object) -> str:
    """``location`` with the DER's id when it is a valid one (an invalid id is not echoed
    raw: the record's message names it, escaped)."""
    if is_name(der_id):
        return f"{location} (der_id '{der_id}')"
    return location


def _strip_own_id(message: str, der_id: object) -> str:
    """Drop the `` (der_id 'x')`` suffix of a record message: the location names it already."""
    return message.replace(f" (der_id '{der_id}')", "") if isinstance(der_id, str) else message


def _build(data: Mapping[str, Any], where: str, *, csv_columns: bool = False) -> DerRecord:
    """Validate a mapping (Python values) into the record class named by ``der_type``."""
    der_type = data.get("der_type")
    der_id = data.get("der_id")
    cls = DER_RECORD_CLASSES.get(der_type) if isinstance(der_type, str) else None
    if cls is None:
        raise DerImportError(
            f"{_where(where, der_id)}: unknown der_type {der_type!r} "
            f"(expected one of {_KNOWN_TYPES})"
        )
    try:
        record = cls.model_validate(data)
    except ValidationError as exc:
        message = _strip_own_id(_explain(exc, csv_columns=csv_columns), der_id)
        raise DerImportError(f"{_where(where, der_id)}: {message}") from None
    return cast("DerRecord", record)


def _check_unique(records: list[tuple[str, DerRecord]]) -> None:
    seen: dict[str, str] = {}
    for where, record in records:
        if record.der_id in seen:
            raise DerImportError(
                f"{_where(where, record.der_id)}: duplicate der_id "
                f"(first defined at {seen[record.der_id]})"
            )
        seen[record.der_id] = where


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DerImportError(f"DER file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DerImportError(f"cannot read DER file '{path}': {exc}") from None


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


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
                raise DerImportError(f"{_where(where, item.get('der_id'))}: {exc}") from None
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
        label, text = str(path), _read_text(path)
    try:
        check_json_depth(text)
    except JsonTooDeepError as exc:
        raise DerImportError(f"{label}: {exc}") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DerImportError(
            f"{label}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
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
                f"{_where(where, item.get('der_id'))}: field 'der_type' is missing"
            )
        located.append((where, _build(_json_to_python(item, where), where)))
    _check_unique(located)
    return [record for _, record in located]


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


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
            f"{_where(where, der_id)}: unknown der_type {der_type!r} "
            f"(expected one of {_KNOWN_TYPES})"
        )
    required = TYPE_COLUMNS[der_type]
    own = (*required, *TYPE_OPTIONAL_COLUMNS[der_type])
    for column in required:
        if column not in columns:
            raise DerImportError(
                f"{_where(where, der_id)}: missing column '{column}' required for der_type "
                f"'{der_type}'"
            )
    data: dict[str, Any] = {"name": ""}
    reactive: dict[str, CellValue] = {}
    for column, text in row.items():
        if not text:
            continue
        if column not in COMMON_COLUMNS and column not in OPTIONAL_COLUMNS and column not in own:
            raise DerImportError(
                f"{_where(where, der_id)}: field '{column}' = {text!r} does not apply to "
                f"der_type '{der_type}' (leave it blank)"
            )
        try:
            value = parse_cell(column, text)
        except ValueError as exc:
            raise DerImportError(f"{_where(where, der_id)}: {exc}") from None
        if column in REACTIVE_COLUMNS:
            reactive[column] = value
        else:
            data[column] = value
    data["reactive"] = reactive
    return _build(data, where, csv_columns=True)


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
        The records, in file order.

    Raises
    ------
    DerImportError
        The file is missing or unreadable, a column is missing or unknown, a row has an unknown
        ``der_type`` or an invalid value, or a ``der_id`` repeats. The message names the file,
        the 1-based data row (header and blank lines not counted), the ``der_id`` and the field.
    """
    file = Path(path)
    text = _read_text(file)
    located: list[tuple[str, DerRecord]] = []
    columns: frozenset[str] | None = None
    for number, row in _csv_rows(file, text):
        columns = columns or frozenset(row)
        where = f"{file} row {number}"
        located.append((where, _csv_record(row, where, columns)))
    _check_unique(located)
    return [record for _, record in located]


# --------------------------------------------------------------------------------------------
# pandapower
# --------------------------------------------------------------------------------------------


def _number(row: Mapping[str, Any], column: str) -> float | None:
    """A finite float from a table cell, or ``None`` when missing, NaN, NA or not numeric."""
    value = row.get(column)
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive(row: Mapping[str, Any], column: str) -> float | None:
    value = _number(row, column)
    return value if value is not None and value > 0 else None


def _flag(row: Mapping[str, Any], column: str, *, default: bool = False) -> bool:
    """A boolean table cell; ``default`` when missing, NaN, NA or not a boolean."""
    value = row.get(column)
    return bool(value) if isinstance(value, bool | np.bool_) else default


def _text(row: Mapping[str, Any], column: str) -> str | None:
    value = row.get(column)
    return value.strip() or None if isinstance(value, str) else None


def _table_rows(net: pandapowerNet, table: str) -> Iterator[tuple[int, dict[str, Any]]]:
    frame = net.get(table)
    if frame is None or len(frame) == 0:
        return
    for index, row in zip(frame.index, frame.to_dict("records"), strict=True):
        yield int(index), row


def _common(
    table: str,
    index: int,
    row: Mapping[str, Any],
    s_rated_mva: float,
    pf_min: float,
    category: Ieee1547Category,
) -> dict[str, Any]:
    der_id = f"{table}-{index}"
    return {
        "der_id": der_id,
        "name": _text(row, "name") or der_id,
        "bus": int(row["bus"]),
        "status": "available" if _flag(row, "in_service", default=True) else "offline",
        "reactive": {
            "s_rated_mva": s_rated_mva,
            "pf_min": pf_min,
            "ieee1547_category": category,
            "defaulted": True,
        },
        "source_element": (table, index),
    }


def _curve_q_range(
    net: pandapowerNet, row: Mapping[str, Any], p_low_mw: float, p_high_mw: float
) -> tuple[float, float] | None:
    """The tightest reactive range [MVAr] of a pandapower reactive capability curve over the
    active power range ``p_low_mw .. p_high_mw`` (None when the element has no curve)."""
    if not _flag(row, "reactive_capability_curve"):
        return None
    table = net.get("q_capability_curve_table")
    curve_id = row.get("id_q_capability_characteristic")
    if table is None or len(table) == 0 or curve_id is None or pd.isna(curve_id):
        return None
    points = table[table["id_q_capability_curve"] == curve_id].sort_values("p_mw")
    if points.empty:
        return None
    p = points["p_mw"].to_numpy(dtype=float)
    inside = p[(p > p_low_mw) & (p < p_high_mw)]
    samples = np.concatenate([[p_low_mw, p_high_mw], inside])
    q_min = np.interp(samples, p, points["q_min_mvar"].to_numpy(dtype=float))
    q_max = np.interp(samples, p, points["q_max_mvar"].to_numpy(dtype=float))
    return float(q_min.max()), float(q_max.min())


def _declared_q_range(
    net: pandapowerNet, row: Mapping[str, Any], p_low_mw: float, p_high_mw: float
) -> tuple[float, float] | None:
    """The reactive range [MVAr] the model declares for an element: its capability curve
    (the tightest range over its active power range), else ``min_q_mvar`` / ``max_q_mvar``
    (a missing side: 0, i.e. no reactive power that way), else None."""
    curve = _curve_q_range(net, row, p_low_mw, p_high_mw)
    if curve is not None:
        return curve
    q_min, q_max = _number(row, "min_q_mvar"), _number(row, "max_q_mvar")
    if q_min is None and q_max is None:
        return None
    return (0.0 if q_min is None else q_min), (0.0 if q_max is None else q_max)


def _sgen(
    net: pandapowerNet,
    index: int,
    row: Mapping[str, Any],
    pf_min: float,
    category: Ieee1547Category,
) -> dict[str, Any]:
    scaling = _number(row, "scaling")
    p_now = (_number(row, "p_mw") or 0.0) * (1.0 if scaling is None else scaling)
    sn_mva = _positive(row, "sn_mva")
    max_p = _number(row, "max_p_mw")
    nameplate = sn_mva or max(abs(p_now), _positive(row, "max_p_mw") or 0.0)
    technology = _text(row, "type")
    controllable = row.get("controllable")
    declared_fixed = isinstance(controllable, bool | np.bool_) and not controllable
    curtailable = _flag(row, "controllable")
    p_min = max(_number(row, "min_p_mw") or 0.0, 0.0) if curtailable else 0.0
    p_limit = max(max_p, p_min) if curtailable and max_p is not None else None
    available = p_now if p_limit is None else min(p_now, p_limit)
    q_range = _declared_q_range(net, row, p_min, available if p_limit is None else p_limit)
    if declared_fixed:  # pandapower: a controllable=False element keeps its p_mw and q_mvar
        q_now = (_number(row, "q_mvar") or 0.0) * (1.0 if scaling is None else scaling)
        q_range = (q_now, q_now)
    s_rated = sn_mva or nameplate
    if q_range is not None and sn_mva is None:  # no rating: the declared box alone limits Q
        s_rated = max(s_rated, float(np.hypot(nameplate, max(abs(q) for q in q_range))))
    data = _common("sgen", index, row, s_rated, pf_min, category)
    if q_range is not None:
        data["reactive"].update(q_min_mvar=q_range[0], q_max_mvar=q_range[1], defaulted=False)
    data["p_available_mw"] = available
    data["curtailable"] = curtailable
    if curtailable:
        data["p_min_mw"] = min(p_min, available)
        if p_limit is not None:
            data["p_limit_mw"] = p_limit
    if technology is not None and "pv" in technology.lower():
        data.update(der_type="pv", p_nameplate_mw=nameplate)
    else:
        if technology is None or technology.lower() in ("wye", "delta"):
            technology = "unspecified"  # pandapower's default sgen type is a connection type
        data.update(der_type="generator", p_max_mw=nameplate, technology=technology)
    return data


def _storage(
    index: int,
    row: Mapping[str, Any],
    pf_min: float,
    category: Ieee1547Category,
    storage_duration_h: float | None,
    where: str,
) -> dict[str, Any]:
    scaling = _number(row, "scaling")
    p_now = abs((_number(row, "p_mw") or 0.0) * (1.0 if scaling is None else scaling))
    sn_mva = _positive(row, "sn_mva")
    fallback = max(p_now, sn_mva or 0.0)
    # pandapower storage sign convention: positive p_mw = charging (consuming).
    max_p = _positive(row, "max_p_mw")
    min_p = _number(row, "min_p_mw")
    p_charge = max_p if max_p is not None else fallback
    p_discharge = -min_p if min_p is not None and min_p < 0 else fallback
    capacity = _positive(row, "max_e_mwh")
    if capacity is None:
        if storage_duration_h is None:
            raise DerImportError(
                f"{where}: field 'max_e_mwh' = {_show(row.get('max_e_mwh'))} gives no energy "
                "capacity; pass storage_duration_h to derive e_capacity_mwh from the power "
                "rating"
            )
        capacity = storage_duration_h * max(p_charge, p_discharge)
    min_e = _number(row, "min_e_mwh") or 0.0
    soc_min = 100.0 * min_e / capacity
    soc = _number(row, "soc_percent")
    efficiency = _positive(row, "efficiency_percent")
    if efficiency is None:
        efficiency = DEFAULT_STORAGE_EFFICIENCY
    elif efficiency > 1.0:
        efficiency /= 100.0
    data = _common(
        "storage", index, row, sn_mva or max(p_now, p_charge, p_discharge), pf_min, category
    )
    data.update(
        der_type="battery",
        p_charge_max_mw=p_charge,
        p_discharge_max_mw=p_discharge,
        e_capacity_mwh=capacity,
        soc_min_percent=soc_min,
        soc_max_percent=100.0,
        soc_initial_percent=soc if soc is not None else (soc_min + 100.0) / 2.0,
        charge_efficiency=efficiency,
        discharge_efficiency=efficiency,
    )
    return data


def _load(
    index: int,
    row: Mapping[str, Any],
    pf_min: float,
    category: Ieee1547Category,
    window: tuple[datetime, datetime],
) -> dict[str, Any]:
    scaling = _number(row, "scaling")
    baseline = (_number(row, "p_mw") or 0.0) * (1.0 if scaling is None else scaling)
    p_min = _number(row, "min_p_mw")
    p_max = _number(row, "max_p_mw")
    p_min = baseline if p_min is None else p_min
    p_max = baseline if p_max is None else p_max
    s_rated = _positive(row, "sn_mva") or max(abs(baseline), abs(p_max))
    data = _common("load", index, row, s_rated, pf_min, category)
    data.update(
        der_type="flexible_load",
        p_min_mw=p_min,
        p_baseline_mw=baseline,
        p_max_mw=p_max,
        window_start=window[0],
        window_end=window[1],
    )
    return data


def _today_utc() -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def ders_from_net(
    net: pandapowerNet,
    *,
    default_pf_min: float = 0.9,
    default_category: Ieee1547Category = "B",
    storage_duration_h: float | None = None,
    flex_window: tuple[datetime, datetime] | None = None,
) -> list[DerRecord]:
    """Build DER records from the ``sgen``, ``storage`` and ``load`` tables of a pandapower net.

    Ids are ``"<table>-<index>"`` (``"sgen-3"``, ``"storage-0"``, ``"load-7"``), names the
    element names (the id when the name is empty), ``source_element`` is ``(table, index)``,
    status ``"offline"`` for elements with ``in_service`` False, else ``"available"``; tags are
    empty. Every record gets ``ReactiveCapability(s_rated_mva, default_pf_min,
    default_category)``. Active powers include the element's ``scaling``.

    * **sgen** -> :class:`PvSystem` when ``type`` contains ``"PV"`` (case-insensitive), else
      :class:`DistributedGenerator` with ``technology`` = ``type`` (``"unspecified"`` when the
      type is empty or pandapower's connection-type default ``"wye"``/``"delta"``).
      ``p_available_mw`` = ``p_mw * scaling``; nameplate (``p_nameplate_mw`` / ``p_max_mw``) =
      ``sn_mva`` when > 0, else the larger of ``|p_mw * scaling|`` and ``max_p_mw``;
      ``curtailable`` = the ``controllable`` flag (False when missing or NaN).
    * **storage** -> :class:`BatteryStorage`. pandapower convention: positive ``p_mw`` is
      charging. ``p_charge_max_mw`` = ``max_p_mw`` when > 0, ``p_discharge_max_mw`` =
      ``-min_p_mw`` when ``min_p_mw`` < 0; otherwise (missing, NaN, or the zero limit SimBench
      stores for its PV home storages) ``max(|p_mw * scaling|, sn_mva)``.
      ``e_capacity_mwh`` = ``max_e_mwh``; when that is missing or not > 0 (the CIGRE MV
      batteries have NaN) it is ``storage_duration_h * max(charge, discharge limit)``, and
      without ``storage_duration_h`` a :class:`DerImportError` is raised rather than
      inventing a capacity. ``soc_min_percent`` = ``100 * min_e_mwh / e_capacity_mwh``,
      ``soc_max_percent`` = 100, ``soc_initial_percent`` = ``soc_percent`` or, when NaN, the
      middle of the band. Both efficiencies = the ``efficiency_percent`` column when present
      (values <= 1 are read as fractions: SimBench stores 0.95 there), else
      :data:`DEFAULT_STORAGE_EFFICIENCY` (0.95).
    * **load** rows whose ``controllable`` column is True -> :class:`FlexibleLoad` with
      ``p_baseline_mw`` = ``p_mw * scaling`` and bounds ``min_p_mw`` / ``max_p_mw``; a missing
      bound is the baseline (no flexibility in that direction is assumed). Window:
      ``flex_window``, default the current UTC calendar day.

    ``s_rated_mva`` is ``sn_mva`` when present and > 0, else the largest active power
    magnitude of the element (``|p|``, nameplate, charge/discharge limit or load bound).
    Other reactive data of the net (``min_q_mvar``, capability curves) is not imported.

    Parameters
    ----------
    net : pandapowerNet
        Net to read; not modified.
    default_pf_min : float, optional
        Minimum absolute power factor given to every DER [-], default 0.9.
    default_category : {"A", "B"}, optional
        IEEE 1547-2018 category given to every DER, default ``"B"``.
    storage_duration_h : float, optional
        Energy-to-power ratio [h] used for storages without ``max_e_mwh``.
    flex_window : tuple[datetime, datetime], optional
        Timezone-aware flexibility window of controllable loads.

    Returns
    -------
    list[DerRecord]
        sgen records, then storage, then controllable loads, each by element index.

    Raises
    ------
    DerImportError
        An element cannot be turned into a valid record (e.g. ``p_mw`` above the nameplate,
        storage without capacity); the message names the net, table, index, der_id and field.
    """
    label = f"pandapower net '{net.name}'" if getattr(net, "name", "") else "pandapower net"
    if storage_duration_h is not None and not (
        math.isfinite(storage_duration_h) and storage_duration_h > 0
    ):
        raise DerImportError(f"storage_duration_h must be > 0 [h], got {storage_duration_h}")
    window = flex_window or _today_utc()
    records: list[DerRecord] = []
    for index, row in _table_rows(net, "sgen"):
        where = f"{label} sgen {index}"
        records.append(_build(_sgen(net, index, row, default_pf_min, default_category), where))
    for index, row in _table_rows(net, "storage"):
        where = _where(f"{label} storage {index}", f"storage-{index}")
        data = _storage(index, row, default_pf_min, default_category, storage_duration_h, where)
        records.append(_build(data, f"{label} storage {index}"))
    for index, row in _table_rows(net, "load"):
        if not _flag(row, "controllable"):
            continue
        data = _load(index, row, default_pf_min, default_category, window)
        records.append(_build(data, f"{label} load {index}"))
    return records
