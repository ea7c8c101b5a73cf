"""A compiled AC model of a feeder for repeated power flows without re-conversion.

pandapower's ``runpp`` converts the element tables to a bus-branch model on every call; on small
feeders that conversion is most of the ~20 ms a call costs while the Newton-Raphson solve takes
2-3 ms. :func:`compile_ac_model` converts once (one ``runpp``) and keeps the admittance matrices,
the bus types and, per profiled element column, a sparse map from element set-points to bus
injections. A time series then changes only the injection vector per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV
from scipy import sparse

from network_models.feeder import Feeder
from network_models.model_cache import CacheKey
from network_models.profiles import PROFILE_KEYS
from solvers.powerflow import solve_ac

SQRT3 = float(np.sqrt(3.0))

#: sign of an element's set-point in the bus injection (generation positive)
INJECTION_SIGN = {"load": -1.0, "sgen": 1.0, "storage": -1.0}


class FastPathUnsupportedError(ValueError):
    """The net has a feature the compiled model does not reproduce (the reason is named)."""


@dataclass(frozen=True)
class InjectionMap:
    """Sparse map from one element column to bus injections.

    ``delta_sbus_pu = matrix @ (values - base_values)`` for real (``p``) columns, times 1j for
    reactive (``q``) columns.
    """

    element_ids: np.ndarray
    matrix: sparse.csr_matrix
    base_values: np.ndarray
    reactive: bool


@dataclass(frozen=True)
class BranchMap:
    """In-service branches of one table and how to turn currents into loading [%]."""

    element_ids: np.ndarray
    rows: np.ndarray  # rows of Yf/Yt
    yf: sparse.csr_matrix  # the rows of Yf/Yt for these branches, sliced once
    yt: sparse.csr_matrix
    from_base_kv: np.ndarray
    to_base_kv: np.ndarray
    rating: np.ndarray  # line: max_i_ka*df*parallel [kA]; trafo: sn_mva*df*parallel [MVA]
    from_rated_kv: np.ndarray  # trafo only: vn_hv_kv (loading by current, pandapower's default)
    to_rated_kv: np.ndarray


@dataclass(frozen=True)
class AcModel:
    """Bus-branch model of a feeder in pandapower's internal (ppci) ordering."""

    ybus: sparse.csc_matrix
    yf: sparse.csr_matrix
    yt: sparse.csr_matrix
    branch_from: np.ndarray
    branch_to: np.ndarray
    ref: np.ndarray
    pv: np.ndarray
    pq: np.ndarray
    base_mva: float
    sbus0: np.ndarray  # specified injections at the base point (slack rows: solved, unused)
    element_sbus0: np.ndarray  # injections of the mapped elements alone at the base point
    v0: np.ndarray
    bus_ids: np.ndarray  # pandapower ids of the energized buses ...
    bus_rows: np.ndarray  # ... and their positions in the model
    ext_grid_ids: np.ndarray
    ext_grid_rows: np.ndarray
    bus_lookup: np.ndarray  # pandapower bus id -> model row (-1: not in the model)
    branch: np.ndarray  # pandapower's internal branch table (ppci), rows of yf/yt
    bus_base_kv: np.ndarray  # nominal voltage of each model bus [kV]
    injections: dict[tuple[str, str], InjectionMap]
    lines: BranchMap
    trafos: BranchMap

    @property
    def n_bus(self) -> int:
        """Number of buses in the model."""
        return int(self.ybus.shape[0])


def fast_path_blockers(net: pp.pandapowerNet) -> list[str]:
    """Reasons the compiled model would differ from ``runpp`` on ``net`` (empty: none)."""
    reasons = []
    load = net.load[net.load.in_service.astype(bool)]
    for column in (
        "const_z_p_percent",
        "const_i_p_percent",
        "const_z_q_percent",
        "const_i_q_percent",
        "const_z_percent",
        "const_i_percent",
    ):
        if column in load and (load[column].fillna(0) != 0).any():
            reasons.append(f"voltage-dependent loads ({column} != 0)")
    for table in ("trafo3w", "impedance", "xward", "dcline", "svc", "tcsc", "ssc", "vsc"):
        if table in net and len(net[table]) and net[table].in_service.astype(bool).any():
            reasons.append(f"{table} elements are not mapped to branch results yet")
    if "slack_weight" in net.ext_grid and len(net.gen) and (net.gen.slack.astype(bool)).any():
        reasons.append("generators acting as slack")
    return reasons


