"""AC power flow of a feeder with a tidy result.

Pipeline (pandapower style): :func:`run_powerflow` solves the net with an explicitly chosen
Newton-Raphson backend, :func:`extract_result` turns pandapower's result tables into a
:class:`PowerFlowResult` with losses, feeder-head exchange and a violation list.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandapower as pp
import pandas as pd

from solvers.limits import LimitBreach, OperatingLimits
from solvers.violations import find_violations

Backend = Literal["pandapower", "lightsim2grid"]

BACKEND_LABELS: dict[str, str] = {
    "pandapower": "pandapower Newton-Raphson (numba JIT)",
    "lightsim2grid": "lightsim2grid Newton-Raphson (C++, KLU) on pandapower's model",
}
#: pandapower.runpp switches per backend; pandapower would pick lightsim2grid by itself when it
#: is installed, so both switches are always passed explicitly
BACKEND_OPTIONS: dict[str, dict[str, bool]] = {
    # numba compiles on the first call of a process (~5 s), then is the fastest pandapower path
    "pandapower": {"numba": True, "lightsim2grid": False},
    # no JIT: the better choice for one-shot command-line runs
    "lightsim2grid": {"numba": False, "lightsim2grid": True},
}

BRANCH_TABLES = ("line", "trafo", "trafo3w", "impedance")


class PowerFlowError(RuntimeError):
    """The AC power flow has no solution (did not converge) or cannot be run."""


@dataclass(frozen=True)
class PowerFlowResult:
    """Outcome of one AC power flow.

    Attributes
    ----------
    bus : pandas.DataFrame
        Per bus: ``vm_pu`` [pu], ``va_degree`` [deg], ``p_mw``, ``q_mvar`` (net load) [MW, MVAr].
    line, trafo : pandas.DataFrame
        Per branch: ``loading_percent`` [%], ``pl_mw`` losses [MW], ``ql_mvar`` [MVAr]; lines
        also ``i_ka`` [kA].
    feeder_head : pandas.DataFrame
        Per external grid: ``bus``, ``p_mw`` and ``q_mvar`` drawn from the upstream grid
        [MW, MVAr] (positive = import into the feeder).
    losses_mw, losses_mvar : float
        Total series losses of lines, transformers and impedances [MW, MVAr].
    load_p_mw, generation_p_mw, storage_p_mw, shunt_p_mw : float
        Totals of the element results [MW]; with ``feeder_head`` and ``losses_mw`` they close
        the power balance.
    violations : tuple of LimitBreach
        Buses outside the band and branches over the thermal limit of ``limits``.
    deenergized_buses : tuple of int
        In-service buses that no source supplies (no voltage).
    """

    feeder: str
    backend: str
    converged: bool
    bus: pd.DataFrame
    line: pd.DataFrame
    trafo: pd.DataFrame
    feeder_head: pd.DataFrame
    losses_mw: float
    losses_mvar: float
    load_p_mw: float
    generation_p_mw: float
    storage_p_mw: float
    shunt_p_mw: float
    limits: OperatingLimits
    violations: tuple[LimitBreach, ...]
    deenergized_buses: tuple[int, ...]
    elapsed_s: float
    notes: tuple[str, ...] = field(default=())

    @property
    def min_vm_pu(self) -> float:
        """Lowest bus voltage [pu]."""
        return float(self.bus.vm_pu.min())

    @property
    def min_vm_bus(self) -> int:
        """Bus with the lowest voltage."""
        return int(self.bus.vm_pu.idxmin())

    @property
    def max_vm_pu(self) -> float:
        """Highest bus voltage [pu]."""
        return float(self.bus.vm_pu.max())

    @property
    def max_vm_bus(self) -> int:
        """Bus with the highest voltage."""
        return int(self.bus.vm_pu.idxmax())

    @property
    def max_loading_percent(self) -> float:
        """Highest line or transformer loading [%] (0 when the feeder has no branches)."""
        peaks = [t.loading_percent.max() for t in (self.line, self.trafo) if len(t)]
        finite = [float(p) for p in peaks if math.isfinite(p)]
        return max(finite, default=0.0)

    @property
    def max_loading_element(self) -> tuple[str, int] | None:
        """``(table, id)`` of the most loaded branch."""
        best: tuple[float, str, int] | None = None
        for name, table in (("line", self.line), ("trafo", self.trafo)):
            if len(table) and table.loading_percent.notna().any():
                idx = table.loading_percent.idxmax()
                value = float(table.loading_percent[idx])
                if best is None or value > best[0]:
                    best = (value, name, int(idx))
        return None if best is None else (best[1], best[2])

    @property
    def feeder_head_p_mw(self) -> float:
        """Total active power imported from the upstream grid [MW]."""
        return float(self.feeder_head.p_mw.sum())

    @property
    def feeder_head_q_mvar(self) -> float:
        """Total reactive power imported from the upstream grid [MVAr]."""
        return float(self.feeder_head.q_mvar.sum())

    @property
    def power_balance_mismatch_mw(self) -> float:
        """Import + generation - load - storage - shunts - losses [MW]; ~0 for a solved flow."""
        return (
            self.feeder_head_p_mw
            + self.generation_p_mw
            - self.load_p_mw
            - self.storage_p_mw
            - self.shunt_p_mw
            - self.losses_mw
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary with per-element results."""
        element = self.max_loading_element
        return {
            "feeder": self.feeder,
            "backend": self.backend,
            "converged": self.converged,
            "losses_mw": self.losses_mw,
            "losses_mvar": self.losses_mvar,
            "min_vm_pu": self.min_vm_pu,
            "min_vm_bus": self.min_vm_bus,
            "max_vm_pu": self.max_vm_pu,
            "max_vm_bus": self.max_vm_bus,
            "max_loading_percent": self.max_loading_percent,
            "max_loading_element": list(element) if element else None,
            "feeder_head_p_mw": self.feeder_head_p_mw,
            "feeder_head_q_mvar": self.feeder_head_q_mvar,
            "load_p_mw": self.load_p_mw,
            "generation_p_mw": self.generation_p_mw,
            "storage_p_mw": self.storage_p_mw,
            "power_balance_mismatch_mw": self.power_balance_mismatch_mw,
            "limits": {
                "vm_min_pu": self.limits.vm_min_pu,
                "vm_max_pu": self.limits.vm_max_pu,
                "max_loading_percent": self.limits.max_loading_percent,
            },
            "violations": [v.to_dict() for v in self.violations],
            "deenergized_buses": list(self.deenergized_buses),
            "elapsed_s": self.elapsed_s,
            "notes": list(self.notes),
            "bus": _records(self.bus),
            "line": _records(self.line),
            "trafo": _records(self.trafo),
            "feeder_head": _records(self.feeder_head),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {"id": int(idx), **row}
        for idx, row in zip(clean.index, clean.to_dict("records"), strict=True)
    ]


