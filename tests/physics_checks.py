"""Hand-built DER fleets and the independent checks of ``test_dispatch_physics.py``: each
period's set-points written into a deep copy of the pandapower net by hand and
``pandapower.runpp`` called; the storage energy recomputed from ``p_mw`` with the efficiencies,
the ramps from consecutive set-points.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from network_models.profiles import FeederProfiles
from solvers.acmodel import compile_ac_model
from solvers.limits import DispatchLimits
from solvers.opf.fleet import DerFleet
from solvers.opf.objective import Objective
from solvers.opf.pipeline import run_dispatch
from solvers.opf.request import DispatchRequest, DispatchResult

#: the literal AC tolerances of a dispatch (DispatchRequest's defaults)
VM_TOL_PU = 1e-3
LOADING_TOL_PERCENT = 0.5
#: the looser tolerances a mutation would introduce (3x voltage, 10x loading)
LOOSE_VM_TOL_PU = 3e-3
LOOSE_LOADING_TOL_PERCENT = 5.0
ENERGY_TOL_MWH = 1e-6
RAMP_TOL_MW = 1e-7
#: the charge and discharge efficiencies of the hand-built batteries (unequal on purpose)
ETA_C, ETA_D = 0.97, 0.88
TAN_PF_090 = float(np.tan(np.arccos(0.9)))


# -- hand-built fleets ----------------------------------------------------------------------
@dataclass
class Der:
    """One DER of a hand-built fleet: ``kind`` "pv" (curtailable sgen) or "storage"."""

    der_id: str
    kind: str
    bus: int
    q_mvar: float  # symmetric reactive range +-q_mvar
    s_rated_mva: float
    p_available_mw: np.ndarray | None = None  # pv
    p_mw: float = 0.0  # storage: charge and discharge power limit
    e_mwh: tuple[float, float, float, float] = (np.nan,) * 4  # min, max, initial, final min
    eta: tuple[float, float] = (np.nan, np.nan)  # charge, discharge
    ramp_mw: float = np.inf
    element: tuple[str, int] | None = None


def pv_der(bus: int, q_mvar: float, s_rated_mva: float, p_available_mw: list[float]) -> Der:
    """A curtailable PV system ``pv-<bus>`` available ``p_available_mw`` [MW] per period."""
    return Der(
        f"pv-{bus}",
        "pv",
        bus,
        q_mvar=q_mvar,
        s_rated_mva=s_rated_mva,
        p_available_mw=np.array(p_available_mw),
    )


def storage_der(
    bus: int,
    q_mvar: float,
    s_rated_mva: float,
    p_mw: float,
    e_mwh: tuple[float, float, float, float],
    ramp_mw: float = np.inf,
) -> Der:
    """A battery ``bat-<bus>`` with the efficiencies :data:`ETA_C` and :data:`ETA_D`."""
    return Der(
        f"bat-{bus}",
        "storage",
        bus,
        q_mvar=q_mvar,
        s_rated_mva=s_rated_mva,
        p_mw=p_mw,
        e_mwh=e_mwh,
        eta=(ETA_C, ETA_D),
        ramp_mw=ramp_mw,
    )


def attach_ders(net: pp.pandapowerNet, ders: list[Der]) -> None:
    """Add each DER's pandapower element to ``net`` at zero output."""
    for der in ders:
        if der.kind == "pv":
            index = pp.create_sgen(net, der.bus, p_mw=0.0, q_mvar=0.0, name=der.der_id)
            der.element = ("sgen", int(index))
        else:
            index = pp.create_storage(
                net, der.bus, p_mw=0.0, max_e_mwh=der.e_mwh[1], q_mvar=0.0, name=der.der_id
            )
            der.element = ("storage", int(index))


def hand_fleet(ders: list[Der], n_t: int) -> DerFleet:
    storage = np.array([d.kind == "storage" for d in ders])
    pv = ~storage
    available = np.array(
        [d.p_available_mw if d.kind == "pv" else np.zeros(n_t) for d in ders], dtype=float
    )
    p_min = np.array(
        [np.full(n_t, -d.p_mw) if d.kind == "storage" else np.zeros(n_t) for d in ders]
    )
    p_max = np.where(pv[:, None], available, np.array([[d.p_mw] * n_t for d in ders]))
    e = np.array([d.e_mwh for d in ders], dtype=float)
    eta = np.array([d.eta for d in ders], dtype=float)
    zeros = np.zeros((len(ders), n_t))
    assert all(d.element is not None for d in ders)
    return DerFleet(
        der_ids=[d.der_id for d in ders],
        element=[d.element for d in ders],  # type: ignore[misc]
        bus=np.array([d.bus for d in ders], dtype=np.int64),
        p_min_mw=p_min,
        p_max_mw=p_max,
        p_available_mw=np.where(pv[:, None], available, 0.0),
        curtailable=pv,
        q_min_mvar=-np.array([d.q_mvar for d in ders]),
        q_max_mvar=np.array([d.q_mvar for d in ders]),
        s_rated_mva=np.array([d.s_rated_mva for d in ders]),
        tan_phi_max=np.where(pv, TAN_PF_090, 0.0),
        is_storage=storage,
        e_min_mwh=e[:, 0],
        e_max_mwh=e[:, 1],
        e_initial_mwh=e[:, 2],
        e_final_min_mwh=e[:, 3],
        charge_efficiency=eta[:, 0],
        discharge_efficiency=eta[:, 1],
        ramp_mw_per_period=np.array([d.ramp_mw for d in ders], dtype=float),
        fixed=np.zeros(len(ders), dtype=bool),
        p_fixed_mw=zeros,
        q_fixed_mvar=zeros.copy(),
    )


