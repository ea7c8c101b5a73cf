"""Hosting capacity per profile step: linear screening of every step, AC refinement of the few
steps that set the minimum.

1. One AC power flow per step (each component, warm-started from the previous step) gives the
   voltages and branch currents of the existing loads and DERs.
2. Sensitivities of every bus voltage magnitude and branch-end current to an injection at each
   bus come from the power-flow Jacobian at the worst-case operating point (one sparse
   factorisation per component). With them the linear capacity of every bus at every step is
   closed form: voltage rows ``(vm_max - vm_t) / dvm_dp``, thermal rows the positive root of
   ``|I_t + dI_dp p| = I_max`` (a circle, exact in the linear model).
3. Per bus the :data:`CANDIDATES` steps with the lowest linear capacity are refined by AC power
   flow (:func:`.refine.refine`); the lowest AC result is the bus's time-series minimum, exact to
   the tolerance. The per-step series is the linear screening scaled by the bus's ratio of AC
   to linear capacity at that step (stated in the result: it is an estimate between steps).

Limits a step already violates are relaxed for that step as in the static study.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from pandapower.pypower.dSbus_dV import dSbus_dV
from scipy import sparse
from scipy.sparse.linalg import splu

from network_models.feeder import Feeder
from solvers.acmodel import injection_delta
from solvers.cancel import each
from solvers.hosting_capacity.ac_check import Check, ComponentState
from solvers.hosting_capacity.components import ComponentModel, compile_component, split_at_sources
from solvers.hosting_capacity.operating_point import Mode, OperatingPoint, worst_case
from solvers.hosting_capacity.refine import Tolerance, refine
from solvers.hosting_capacity.relaxation import RELAX_MARGIN_PERCENT, RELAX_MARGIN_PU
from solvers.hosting_capacity.static import CAP_MW, check_buses
from solvers.limits import StudyLimits
from solvers.powerflow import PowerFlowError

#: steps per bus refined by AC power flow (the lowest linear capacities)
CANDIDATES = 3
#: steps screened at once (memory: steps x limits x buses floats)
CHUNK_STEPS = 256


@dataclass
class TimeSeriesHostingCapacity:
    """Hosting capacity per step of one mode.

    Attributes
    ----------
    mode : str
    steps : range
        Profile steps studied.
    per_step_mw : pandas.DataFrame
        Steps x buses: linear screening scaled to the AC result (estimate) [MW].
    minimum : pandas.DataFrame
        Per bus: ``hc_min_mw`` (AC-exact), ``step``, ``time`` and ``hour`` that set it,
        ``binding`` there, and ``lp_min_mw`` (the linear screening's minimum).
    times_s : dict
    """

    mode: str
    steps: range
    per_step_mw: pd.DataFrame
    minimum: pd.DataFrame
    times_s: dict[str, float]
    ac_power_flows: int


def _sensitivities(state: ComponentState, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d|V|/dp (buses x candidates) [pu/MW] and dI_end/dp (ends x candidates) [pu/MW] at the
    state's operating point."""
    model = state.model
    v0 = state.v0
    pvpq = np.concatenate([model.pv, model.pq])
    pq = model.pq
    ds_dvm, ds_dva = (sparse.csr_matrix(m) for m in dSbus_dV(model.ybus, v0))
    jacobian = sparse.bmat(
        [
            [ds_dva[pvpq][:, pvpq].real, ds_dvm[pvpq][:, pq].real],
            [ds_dva[pq][:, pvpq].imag, ds_dvm[pq][:, pq].imag],
        ],
        format="csc",
    )
    rhs = np.zeros((len(pvpq) + len(pq), len(rows)))
    s = state.s_per_mw_pu
    position = {int(r): i for i, r in enumerate(pvpq)}
    position_q = {int(r): len(pvpq) + i for i, r in enumerate(pq)}
    for j, row in enumerate(rows):
        if int(row) in position:
            rhs[position[int(row)], j] = s.real
        if int(row) in position_q:
            rhs[position_q[int(row)], j] = s.imag
    dx = splu(jacobian).solve(rhs)
    dva = np.zeros((model.n_bus, len(rows)))
    dvm = np.zeros((model.n_bus, len(rows)))
    dva[pvpq] = dx[: len(pvpq)]
    dvm[pq] = dx[len(pvpq) :]
    dv = v0[:, None] * (dvm / np.abs(v0)[:, None] + 1j * dva)
    return dvm, np.asarray(state.branches.end_matrix @ dv)


def _linear_capacity(
    vm: np.ndarray,
    currents: np.ndarray,
    state: ComponentState,
    dvm_dp: np.ndarray,
    di_dp: np.ndarray,
) -> np.ndarray:
    """Linear capacity (steps x candidates) [MW] from step voltages and end currents."""
    vm_max = np.maximum(state.vm_max_model_pu[None, :], vm + RELAX_MARGIN_PU)
    vm_min = np.minimum(state.vm_min_model_pu[None, :], vm - RELAX_MARGIN_PU)
    up = np.where(dvm_dp > 1e-12, dvm_dp, np.nan)
    down = np.where(dvm_dp < -1e-12, -dvm_dp, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no limit binds
        p_over = (vm_max - vm)[:, :, None] / up[None]
        p_under = (vm - vm_min)[:, :, None] / down[None]
        best = np.fmin(np.nanmin(p_over, axis=1), np.nanmin(p_under, axis=1))
        table = state.branches
        limit0 = np.tile(table.model_limit_percent, 2) / table.percent_per_pu
        current = np.abs(currents)
        limit = np.maximum(limit0[None, :], current * (1 + RELAX_MARGIN_PERCENT / 100))
        a = np.abs(di_dp) ** 2  # ends x candidates
        b = (currents[:, :, None] * np.conj(di_dp)[None]).real
        c = (current**2 - limit**2)[:, :, None]
        root = (-b + np.sqrt(np.maximum(b**2 - a[None] * c, 0.0))) / np.where(a > 0, a, np.nan)
        best = np.fmin(best, np.nanmin(root, axis=1))
    return np.where(np.isfinite(best), np.maximum(best, 0.0), CAP_MW)


def timeseries_hosting_capacity(
    feeder: Feeder,
    steps: range,
    *,
    buses: list[int] | None = None,
    mode: Mode = "gen",
    pf: float = 1.0,
    limits: StudyLimits | None = None,
    tolerance: Tolerance | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TimeSeriesHostingCapacity:
    """Hosting capacity of ``buses`` at every profile step of ``steps``.

    Raises
    ------
    ValueError
        The feeder has no profiles, or the steps are outside them.
    PowerFlowError
        A step without AC solution.
    """
    if feeder.profiles is None:
        raise ValueError(
            f"feeder '{feeder.name}' has no profiles; time-series hosting capacity needs one "
            f"(the SimBench built-ins, or simbench:CODE)"
        )
    if steps.start < 0 or steps.stop > feeder.profiles.n_steps or not len(steps):
        raise ValueError(
            f"steps {steps.start}..{steps.stop - 1} are outside the profiles "
            f"(0..{feeder.profiles.n_steps - 1})"
        )
    limits = limits or StudyLimits()
    tolerance = tolerance or Tolerance()
    started = time.perf_counter()
    topology = feeder.topology()
    wanted = set(check_buses(feeder, buses)) - set(topology.source_buses)
    window = {
        key: frame.iloc[steps.start : steps.stop] for key, frame in feeder.profiles.values.items()
    }
    reference = worst_case(feeder, mode)
    per_step: dict[int, np.ndarray] = {}
    rows_out: list[dict[str, object]] = []
    flows = 0
    total = len(wanted)
    done = 0
    stamps = feeder.profiles.start + pd.to_timedelta(
        np.asarray(steps) * feeder.profiles.step_minutes, unit="min"
    )
    for split in split_at_sources(topology):
        bus_ids = np.array(sorted(wanted.intersection(split.bus_ids.tolist())), dtype=np.int64)
        if not len(bus_ids):
            continue
        component = compile_component(feeder.net, split)
        model = component.model
        rows = model.bus_lookup[bus_ids]
        keep = ~np.isin(rows, model.ref)
        bus_ids, rows = bus_ids[keep], rows[keep]
        state = ComponentState(component, reference, limits, mode, pf)
        dvm_dp, di_dp = _sensitivities(state, rows)
        voltages = _step_voltages(component, state, window, steps)
        flows += len(steps)
        vm = np.abs(voltages)
        linear = np.empty((len(steps), len(rows)))
        for first in range(0, len(steps), CHUNK_STEPS):
            part = slice(first, first + CHUNK_STEPS)
            currents = (state.branches.end_matrix @ voltages[part].T).T
            linear[part] = _linear_capacity(vm[part], currents, state, dvm_dp, di_dp)
        states: dict[int, ComponentState] = {}
        for j, (bus, row) in enumerate(zip(bus_ids, rows, strict=True)):
            order = np.argsort(linear[:, j], kind="stable")[:CANDIDATES]
            best: tuple[float, int, str] | None = None
            for position in order:
                step = steps[int(position)]
                if step not in states:
                    states[step] = ComponentState(
                        component, _step_point(window, int(position), step), limits, mode, pf
                    )
                step_state = states[step]
                found = refine(
                    partial(_check_at, step_state, int(row)),
                    float(linear[position, j]),
                    tolerance,
                    CAP_MW,
                    step_state.assess(step_state.v0),
                )
                if best is None or found.p_mw < best[0]:
                    best = (found.p_mw, int(position), str(found.binding))
            assert best is not None
            hc, position, binding = best
            lin = float(linear[position, j])
            ratio = hc / lin if lin > 0 else 1.0
            per_step[int(bus)] = linear[:, j] * ratio
            rows_out.append(
                {
                    "bus": int(bus),
                    "hc_min_mw": hc,
                    "step": steps[position],
                    "time": str(stamps[position]),
                    "hour": float(stamps[position].hour + stamps[position].minute / 60),
                    "binding": binding,
                    "lp_min_mw": float(linear[:, j].min()),
                }
            )
            done += 1
            if progress:
                progress(done, total)
        flows += sum(s.n_solves for s in states.values()) + state.n_solves
    minimum = pd.DataFrame(rows_out).set_index("bus").sort_index()
    frame = pd.DataFrame(per_step, index=pd.RangeIndex(steps.start, steps.stop, name="step"))
    return TimeSeriesHostingCapacity(
        mode=mode,
        steps=steps,
        per_step_mw=frame[sorted(frame.columns)],
        minimum=minimum,
        times_s={"total": time.perf_counter() - started},
        ac_power_flows=flows,
    )


def _check_at(state: ComponentState, row: int, p_mw: float) -> Check:
    return state.check(row, p_mw)


def _step_point(
    window: dict[tuple[str, str], pd.DataFrame], position: int, step: int
) -> OperatingPoint:
    values = {key: frame.iloc[position] for key, frame in window.items()}
    return OperatingPoint(f"step {step}", f"profile step {step}", values)


def _step_voltages(
    component: ComponentModel,
    state: ComponentState,
    window: dict[tuple[str, str], pd.DataFrame],
    steps: range,
) -> np.ndarray:
    """AC bus voltages of the component at every step (steps x buses) [pu]."""
    model = component.model
    frames = {}
    for key, frame in window.items():
        mapping = model.injections.get(key)
        if mapping is not None:
            frames[key] = frame[frame.columns.intersection(mapping.element_ids)]
    sbus = model.sbus0[None, :] + injection_delta(model, frames)
    voltages = np.empty((len(steps), model.n_bus), dtype=complex)
    start = model.v0
    for position in each(range(len(steps)), "in the AC power flows"):
        solved = state.solve_injections(sbus[position], start)
        if solved is None:
            raise PowerFlowError(
                f"AC power flow did not converge at profile step {steps[position]} "
                f"(component at {component.split.name})"
            )
        voltages[position] = start = solved
    return voltages
