"""Structural checks of a pandapower feeder model: types, columns, ids and references.

These run before the electrical checks (:mod:`network_models.electrical_checks`), which assume
well-formed tables; :mod:`network_models.validation` runs them all. Each ``check_*`` function
returns a list of :class:`~network_models.errors.ValidationIssue`.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np
import pandapower as pp
import pandas as pd

from network_models.errors import ValidationIssue

#: bus-reference columns of each element table
BUS_COLUMNS: dict[str, tuple[str, ...]] = {
    "line": ("from_bus", "to_bus"),
    "trafo": ("hv_bus", "lv_bus"),
    "trafo3w": ("hv_bus", "mv_bus", "lv_bus"),
    "impedance": ("from_bus", "to_bus"),
    "load": ("bus",),
    "sgen": ("bus",),
    "storage": ("bus",),
    "gen": ("bus",),
    "ext_grid": ("bus",),
    "shunt": ("bus",),
    "ward": ("bus",),
    "xward": ("bus",),
    "asymmetric_load": ("bus",),
    "asymmetric_sgen": ("bus",),
    "switch": ("bus",),
}

#: numeric columns that must be finite in every row of a table
FINITE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bus": ("vn_kv",),
    "line": ("length_km", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka"),
    "trafo": ("sn_mva", "vn_hv_kv", "vn_lv_kv", "vk_percent", "vkr_percent"),
    "load": ("p_mw", "q_mvar", "scaling"),
    "sgen": ("p_mw", "q_mvar", "scaling"),
    "storage": ("p_mw", "q_mvar", "scaling"),
    "gen": ("p_mw", "vm_pu"),
    "ext_grid": ("vm_pu", "va_degree"),
    "shunt": ("p_mw", "q_mvar"),
}


def table_or_empty(net: pp.pandapowerNet, element: str) -> pd.DataFrame:
    """The element table ``net[element]``, or an empty one when the net has no such table."""
    table = net.get(element, None)
    return table if isinstance(table, pd.DataFrame) else pd.DataFrame()


#: columns a non-empty table must have, besides :data:`FINITE_COLUMNS` (named by their check)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    **{element: (*columns, "in_service") for element, columns in BUS_COLUMNS.items()},
    "bus": ("in_service",),
    "switch": ("bus", "element", "et", "closed"),
}


@lru_cache(maxsize=1)
def _column_kinds() -> dict[str, dict[str, str]]:
    """Per standard element table, its columns pandapower keeps numeric (``"number"``) or
    boolean (``"boolean"``), from the dtypes of an empty network."""
    empty = pp.create_empty_network()
    kinds: dict[str, dict[str, str]] = {}
    for element, table in empty.items():
        if not isinstance(table, pd.DataFrame) or element.startswith(("_", "res_")):
            continue
        kinds[element] = {
            str(column): "boolean" if dtype.kind == "b" else "number"
            for column, dtype in table.dtypes.items()
            if dtype.kind in "iufb"
        }
    return kinds


def _is_null(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _fits(value: object, kind: str) -> bool:
    """Whether one value is a number (``kind`` ``"number"``) or a boolean, missing allowed."""
    if _is_null(value):
        return True
    if isinstance(value, bool | np.bool_):
        return kind == "boolean"
    if isinstance(value, numbers.Real):
        return kind == "number" or value in (0, 1)
    return False


def _describe(value: object) -> str:
    if isinstance(value, str):
        return f"{value!r} is a string"
    if isinstance(value, bool | np.bool_):
        return f"{value} is a boolean"
    return f"{value!r} is a {type(value).__name__}"


def check_column_types(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Element ids must be integers, numeric (boolean) pandapower columns must hold numbers
    (true/false; 0 and 1 count as booleans), and the columns of :data:`REQUIRED_COLUMNS` must
    exist in a non-empty table."""
    issues = []
    for element, kinds in _column_kinds().items():
        table = table_or_empty(net, element)
        if not len(table):
            continue
        for column in REQUIRED_COLUMNS.get(element, ()):
            if column not in table:
                issues.append(
                    ValidationIssue("missing_column", element, "*", f"column {column} is missing")
                )
        if table.index.dtype.kind not in "iu":
            for element_id in table.index:
                if not isinstance(element_id, numbers.Integral) or isinstance(element_id, bool):
                    issues.append(
                        ValidationIssue(
                            "wrong_type",
                            element,
                            element_id,
                            f"id {_describe(element_id)}, not an integer",
                        )
                    )
        for column, kind in kinds.items():
            if column not in table.columns:
                continue
            values = table[column]
            if not isinstance(values, pd.Series):  # a duplicated column name
                issues.append(
                    ValidationIssue("wrong_type", element, "*", f"column {column} occurs twice")
                )
                continue
            if values.dtype.kind in ("b" if kind == "boolean" else "iuf"):
                continue
            want = "true or false" if kind == "boolean" else "a number"
            for element_id, value in values.items():
                if not _fits(value, kind):
                    issues.append(
                        ValidationIssue(
                            "wrong_type",
                            element,
                            element_id,
                            f"{column} = {_describe(value)}, not {want}",
                        )
                    )
    return issues