def hand_forecast(
    net: pp.pandapowerNet, scale: np.ndarray, step_minutes: int = 60
) -> FeederProfiles:
    """Every load at ``scale[t]`` x its model set-point in period ``t``."""
    p = np.outer(scale, net.load.p_mw.to_numpy(dtype=float))
    q = np.outer(scale, net.load.q_mvar.to_numpy(dtype=float))
    return FeederProfiles(
        {
            ("load", "p_mw"): pd.DataFrame(p, columns=net.load.index),
            ("load", "q_mvar"): pd.DataFrame(q, columns=net.load.index),
        },
        step_minutes,
        pd.Timestamp("2026-06-21 08:00"),
    )


def band_limits(vm_min: float, vm_max: float, loading: float, n_t: int) -> DispatchLimits:
    return DispatchLimits(vm_min, vm_max, loading, np.full(n_t, np.inf), np.full(n_t, np.inf))


def build_request(
    net: pp.pandapowerNet,
    ders: list[Der],
    scale: list[float],
    limits: tuple[float, float, float],
    objective: Objective | None = None,
    formulation: str = "lindistflow",
) -> DispatchRequest:
    n_t = len(scale)
    return DispatchRequest(
        fleet=hand_fleet(ders, n_t),
        forecast=hand_forecast(net, np.asarray(scale, dtype=float)),
        limits=band_limits(*limits, n_t),
        objective=objective or Objective(),
        dt_h=1.0,
        formulation=formulation,
    )


# -- the independent checks -----------------------------------------------------------------
def runpp_period(
    net: pp.pandapowerNet, request: DispatchRequest, schedule: pd.DataFrame, period: int
) -> pp.pandapowerNet:
    """pandapower.runpp of one period, set-points written into a deep copy of ``net``."""
    check = copy.deepcopy(net)
    for (table, column), frame in request.forecast.values.items():
        check[table].loc[frame.columns, column] = frame.iloc[period].to_numpy(dtype=float)
    rows = schedule[schedule.period == period].set_index("der_id")
    for der_id, (table, element) in zip(request.fleet.der_ids, request.fleet.element, strict=True):
        p_mw, q_mvar = (float(v) for v in rows.loc[der_id, ["p_mw", "q_mvar"]])
        if table == "sgen":  # generation positive
            check.sgen.loc[element, ["p_mw", "q_mvar"]] = [p_mw, q_mvar]
        else:  # pandapower storage: consumption positive (charging p_mw > 0)
            check.storage.loc[element, ["p_mw", "q_mvar"]] = [-p_mw, -q_mvar]
    pp.runpp(check, algorithm="nr", tolerance_mva=1e-9, numba=False)
    assert check.converged
    return check


@dataclass(frozen=True)
class PeriodCheck:
    max_vm_pu: float
    min_vm_pu: float
    max_loading_percent: float
    worst_branch: tuple[str, int]
    net: pp.pandapowerNet


def measure(check: pp.pandapowerNet) -> PeriodCheck:
    vm = check.res_bus.vm_pu[check.bus.in_service.astype(bool)].dropna()
    loading = pd.concat(
        {
            "line": check.res_line.loading_percent[check.line.in_service.astype(bool)],
            "trafo": check.res_trafo.loading_percent[check.trafo.in_service.astype(bool)],
        }
    )
    worst = loading.idxmax()
    return PeriodCheck(
        float(vm.max()), float(vm.min()), float(loading.max()), (worst[0], int(worst[1])), check
    )


