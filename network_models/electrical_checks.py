"""Electrical and supply checks of a pandapower feeder model.

Impedances, thermal ratings, voltage limits, a source, and no stranded injections. They assume
the tables passed the structural checks (:mod:`network_models.structural_checks`);
:mod:`network_models.validation` runs them all. Each ``check_*`` function returns a list of
:class:`~network_models.errors.ValidationIssue`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandapower as pp
import pandas as pd

from network_models.errors import ValidationIssue
from network_models.structural_checks import table_or_empty

#: pandapower's MATPOWER converter writes this rating when RATE_A is 0 ("unrated") [kA]
UNRATED_PLACEHOLDER_KA = 99999.0


def _in_service(table: pd.DataFrame) -> pd.DataFrame:
    """The in-service rows of ``table`` (all rows when it has no ``in_service`` column)."""
    if "in_service" not in table:
        return table
    return table[table["in_service"].fillna(False).astype(bool)]


def _rows(
    element: str,
    table: pd.DataFrame,
    mask: pd.Series,
    check: str,
    describe: Callable[[pd.Series], str],
) -> list[ValidationIssue]:
    """One ``check`` issue per row of ``table`` selected by ``mask``, described by ``describe``."""
    return [
        ValidationIssue(check, element, element_id, describe(row))
        for element_id, row in table[mask.fillna(False).astype(bool)].iterrows()
    ]


def check_impedances(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Branch impedances, lengths and short-circuit voltages must be positive."""
    issues = []
    line = _in_service(table_or_empty(net, "line"))
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
    trafo = _in_service(table_or_empty(net, "trafo"))
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
    line = _in_service(table_or_empty(net, "line"))
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
    trafo = _in_service(table_or_empty(net, "trafo"))
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
    bus = _in_service(table_or_empty(net, "bus"))
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
    if len(_in_service(table_or_empty(net, "ext_grid"))):
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
        table = _in_service(table_or_empty(net, element))
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
