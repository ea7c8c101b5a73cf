"""Result extraction: the schedule, envelopes, AC network state and stored energy of a solved
dispatch (or the diagnosis of one that has no schedule) as a
:class:`~solvers.opf.request.DispatchResult`."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Literal, TypedDict

import numpy as np
import pandas as pd

from solvers.acmodel import AcModel
from solvers.limits import LimitBreach
from solvers.lp.program import LinearProgram, LpSolution
from solvers.opf.aggregation import Aggregation
from solvers.opf.envelopes import operating_envelopes
from solvers.opf.formulation import Formulation
from solvers.opf.problem import ProblemIndex
from solvers.opf.request import DispatchRequest, DispatchResult
from solvers.timeseries import TimeSeriesResult


def schedule_frame(request: DispatchRequest, p_mw: np.ndarray, q_mvar: np.ndarray) -> pd.DataFrame:
    """One row per DER and period: set-points [MW, MVAr], available and curtailed power [MW]
    and the control mode."""
    fleet = request.fleet
    n_d, n_t = p_mw.shape
    available = np.where(fleet.curtailable[:, None], fleet.p_available_mw, p_mw)
    mode = np.where(
        fleet.fixed, "fixed", np.where(fleet.is_storage, "storage_setpoint", "active_power_limit")
    )
    return pd.DataFrame(
        {
            "der_id": np.repeat(fleet.der_ids, n_t),
            "period": np.tile(np.arange(n_t), n_d),
            "p_mw": p_mw.ravel(),
            "q_mvar": q_mvar.ravel(),
            "p_available_mw": available.ravel(),
            "curtailed_mw": np.maximum(available - p_mw, 0.0).ravel(),
            "mode": np.repeat(mode, n_t),
        }
    )


class RunTimes(TypedDict):
    """How long a dispatch took, as :class:`~solvers.opf.request.DispatchResult` fields."""

    iterations: int  # solve/verify rounds over all attempts
    build_s: float  # [s]
    solve_s: float  # HiGHS's run time [s]
    verify_s: float  # [s]
    total_s: float  # [s]


def optimal_result(
    request: DispatchRequest,
    found: tuple[Formulation, LinearProgram, ProblemIndex],
    solution: LpSolution,
    ac: TimeSeriesResult,
    violations: list[LimitBreach],
    times: RunTimes,
    objective_value: float,
    envelope_inputs: tuple[AcModel, np.ndarray] | None = None,
    aggregation: Aggregation | None = None,
) -> DispatchResult:
    """The result of a schedule: set-points per DER (split from the LP's aggregates), their
    operating envelopes, the AC network state per period and the stored energy.

    ``found`` is the formulation, LP and problem index that gave ``solution``.
    """
    formulation, lp, index = found
    fleet = request.fleet
    p_mw = solution.values(lp.variables["der_p_mw"])
    q_mvar = solution.values(lp.variables["der_q_mvar"])
    lp_fleet = fleet
    if aggregation is not None:
        p_mw, q_mvar = aggregation.split(p_mw), aggregation.split(q_mvar)
        lp_fleet = aggregation.fleet
    schedule = schedule_frame(request, p_mw, q_mvar)
    envelope_start = time.perf_counter()
    if envelope_inputs is not None and ac.model_voltages_pu is not None:
        model, ratings_pu = envelope_inputs
        limits = request.limits
        low, high = operating_envelopes(
            model,
            ac.model_voltages_pu,
            model.bus_lookup[fleet.bus],
            p_mw,
            limits.vm_min_pu,
            limits.vm_max_pu,
            ratings_pu * limits.max_loading_percent / 100.0,
        )
        schedule["envelope_p_min_mw"] = low.ravel()
        schedule["envelope_p_max_mw"] = high.ravel()
    times = times.copy()
    times["total_s"] += time.perf_counter() - envelope_start  # the caller waits for them too
    loading = pd.concat([ac.line_loading_percent, ac.trafo_loading_percent], axis=1)
    network = pd.DataFrame(
        {
            "min_vm_pu": ac.vm_pu.min(axis=1),
            "max_vm_pu": ac.vm_pu.max(axis=1),
            "max_loading_percent": loading.max(axis=1) if loading.shape[1] else 0.0,
            "feeder_head_p_mw": ac.feeder_head_p_mw,
            "feeder_head_q_mvar": ac.feeder_head_q_mvar,
            "losses_mw": ac.losses_mw,
        }
    )
    storage_ids = [lp_fleet.der_ids[i] for i in index.storage]
    energy = pd.DataFrame(
        solution.values(lp.variables["storage_energy_mwh"]).T, columns=storage_ids
    )
    return _dispatch_result(
        "optimal",
        formulation,
        (schedule, energy, network),
        tuple(violations),
        (objective_value, float(schedule.curtailed_mw.sum() * request.dt_h)),
        times,
    )


def infeasible_result(
    formulation: Formulation, diagnosis: tuple[LimitBreach, ...], times: RunTimes
) -> DispatchResult:
    """The result of a request with no schedule: its diagnosis."""
    empty = pd.DataFrame()
    nan = float("nan")
    result = _dispatch_result("infeasible", formulation, (empty,) * 3, (), (nan, nan), times)
    return replace(result, diagnosis=diagnosis)


def _dispatch_result(
    status: Literal["optimal", "infeasible"],
    formulation: Formulation,
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    violations: tuple[LimitBreach, ...],
    values: tuple[float, float],
    times: RunTimes,
) -> DispatchResult:
    """``frames``: schedule, stored energy, network; ``values``: objective, curtailed [MWh]."""
    schedule, energy, network = frames
    objective_value, curtailed_mwh = values
    return DispatchResult(
        status=status,
        formulation=formulation.name,
        schedule=schedule,
        storage_energy_mwh=energy,
        network=network,
        ac_feasible=status == "optimal" and not violations,
        ac_violations=violations,
        objective_value=objective_value,
        curtailed_mwh=curtailed_mwh,
        **times,
    )