def runpp_every_period(
    net: pp.pandapowerNet, request: DispatchRequest, result: DispatchResult
) -> list[PeriodCheck]:
    """(a) of every period: voltages within the band + 1e-3 pu, loading within the limit +
    0.5 %, by an independent runpp; and the dispatch's own AC figures agree with it."""
    limits = request.limits
    checks = []
    for period in range(request.fleet.n_periods):
        found = measure(runpp_period(net, request, result.schedule, period))
        assert limits.vm_min_pu - VM_TOL_PU <= found.min_vm_pu, (period, found.min_vm_pu)
        assert found.max_vm_pu <= limits.vm_max_pu + VM_TOL_PU, (period, found.max_vm_pu)
        assert found.max_loading_percent <= limits.max_loading_percent + LOADING_TOL_PERCENT, (
            period,
            found.max_loading_percent,
        )
        # the schedule the dispatch verified is the one checked here
        row = result.network.iloc[period]
        assert found.max_vm_pu == pytest.approx(row.max_vm_pu, abs=1e-6)
        assert found.min_vm_pu == pytest.approx(row.min_vm_pu, abs=1e-6)
        assert found.max_loading_percent == pytest.approx(row.max_loading_percent, abs=1e-4)
        checks.append(found)
    return checks


def p_matrix(result: DispatchResult, der_ids: list[str]) -> np.ndarray:
    table = result.schedule.pivot(index="der_id", columns="period", values="p_mw")
    return table.loc[der_ids].to_numpy(dtype=float)


def energy_by_hand(
    p_mw: np.ndarray, e_initial: float, eta_c: float, eta_d: float, dt_h: float
) -> np.ndarray:
    """E[t] = E[t-1] + dt (eta_c p_charge - p_discharge / eta_d), generation-positive p."""
    charge, discharge = np.maximum(-p_mw, 0.0), np.maximum(p_mw, 0.0)
    return e_initial + np.cumsum(dt_h * (eta_c * charge - discharge / eta_d))


def check_storage(request: DispatchRequest, result: DispatchResult) -> dict[str, np.ndarray]:
    """(b): the reported energy is the hand-computed trajectory, inside the SoC band."""
    fleet = request.fleet
    trajectories = {}
    for position in np.flatnonzero(fleet.is_storage):
        der_id = fleet.der_ids[position]
        p_mw = p_matrix(result, [der_id])[0]
        expected = energy_by_hand(
            p_mw,
            fleet.e_initial_mwh[position],
            fleet.charge_efficiency[position],
            fleet.discharge_efficiency[position],
            request.dt_h,
        )
        reported = result.storage_energy_mwh[der_id].to_numpy(dtype=float)
        np.testing.assert_allclose(reported, expected, rtol=0.0, atol=ENERGY_TOL_MWH)
        assert expected.min() >= fleet.e_min_mwh[position] - ENERGY_TOL_MWH
        assert expected.max() <= fleet.e_max_mwh[position] + ENERGY_TOL_MWH
        assert expected[-1] >= fleet.e_final_min_mwh[position] - ENERGY_TOL_MWH
        trajectories[der_id] = expected
    return trajectories


def check_ramps(request: DispatchRequest, result: DispatchResult) -> np.ndarray:
    """(c): |p[t+1] - p[t]| <= ramp + 1e-7 for every DER; returns where a ramp binds."""
    fleet = request.fleet
    step = np.abs(np.diff(p_matrix(result, fleet.der_ids), axis=1))
    ramp = fleet.ramp_mw_per_period[:, None]
    assert (step <= ramp + RAMP_TOL_MW).all(), (step, ramp)
    return np.isfinite(ramp) & (np.abs(step - ramp) <= 1e-6)


def uncontrolled(result: DispatchResult) -> pd.DataFrame:
    """The schedule without dispatch: PV at its available power, storage idle, no Q."""
    schedule = result.schedule.copy()
    schedule["p_mw"] = np.where(
        schedule["mode"] == "storage_setpoint", 0.0, schedule.p_available_mw
    )
    schedule["q_mvar"] = 0.0
    return schedule


def dispatch_checked(
    net: pp.pandapowerNet,
    ders: list[Der],
    scale: list[float],
    limits: tuple[float, float, float],
    **options: Any,
) -> tuple[DispatchRequest, DispatchResult, list[PeriodCheck]]:
    """Dispatch ``ders`` on ``net`` (the request of :func:`build_request`, ``options`` its
    objective and formulation), assert an optimal, AC-feasible result and check every period
    by runpp (:func:`runpp_every_period`); return the request, the result and the checks."""
    built = build_request(net, ders, scale, limits, **options)
    result = run_dispatch(net, compile_ac_model(net), built)
    assert result.status == "optimal" and result.ac_feasible, result.ac_violations[:3]
    return built, result, runpp_every_period(net, built, result)


def unmanaged_noon(
    net: pp.pandapowerNet, request: DispatchRequest, result: DispatchResult
) -> PeriodCheck:
    """Period 2 by runpp without the dispatch (:func:`uncontrolled`)."""
    return measure(runpp_period(net, request, uncontrolled(result), 2))