def compile_ac_model(net: pp.pandapowerNet) -> AcModel:
    """Convert ``net`` once (one ``runpp``) into an :class:`AcModel`.

    Raises
    ------
    FastPathUnsupportedError
        When :func:`fast_path_blockers` finds a feature the model does not reproduce.
    """
    blockers = fast_path_blockers(net)
    if blockers:
        raise FastPathUnsupportedError("; ".join(blockers))
    solve_ac(net, "lightsim2grid")  # falls back to pandapower's NR where lightsim2grid can't
    internal = net._ppc["internal"]
    n_bus = internal["bus"].shape[0]
    lookup = np.asarray(net._pd2ppc_lookups["bus"])

    def rows_of(buses: np.ndarray) -> np.ndarray:
        rows = lookup[buses.astype(np.int64)]
        return np.where((rows >= 0) & (rows < n_bus), rows, -1)

    energized = net.bus.index[net.bus.in_service.astype(bool)].to_numpy()
    energized = energized[np.isfinite(net.res_bus.vm_pu.loc[energized].to_numpy(dtype=float))]
    injections = {
        key: _injection_map(net, key, rows_of, n_bus, internal["baseMVA"])
        for key in PROFILE_KEYS
        if len(net[key[0]])
    }
    element_sbus0 = np.zeros(n_bus, dtype=complex)
    for mapping in injections.values():
        contribution = mapping.matrix @ mapping.base_values
        element_sbus0 += 1j * contribution if mapping.reactive else contribution
    branch_is = internal["branch_is"]
    ppc_to_ppci = np.cumsum(branch_is) - 1
    branch = internal["branch"]
    base_kv = internal["bus"][:, BASE_KV]
    ext = net.ext_grid[net.ext_grid.in_service.astype(bool)]
    yf = sparse.csr_matrix(internal["Yf"])
    yt = sparse.csr_matrix(internal["Yt"])
    return AcModel(
        ybus=sparse.csc_matrix(internal["Ybus"]),
        yf=yf,
        yt=yt,
        branch_from=branch[:, F_BUS].real.astype(np.int64),
        branch_to=branch[:, T_BUS].real.astype(np.int64),
        ref=np.asarray(internal["ref"], dtype=np.int64),
        pv=np.asarray(internal["pv"], dtype=np.int64),
        pq=np.asarray(internal["pq"], dtype=np.int64),
        base_mva=float(internal["baseMVA"]),
        sbus0=np.asarray(internal["Sbus"], dtype=complex).copy(),
        element_sbus0=element_sbus0,
        v0=np.asarray(internal["V"], dtype=complex).copy(),
        bus_ids=energized,
        bus_rows=rows_of(energized),
        ext_grid_ids=ext.index.to_numpy(),
        ext_grid_rows=rows_of(ext.bus.to_numpy()),
        bus_lookup=rows_of(np.arange(len(lookup))),
        branch=np.asarray(branch).copy(),
        bus_base_kv=np.asarray(base_kv, dtype=float).copy(),
        injections=injections,
        lines=_branch_map(net, "line", branch_is, ppc_to_ppci, branch, base_kv, yf, yt),
        trafos=_branch_map(net, "trafo", branch_is, ppc_to_ppci, branch, base_kv, yf, yt),
    )


#: key of the compiled model in :attr:`network_models.feeder.Feeder.model_cache`
AC_MODEL_CACHE_KEY = CacheKey("ac_model", AcModel)


def cached_ac_model(feeder: Feeder) -> AcModel:
    """The feeder's compiled model, compiled on first use and kept until the next switching.

    :meth:`Feeder.open_switch` / :meth:`Feeder.close_switch` clear the cache, so the model
    always matches the current topology.
    """
    return feeder.model_cache.cached(AC_MODEL_CACHE_KEY, lambda: compile_ac_model(feeder.net))


def _injection_map(
    net: pp.pandapowerNet,
    key: tuple[str, str],
    rows_of: object,
    n_bus: int,
    base_mva: float,
) -> InjectionMap:
    element, column = key
    table = net[element]
    rows = rows_of(table.bus.to_numpy())  # type: ignore[operator]
    active = table.in_service.to_numpy(dtype=bool) & (rows >= 0)
    weight = INJECTION_SIGN[element] * table.scaling.to_numpy(dtype=float) / base_mva
    positions = np.flatnonzero(active)
    matrix = sparse.csr_matrix(
        (weight[positions], (rows[positions], positions)), shape=(n_bus, len(table))
    )
    return InjectionMap(
        element_ids=table.index.to_numpy(),
        matrix=matrix,
        base_values=table[column].to_numpy(dtype=float).copy(),
        reactive=column == "q_mvar",
    )