def lightsim2grid_blocker(net: pp.pandapowerNet) -> str | None:
    """Why pandapower cannot hand ``net`` to lightsim2grid (``None`` when it can).

    pandapower passes a net to lightsim2grid only with a single external grid (or distributed
    slack) and constant-power loads; with ``lightsim2grid=True`` it raises otherwise.
    """
    ext_grids = int(net.ext_grid.in_service.astype(bool).sum())
    if ext_grids > 1:
        return (
            f"lightsim2grid through pandapower needs a single external grid; this feeder has "
            f"{ext_grids}"
        )
    return None


def solve_ac(net: pp.pandapowerNet, backend: Backend = "pandapower", **options: object) -> str:
    """Run pandapower's AC Newton-Raphson power flow on ``net`` in place.

    Parameters
    ----------
    net : pandapowerNet
    backend : {"pandapower", "lightsim2grid"}
        Chosen explicitly: pandapower's own Newton-Raphson (numba-compiled; the first call in
        a process pays ~5 s of JIT compilation) or lightsim2grid's C++ Newton-Raphson with the
        KLU sparse solver on pandapower's converted model. When lightsim2grid cannot take the
        net (:func:`lightsim2grid_blocker`), pandapower's Newton-Raphson runs instead and the
        returned label says so.
    **options
        Passed to ``pandapower.runpp`` (e.g. ``init="results"`` for a warm start).

    Returns
    -------
    str
        What solved the power flow, in words (see :data:`BACKEND_LABELS`).

    Raises
    ------
    PowerFlowError
        When the Newton-Raphson iteration does not converge.
    """
    if backend not in BACKEND_LABELS:
        raise PowerFlowError(f"unknown power-flow backend '{backend}'; use {list(BACKEND_LABELS)}")
    label = BACKEND_LABELS[backend]
    settings = BACKEND_OPTIONS[backend]
    if backend == "lightsim2grid" and (reason := lightsim2grid_blocker(net)):
        # pandapower's Newton-Raphson without numba: lightsim2grid was chosen to avoid the JIT
        settings = {"numba": False, "lightsim2grid": False}
        label = f"pandapower Newton-Raphson, no numba (instead of lightsim2grid: {reason})"
    try:
        pp.runpp(net, algorithm="nr", **settings, **options)
    except pp.LoadflowNotConverged as exc:
        raise PowerFlowError(
            "AC power flow did not converge (Newton-Raphson, max_iteration reached): the "
            "demand may exceed what the feeder can transfer, or the model has an error"
        ) from exc
    return label


