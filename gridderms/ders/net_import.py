"""Build DER records from the ``sgen``, ``storage`` and ``load`` tables of a pandapower net."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridderms.ders.capability import Ieee1547Category
from gridderms.ders.errors import DerImportError
from gridderms.ders.record_validation import build_record, locate, show_value
from gridderms.ders.records import DerRecord

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

DEFAULT_STORAGE_EFFICIENCY = 0.95
"""One-way charge and discharge efficiency [-] given to pandapower storages without one."""


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


@dataclass(frozen=True)
class _Defaults:
    """The reactive capability given to every DER of the net: minimum absolute power factor
    [-] and IEEE 1547-2018 category."""

    pf_min: float
    category: Ieee1547Category


def _scaled(row: Mapping[str, Any], column: str) -> float:
    """A power of a table cell [MW] or [MVAr] times the element's ``scaling`` (missing: 0, 1)."""
    scaling = _number(row, "scaling")
    return (_number(row, column) or 0.0) * (1.0 if scaling is None else scaling)


def _common(
    table: str, index: int, row: Mapping[str, Any], s_rated_mva: float, defaults: _Defaults
) -> dict[str, Any]:
    """The fields every record built from a table row has: id, name, bus, status, reactive
    capability (``s_rated_mva`` [MVA] and ``defaults``) and source element."""
    der_id = f"{table}-{index}"
    return {
        "der_id": der_id,
        "name": _text(row, "name") or der_id,
        "bus": int(row["bus"]),
        "status": "available" if _flag(row, "in_service", default=True) else "offline",
        "reactive": {
            "s_rated_mva": s_rated_mva,
            "pf_min": defaults.pf_min,
            "ieee1547_category": defaults.category,
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
    net: pandapowerNet, index: int, row: Mapping[str, Any], defaults: _Defaults
) -> dict[str, Any]:
    """The record fields of an ``sgen`` row: a PV system or a generator."""
    p_now = _scaled(row, "p_mw")
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
        q_now = _scaled(row, "q_mvar")
        q_range = (q_now, q_now)
    s_rated = sn_mva or nameplate
    if q_range is not None and sn_mva is None:  # no rating: the declared box alone limits Q
        s_rated = max(s_rated, float(np.hypot(nameplate, max(abs(q) for q in q_range))))
    data = _common("sgen", index, row, s_rated, defaults)
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
    defaults: _Defaults,
    storage_duration_h: float | None,
    where: str,
) -> dict[str, Any]:
    """The record fields of a ``storage`` row: a battery."""
    p_now = abs(_scaled(row, "p_mw"))
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
                f"{where}: field 'max_e_mwh' = {show_value(row.get('max_e_mwh'))} gives no energy "
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
    data = _common("storage", index, row, sn_mva or max(p_now, p_charge, p_discharge), defaults)
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
    index: int, row: Mapping[str, Any], defaults: _Defaults, window: tuple[datetime, datetime]
) -> dict[str, Any]:
    """The record fields of a controllable ``load`` row: a flexible load over ``window``."""
    baseline = _scaled(row, "p_mw")
    p_min = _number(row, "min_p_mw")
    p_max = _number(row, "max_p_mw")
    p_min = baseline if p_min is None else p_min
    p_max = baseline if p_max is None else p_max
    s_rated = _positive(row, "sn_mva") or max(abs(baseline), abs(p_max))
    data = _common("load", index, row, s_rated, defaults)
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
    defaults = _Defaults(default_pf_min, default_category)
    records: list[DerRecord] = []
    for index, row in _table_rows(net, "sgen"):
        data = _sgen(net, index, row, defaults)
        records.append(build_record(data, f"{label} sgen {index}"))
    for index, row in _table_rows(net, "storage"):
        where = locate(f"{label} storage {index}", f"storage-{index}")
        data = _storage(index, row, defaults, storage_duration_h, where)
        records.append(build_record(data, f"{label} storage {index}"))
    for index, row in _table_rows(net, "load"):
        if not _flag(row, "controllable"):
            continue
        data = _load(index, row, defaults, window)
        records.append(build_record(data, f"{label} load {index}"))
    return records