def _branch_map(
    net: pp.pandapowerNet,
    table_name: str,
    branch_is: np.ndarray,
    ppc_to_ppci: np.ndarray,
    branch: np.ndarray,
    base_kv: np.ndarray,
    yf: sparse.csr_matrix,
    yt: sparse.csr_matrix,
) -> BranchMap:
    table = net[table_name]
    lookup = net._pd2ppc_lookups["branch"].get(table_name)
    if lookup is None or not len(table):
        empty = np.zeros(0)
        no_rows = sparse.csr_matrix((0, yf.shape[1]), dtype=complex)
        return BranchMap(
            empty.astype(np.int64),
            empty.astype(np.int64),
            no_rows,
            no_rows,
            empty,
            empty,
            empty,
            empty,
            empty,
        )
    ppc_rows = np.arange(lookup[0], lookup[1])
    active = branch_is[ppc_rows] & table.in_service.to_numpy(dtype=bool)
    ppci_rows = ppc_to_ppci[ppc_rows[active]]
    from_bus = branch[ppci_rows, F_BUS].real.astype(np.int64)  # branch: internal (ppci) rows
    to_bus = branch[ppci_rows, T_BUS].real.astype(np.int64)
    chosen = table[active]
    factor = chosen.df.to_numpy(dtype=float) * chosen.parallel.to_numpy(dtype=float)
    if table_name == "line":
        rating = chosen.max_i_ka.to_numpy(dtype=float) * factor
        rated_from = rated_to = np.ones(len(chosen))
    else:
        rating = chosen.sn_mva.to_numpy(dtype=float) * factor
        rated_from = chosen.vn_hv_kv.to_numpy(dtype=float)
        rated_to = chosen.vn_lv_kv.to_numpy(dtype=float)
    return BranchMap(
        element_ids=chosen.index.to_numpy(),
        rows=ppci_rows,
        yf=sparse.csr_matrix(yf[ppci_rows]),
        yt=sparse.csr_matrix(yt[ppci_rows]),
        from_base_kv=base_kv[from_bus],
        to_base_kv=base_kv[to_bus],
        rating=rating,
        from_rated_kv=rated_from,
        to_rated_kv=rated_to,
    )


def injection_delta(model: AcModel, values: dict[tuple[str, str], pd.DataFrame]) -> np.ndarray:
    """Per-step change of the bus injections [pu] for the given element set-points.

    Parameters
    ----------
    values : dict
        ``(element, column) -> DataFrame`` (steps x element ids) of absolute set-points
        [MW or MVAr]; ids missing from a frame keep their base value.

    Returns
    -------
    numpy.ndarray
        Complex array, steps x buses.
    """
    n_steps = next(iter(values.values())).shape[0] if values else 0
    delta = np.zeros((n_steps, model.n_bus), dtype=complex)
    for key, frame in values.items():
        mapping = model.injections.get(key)
        if mapping is None:
            continue
        positions = pd.Index(mapping.element_ids).get_indexer(frame.columns)
        if (positions < 0).any():
            missing = list(frame.columns[positions < 0][:5])
            raise KeyError(f"profile {key[0]}.{key[1]} names unknown {key[0]} ids {missing}")
        change = frame.to_numpy(dtype=float) - mapping.base_values[positions]
        contribution = (mapping.matrix[:, positions] @ change.T).T
        delta += 1j * contribution if mapping.reactive else contribution
    return delta


def branch_loading_percent(
    model: AcModel, branches: BranchMap, voltages: np.ndarray, *, is_line: bool
) -> np.ndarray:
    """Loading [%] of ``branches`` for bus voltages ``voltages`` (steps x buses, complex pu).

    Lines: ``max(|I_from|, |I_to|) / (max_i_ka * df * parallel)``. Transformers:
    ``max(I_hv * vn_hv_kv, I_lv * vn_lv_kv) * sqrt(3) / (sn_mva * df * parallel)``, pandapower's
    default loading by current.
    """
    if not len(branches.rows):
        return np.zeros((voltages.shape[0], 0))
    columns = np.ascontiguousarray(voltages.T)
    i_from = np.abs(branches.yf @ columns).T * model.base_mva / (SQRT3 * branches.from_base_kv)
    i_to = np.abs(branches.yt @ columns).T * model.base_mva / (SQRT3 * branches.to_base_kv)
    if is_line:
        return np.maximum(i_from, i_to) / branches.rating * 100.0
    return (
        np.maximum(i_from * branches.from_rated_kv, i_to * branches.to_rated_kv)
        * SQRT3
        / branches.rating
        * 100.0
    )


def series_losses_mw(model: AcModel, voltages: np.ndarray) -> np.ndarray:
    """Total series losses of all in-service branches per step [MW]."""
    columns = np.ascontiguousarray(voltages.T)
    v_from = voltages[:, model.branch_from]
    v_to = voltages[:, model.branch_to]
    s_from = v_from * np.conj(model.yf @ columns).T
    s_to = v_to * np.conj(model.yt @ columns).T
    return np.asarray((s_from + s_to).real.sum(axis=1) * model.base_mva)


def slack_injection(model: AcModel, voltages: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Power drawn from each external grid per step [MVA, complex; import positive].

    The slack's share of a bus's calculated injection is what the elements connected there
    (``element_sbus0 + delta``) do not account for.
    """
    rows = model.ext_grid_rows
    calculated = voltages[:, rows] * np.conj((model.ybus[rows] @ voltages.T).T)
    elements = model.element_sbus0[rows][np.newaxis, :] + delta[:, rows]
    return np.asarray((calculated - elements) * model.base_mva)
