"""Named validation checks on a pandapower feeder model.

Each ``check_*`` function inspects the element tables and returns a list of
:class:`~network_models.errors.ValidationIssue`; :func:`validate_net` runs them all and raises one
:class:`~network_models.errors.FeederValidationError` that lists every problem found, so a user
fixes a file in one pass. Nothing is repaired silently.

Checks
------
``wrong_type``              a non-integer id, or a value not a number (true/false) in a column
                            pandapower keeps numeric (boolean)
``missing_column``          a column the checks and the power flow need (bus references,
                            ``in_service``, a switch's ``et``/``element``/``closed``)
``check_failed``            a check that could not run on the model (a malformed table)
``duplicate_id``            the same index twice in an element table
``unknown_bus_reference``   an element connected to a bus that does not exist
``unknown_element_reference``  a switch naming a line/transformer/bus that does not exist
``non_finite_value``        NaN or infinite value in a required column
``non_positive_impedance``  zero or negative impedance, length or short-circuit voltage
``missing_thermal_rating``  line without ``max_i_ka`` (or with the 99999 kA "unrated" placeholder
                            that pandapower's MATPOWER converter writes for RATE_A = 0),
                            transformer without a positive ``sn_mva``
``missing_voltage_limits``  bus without a positive nominal voltage, or with per-bus voltage limits
                            that are missing or inverted
``no_source``               no in-service external grid (slack) to supply the feeder
``islanded_bus``            a bus with in-service load, generation or storage that no source
                            supplies (so its power would silently vanish from a power flow)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np
import pandapower as pp
import pandas as pd

from network_models.errors import FeederValidationError, ValidationIssue

#: pandapower's MATPOWER converter writes this rating when RATE_A is 0 ("unrated") [kA]
UNRATED_PLACEHOLDER_KA = 99999.0

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


def _table(net: pp.pandapowerNet, element: str) -> pd.DataFrame:
    table = net.get(element, None)
    return table if isinstance(table, pd.DataFrame) else pd.DataFrame()


def _in_service(table: pd.DataFrame) -> pd.DataFrame:
    if "in_service" not in table:
        return table
    return table[table["in_service"].fillna(False).astype(bool)]


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
        table = _table(net, element)
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
        table = _table(net, element)
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
    buses = _table(net, "bus").index
    issues = []
    for element, columns in BUS_COLUMNS.items():
        table = _table(net, element)
        for column in columns:
            if column not in table:
                continue
            unknown = table[~table[column].isin(buses)]
            for element_id, bus in unknown[column].items():
                issues.append(
                    ValidationIssue(
                        "unknown_bus_reference",
                        element,
                        element_id,
                        f"{column} refers to bus {bus}, which does not exist",
                    )
                )
    return issues


def check_switch_references(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """A switch's ``element`` must exist in the table its ``et`` names."""
    targets = {"b": "bus", "l": "line", "t": "trafo", "t3": "trafo3w"}
    switches = _table(net, "switch")
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
        elif row["element"] not in _table(net, target).index:
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
        table = _table(net, element)
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


def _rows(
    element: str,
    table: pd.DataFrame,
    mask: pd.Series,
    check: str,
    describe: Callable[[pd.Series], str],
) -> list[ValidationIssue]:
    return [
        ValidationIssue(check, element, element_id, describe(row))
        for element_id, row in table[mask.fillna(False).astype(bool)].iterrows()
    ]