def run_powerflow(
    net: pp.pandapowerNet,
    *,
    limits: OperatingLimits | None = None,
    backend: Backend = "pandapower",
    name: str = "",
) -> PowerFlowResult:
    """Solve the AC power flow of ``net`` and return a :class:`PowerFlowResult`.

    Parameters
    ----------
    net : pandapowerNet
        Feeder model; its result tables are overwritten.
    limits : OperatingLimits, optional
        Band and thermal limit for the violation list (default 0.95-1.05 pu, 100 %).
    backend : {"pandapower", "lightsim2grid"}
        Newton-Raphson implementation, named in the result.
    name : str
        Feeder name for the result.
    """
    limits = limits or OperatingLimits()
    start = time.perf_counter()
    label = solve_ac(net, backend)
    elapsed = time.perf_counter() - start
    return extract_result(net, limits, backend=label, name=name, elapsed_s=elapsed)


def _sum(net: pp.pandapowerNet, table: str, column: str) -> float:
    result = net.get(f"res_{table}")
    if not isinstance(result, pd.DataFrame) or column not in result or not len(result):
        return 0.0
    return float(np.nansum(result[column].to_numpy(dtype=float)))


def extract_result(
    net: pp.pandapowerNet,
    limits: OperatingLimits,
    *,
    backend: str,
    name: str = "",
    elapsed_s: float = 0.0,
) -> PowerFlowResult:
    """Build a :class:`PowerFlowResult` from a solved net's result tables.

    ``backend`` is the label :func:`solve_ac` returned.
    """
    in_service = net.bus.in_service.astype(bool)
    bus = net.res_bus.loc[in_service[in_service].index, ["vm_pu", "va_degree", "p_mw", "q_mvar"]]
    deenergized = tuple(int(b) for b in bus.index[bus.vm_pu.isna()])
    energized = bus[bus.vm_pu.notna()]
    line = _branch(net, "line", ["loading_percent", "i_ka", "pl_mw", "ql_mvar", "p_from_mw"])
    trafo = _branch(net, "trafo", ["loading_percent", "pl_mw", "ql_mvar", "p_hv_mw"])
    head = net.res_ext_grid[["p_mw", "q_mvar"]].copy()
    head.insert(0, "bus", net.ext_grid.bus.loc[head.index].astype(int))
    loading = {"line": line.loading_percent, "trafo": trafo.loading_percent}
    if len(net.trafo3w):
        loading["trafo3w"] = net.res_trafo3w.loading_percent[net.trafo3w.in_service.astype(bool)]
    violations = find_violations(energized.vm_pu, loading, limits)
    return PowerFlowResult(
        feeder=name,
        backend=backend,
        converged=bool(net.converged),
        bus=energized,
        line=line,
        trafo=trafo,
        feeder_head=head,
        losses_mw=sum(_sum(net, t, "pl_mw") for t in BRANCH_TABLES),
        losses_mvar=sum(_sum(net, t, "ql_mvar") for t in BRANCH_TABLES),
        load_p_mw=_sum(net, "load", "p_mw"),
        generation_p_mw=_sum(net, "sgen", "p_mw") + _sum(net, "gen", "p_mw"),
        storage_p_mw=_sum(net, "storage", "p_mw"),
        shunt_p_mw=_sum(net, "shunt", "p_mw")
        + _sum(net, "ward", "p_mw")
        + _sum(net, "xward", "p_mw"),
        limits=limits,
        violations=tuple(violations),
        deenergized_buses=deenergized,
        elapsed_s=elapsed_s,
    )


def _branch(net: pp.pandapowerNet, table: str, columns: list[str]) -> pd.DataFrame:
    element = net[table]
    if not len(element):
        return pd.DataFrame(columns=columns, dtype=float)
    active = element.index[element.in_service.astype(bool)]
    return net[f"res_{table}"].loc[active, columns]