def check_duplicate_ids(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Every element table must have unique ids (its index)."""
    issues = []
    for element in (*FINITE_COLUMNS, *BUS_COLUMNS):
        table = table_or_empty(net, element)
        for element_id in table.index[table.index.duplicated()].unique():
            count = int((table.index == element_id).sum())
            issues.append(
                ValidationIssue(
                    "duplicate_id", element, element_id, f"id {element_id} occurs {count} times"
                )
            )
    return list(dict.fromkeys(issues))


def check_bus_references(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Every bus column must name an existing bus."""
    buses = table_or_empty(net, "bus").index
    issues = []
    for element, columns in BUS_COLUMNS.items():
        table = table_or_empty(net, element)
        for column in columns:
            if column not in table:
                continue
            unknown = table[~table[column].isin(buses)]
            issues += [
                ValidationIssue(
                    "unknown_bus_reference",
                    element,
                    element_id,
                    f"{column} refers to bus {bus}, which does not exist",
                )
                for element_id, bus in unknown[column].items()
            ]
    return issues


def check_switch_references(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """A switch's ``element`` must exist in the table its ``et`` names."""
    targets = {"b": "bus", "l": "line", "t": "trafo", "t3": "trafo3w"}
    switches = table_or_empty(net, "switch")
    issues = []
    for switch_id, row in switches.iterrows():
        target = targets.get(row["et"]) if isinstance(row["et"], str) else None
        if target is None:
            issues.append(
                ValidationIssue(
                    "unknown_element_reference",
                    "switch",
                    switch_id,
                    f"element type et={row['et']!r} is not one of {sorted(targets)}",
                )
            )
        elif row["element"] not in table_or_empty(net, target).index:
            issues.append(
                ValidationIssue(
                    "unknown_element_reference",
                    "switch",
                    switch_id,
                    f"element refers to {target} {row['element']}, which does not exist",
                )
            )
    return issues


def check_finite_values(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Required numeric columns must hold finite numbers (no NaN, no inf)."""
    issues = []
    for element, columns in FINITE_COLUMNS.items():
        table = table_or_empty(net, element)
        for column in columns:
            if column not in table:
                if len(table):
                    issues.append(
                        ValidationIssue(
                            "non_finite_value", element, "*", f"column {column} is missing"
                        )
                    )
                continue
            values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
            for element_id, value in zip(
                table.index[~np.isfinite(values)], values[~np.isfinite(values)], strict=True
            ):
                issues.append(
                    ValidationIssue(
                        "non_finite_value",
                        element,
                        element_id,
                        f"{column} = {value} is not a finite number",
                    )
                )
    return issues