def check_impedances(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Branch impedances, lengths and short-circuit voltages must be positive."""
    issues = []
    line = _in_service(_table(net, "line"))
    if len(line):
        bad = (
            (line.length_km <= 0)
            | (line.r_ohm_per_km < 0)
            | (line.x_ohm_per_km < 0)
            | ((line.r_ohm_per_km == 0) & (line.x_ohm_per_km == 0))
        )
        issues += _rows(
            "line",
            line,
            bad,
            "non_positive_impedance",
            lambda r: (
                f"impedance must be positive: length_km={r.length_km}, "
                f"r_ohm_per_km={r.r_ohm_per_km}, x_ohm_per_km={r.x_ohm_per_km}"
            ),
        )
    trafo = _in_service(_table(net, "trafo"))
    if len(trafo):
        bad = (
            (trafo.vk_percent <= 0)
            | (trafo.vkr_percent < 0)
            | (trafo.vkr_percent > trafo.vk_percent)
        )
        issues += _rows(
            "trafo",
            trafo,
            bad,
            "non_positive_impedance",
            lambda r: (
                f"short-circuit voltage must satisfy 0 <= vkr_percent <= vk_percent, 0 < "
                f"vk_percent: vk_percent={r.vk_percent}, vkr_percent={r.vkr_percent}"
            ),
        )
    return issues


def check_thermal_ratings(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Every in-service line and transformer needs a thermal rating."""
    issues = []
    line = _in_service(_table(net, "line"))
    if len(line):
        issues += _rows(
            "line",
            line,
            ~(line.max_i_ka > 0) | (line.max_i_ka >= UNRATED_PLACEHOLDER_KA),
            "missing_thermal_rating",
            lambda r: (
                f"no thermal rating: max_i_ka={r.max_i_ka}"
                + (
                    " (the MATPOWER converter's placeholder for RATE_A = 0); set RATE_A in the "
                    "case file or max_i_ka in the model"
                    if r.max_i_ka >= UNRATED_PLACEHOLDER_KA
                    else "; it must be a positive current [kA]"
                )
            ),
        )
    trafo = _in_service(_table(net, "trafo"))
    if len(trafo):
        issues += _rows(
            "trafo",
            trafo,
            ~(trafo.sn_mva > 0),
            "missing_thermal_rating",
            lambda r: f"no thermal rating: sn_mva={r.sn_mva}; it must be a positive power [MVA]",
        )
    return issues


def check_voltage_limits(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Buses need a positive nominal voltage; per-bus limits, where given, must be valid.

    A model without ``min_vm_pu``/``max_vm_pu`` columns is checked against the configured band
    (:class:`solvers.limits.OperatingLimits`); a model that has the columns must fill them for
    every in-service bus with ``0 < min_vm_pu <= max_vm_pu`` (equal at a slack bus).
    """
    bus = _in_service(_table(net, "bus"))
    issues = _rows(
        "bus",
        bus,
        ~(bus.vn_kv > 0),
        "missing_voltage_limits",
        lambda r: f"no nominal voltage: vn_kv={r.vn_kv}; it must be a positive voltage [kV]",
    )
    if "min_vm_pu" in bus or "max_vm_pu" in bus:
        low = bus.get("min_vm_pu", pd.Series(np.nan, index=bus.index))
        high = bus.get("max_vm_pu", pd.Series(np.nan, index=bus.index))
        bad = ~((low > 0) & (high >= low))
        for element_id in bus.index[bad.to_numpy()]:
            issues.append(
                ValidationIssue(
                    "missing_voltage_limits",
                    "bus",
                    element_id,
                    f"voltage limits missing or inverted: min_vm_pu={low[element_id]}, "
                    f"max_vm_pu={high[element_id]}; need 0 < min_vm_pu <= max_vm_pu",
                )
            )
    return issues


def check_source(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """At least one in-service external grid must supply the feeder."""
    if len(_in_service(_table(net, "ext_grid"))):
        return []
    return [
        ValidationIssue(
            "no_source", "ext_grid", "-", "the feeder has no in-service external grid (slack bus)"
        )
    ]


def check_islands(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Buses with in-service injections must be connected to a source."""
    from network_models.topology import build_topology

    topology = build_topology(net)
    dead = topology.deenergized_buses
    issues: list[ValidationIssue] = []
    if not dead:
        return issues
    for element in ("load", "sgen", "storage", "gen"):
        table = _in_service(_table(net, element))
        if not len(table):
            continue
        stranded = table[table.bus.isin(dead) & (table.p_mw != 0)]
        for element_id, row in stranded.iterrows():
            issues.append(
                ValidationIssue(
                    "islanded_bus",
                    "bus",
                    int(row.bus),
                    f"not connected to any external grid, yet {element} {element_id} "
                    f"({row.get('name')}) with p_mw={row.p_mw} is in service there",
                )
            )
    return issues


#: structural checks run first: later checks assume their tables are well formed
STRUCTURAL_CHECKS: tuple[Callable[[pp.pandapowerNet], list[ValidationIssue]], ...] = (
    check_duplicate_ids,
    check_bus_references,
    check_switch_references,
    check_finite_values,
)
ELECTRICAL_CHECKS: tuple[Callable[[pp.pandapowerNet], list[ValidationIssue]], ...] = (
    check_impedances,
    check_thermal_ratings,
    check_voltage_limits,
    check_source,
)


def find_issues(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Run every check and return all issues (empty for a valid model).

    Wrong types and missing columns stop the run first, then structural problems stop it
    before the electrical and topology checks, which assume well-formed tables. A check that
    raises on a malformed model gives a ``check_failed`` issue instead of the error.
    """
    issues = _run((check_column_types,), net)
    if issues:
        return issues
    issues = _run(STRUCTURAL_CHECKS, net)
    if issues:
        return issues
    issues = _run(ELECTRICAL_CHECKS, net)
    if any(issue.check == "no_source" for issue in issues):
        return issues
    return issues + _run((check_islands,), net)


def _run(
    checks: Iterable[Callable[[pp.pandapowerNet], list[ValidationIssue]]],
    net: pp.pandapowerNet,
) -> list[ValidationIssue]:
    issues = []
    for check in checks:
        try:
            issues += check(net)
        except Exception as exc:  # a model malformed in a way no check names
            issues.append(
                ValidationIssue(
                    "check_failed",
                    "net",
                    "-",
                    f"{check.__name__} could not run on this model: {type(exc).__name__}: {exc}",
                )
            )
    return issues


def validate_net(net: pp.pandapowerNet, source: str) -> None:
    """Raise :class:`FeederValidationError` listing every problem of ``net``.

    Parameters
    ----------
    net : pandapowerNet
        The feeder model.
    source : str
        Name or path of the model, used in the message.
    """
    issues = find_issues(net)
    if issues:
        raise FeederValidationError(source, issues)
