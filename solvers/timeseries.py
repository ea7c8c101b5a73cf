"""Time-series AC power flow over a feeder's profiles.

Two methods with the same result type:

``"compiled"`` (default, the fast path)
    Convert the net once (:func:`solvers.acmodel.compile_ac_model`), then per step only rebuild
    the bus injection vector and call lightsim2grid's C++ Newton-Raphson (KLU) directly, warm
    started from the previous step's voltages. Branch loadings and losses are computed for all
    steps at once from the admittance matrices.
``"runpp"`` (the reference peer)
    Write each step's set-points into the element tables and call ``pandapower.runpp``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandapower as pp
import pandas as pd

from network_models.profiles import FeederProfiles
from solvers.acmodel import (
    AcModel,
    branch_loading_percent,
    compile_ac_model,
    injection_delta,
    series_losses_mw,
    slack_injection,
)
from solvers.cancel import each
from solvers.limits import LimitBreach, OperatingLimits
from solvers.powerflow import BACKEND_LABELS, Backend, PowerFlowError, solve_ac
from solvers.violations import find_violations

Method = Literal["compiled", "runpp"]

#: Newton-Raphson settings of the compiled path (pandapower's defaults)
MAX_ITERATION = 10
TOLERANCE_PU = 1e-8


@dataclass(frozen=True)
class TimeSeriesResult:
    """Per-step results of a time-series power flow.

    Attributes
    ----------
    vm_pu : pandas.DataFrame
        Bus voltage magnitude per step (rows) and energized bus (columns) [pu].
    line_loading_percent, trafo_loading_percent : pandas.DataFrame
        Loading per step and in-service branch [%].
    losses_mw : pandas.Series
        Series losses of lines and transformers per step [MW].
    feeder_head_p_mw, feeder_head_q_mvar : pandas.Series
        Import from the upstream grid(s) per step [MW, MVAr].
    iterations : numpy.ndarray
        Newton-Raphson iterations per step.
    method, solver : str
        How the steps were solved, in words.
    setup_s, solve_s : float
        Conversion/compilation time and time for all steps [s].
    step_minutes : int
        Length of one step [min].
    """

    feeder: str
    method: str
    solver: str
    steps: range
    vm_pu: pd.DataFrame
    line_loading_percent: pd.DataFrame
    trafo_loading_percent: pd.DataFrame
    losses_mw: pd.Series
    feeder_head_p_mw: pd.Series
    feeder_head_q_mvar: pd.Series
    iterations: np.ndarray
    setup_s: float
    solve_s: float
    limits: OperatingLimits
    step_minutes: int
    #: complex bus voltages per step in the compiled model's rows [pu] (compiled path only)
    model_voltages_pu: np.ndarray | None = None

    @property
    def n_steps(self) -> int:
        """Number of steps solved."""
        return len(self.steps)

    @property
    def steps_per_second(self) -> float:
        """Throughput over the solve loop, set-up excluded [1/s]."""
        return self.n_steps / self.solve_s if self.solve_s > 0 else float("inf")

    def violations(self) -> list[LimitBreach]:
        """Every limit violation at every step."""
        found: list[LimitBreach] = []
        for position, step in enumerate(self.steps):
            found += find_violations(
                self.vm_pu.iloc[position],
                {
                    "line": self.line_loading_percent.iloc[position],
                    "trafo": self.trafo_loading_percent.iloc[position],
                },
                self.limits,
                step=step,
            )
        return found

    def worst_violations(self, violations: list[LimitBreach] | None = None) -> list[LimitBreach]:
        """The worst violation of each element over all steps, largest excess first.

        ``violations`` defaults to :meth:`violations`; pass it when already computed.
        """
        worst: dict[tuple[str, str, int], LimitBreach] = {}
        for violation in self.violations() if violations is None else violations:
            key = (violation.kind, violation.element, violation.element_id)
            if key not in worst or violation.excess > worst[key].excess:
                worst[key] = violation
        return sorted(worst.values(), key=lambda v: (v.unit, -v.excess))

    def summary(self) -> dict[str, object]:
        """JSON-ready summary (no per-step tables)."""
        violations = self.violations()
        worst = self.worst_violations(violations)
        vm = self.vm_pu.to_numpy()
        loading = np.concatenate(
            [self.line_loading_percent.to_numpy(), self.trafo_loading_percent.to_numpy()], axis=1
        )
        return {
            "feeder": self.feeder,
            "method": self.method,
            "solver": self.solver,
            "first_step": self.steps.start,
            "n_steps": self.n_steps,
            "setup_s": self.setup_s,
            "solve_s": self.solve_s,
            "steps_per_second": self.steps_per_second,
            "mean_iterations": float(np.mean(self.iterations)) if len(self.iterations) else 0.0,
            "min_vm_pu": float(np.nanmin(vm)),
            "max_vm_pu": float(np.nanmax(vm)),
            "max_loading_percent": float(np.nanmax(loading)) if loading.size else 0.0,
            "energy_losses_mwh": float(self.losses_mw.sum()) * self.step_minutes / 60.0,
            "steps_with_violations": len({v.step for v in violations}),
            "worst_violations": [v.to_dict() for v in worst[:20]],
        }


def run_timeseries(
    net: pp.pandapowerNet,
    profiles: FeederProfiles,
    *,
    steps: int,
    start: int = 0,
    limits: OperatingLimits | None = None,
    method: Method = "compiled",
    backend: Backend = "lightsim2grid",
    name: str = "",
    model: AcModel | None = None,
) -> TimeSeriesResult:
    """AC power flow for ``steps`` consecutive profile steps from ``start``.

    Parameters
    ----------
    net : pandapowerNet
        The feeder; its element tables are left as they were.
    profiles : FeederProfiles
        Absolute set-points per step.
    steps, start : int
        Number of steps and first step.
    limits : OperatingLimits, optional
        For :meth:`TimeSeriesResult.violations`.
    method : {"compiled", "runpp"}
        The fast path or one ``pandapower.runpp`` per step (the peer it is measured against).
    backend : {"pandapower", "lightsim2grid"}
        Newton-Raphson used by the ``"runpp"`` method (the compiled path always calls
        lightsim2grid's solver).
    model : AcModel, optional
        A model compiled earlier for this topology (see :class:`network_models.feeder.Feeder`'s
        ``model_cache``); compiled here when omitted.

    Raises
    ------
    ValueError
        ``steps``/``start`` outside the profiles.
    PowerFlowError
        A step did not converge (the step and its time stamp are named).
    """
    limits = limits or OperatingLimits()
    if steps < 1 or start < 0 or start + steps > profiles.n_steps:
        raise ValueError(
            f"steps {start}..{start + steps - 1} are outside the profiles, which have "
            f"{profiles.n_steps} steps (0..{profiles.n_steps - 1})"
        )
    window = {key: frame.iloc[start : start + steps] for key, frame in profiles.values.items()}
    run = _Window(profiles, window, start, steps, limits, name)
    if method == "compiled":
        return _run_compiled(net, run, model)
    if method == "runpp":
        return _run_runpp(net, run, backend)
    raise ValueError(f"unknown time-series method '{method}'; use 'compiled' or 'runpp'")


def _step_label(profiles: FeederProfiles, step: int) -> str:
    stamp = profiles.start + pd.Timedelta(minutes=profiles.step_minutes * step)
    return f"step {step} ({stamp:%Y-%m-%d %H:%M})"


@dataclass(frozen=True)
class _Window:
    """The profile steps one time series runs: ``count`` steps from ``start``."""

    profiles: FeederProfiles
    frames: dict[tuple[str, str], pd.DataFrame]  # the profiles' values at those steps
    start: int
    count: int
    limits: OperatingLimits
    feeder: str


def _run_compiled(net: pp.pandapowerNet, run: _Window, model: AcModel | None) -> TimeSeriesResult:
    from lightsim2grid.solver import KLUSolverSingleSlack

    profiles, window, start, steps = run.profiles, run.frames, run.start, run.count
    limits, name = run.limits, run.feeder

    setup_start = time.perf_counter()
    model = model or compile_ac_model(net)
    delta = injection_delta(model, window)
    sbus = model.sbus0[np.newaxis, :] + delta
    solver = KLUSolverSingleSlack()
    weights = np.zeros(model.n_bus)
    weights[model.ref] = 1.0 / len(model.ref)
    setup_s = time.perf_counter() - setup_start

    solve_start = time.perf_counter()
    voltages = np.empty((steps, model.n_bus), dtype=complex)
    iterations = np.empty(steps, dtype=np.int64)
    v_start = model.v0
    for position in each(range(steps), "in the AC power flows"):
        converged = solver.solve(
            model.ybus,
            v_start,
            sbus[position],
            model.ref,
            weights,
            model.pv,
            model.pq,
            MAX_ITERATION,
            TOLERANCE_PU,
        )
        if not converged:
            raise PowerFlowError(
                f"AC power flow did not converge at {_step_label(profiles, start + position)} "
                f"of feeder '{name}' ({solver.get_error()})"
            )
        v_start = solver.get_V()
        voltages[position] = v_start
        iterations[position] = solver.get_nb_iter()
    vm = np.abs(voltages[:, model.bus_rows])
    line = branch_loading_percent(model, model.lines, voltages, is_line=True)
    trafo = branch_loading_percent(model, model.trafos, voltages, is_line=False)
    losses = series_losses_mw(model, voltages)
    head = slack_injection(model, voltages, delta).sum(axis=1)
    solve_s = time.perf_counter() - solve_start

    index = pd.RangeIndex(start, start + steps, name="step")
    return TimeSeriesResult(
        feeder=name,
        method="compiled model, warm start from the previous step, no per-step conversion",
        solver="lightsim2grid Newton-Raphson (C++, KLU), called directly",
        steps=range(start, start + steps),
        vm_pu=pd.DataFrame(vm, index=index, columns=model.bus_ids),
        line_loading_percent=pd.DataFrame(line, index=index, columns=model.lines.element_ids),
        trafo_loading_percent=pd.DataFrame(trafo, index=index, columns=model.trafos.element_ids),
        losses_mw=pd.Series(losses, index=index),
        feeder_head_p_mw=pd.Series(head.real, index=index),
        feeder_head_q_mvar=pd.Series(head.imag, index=index),
        iterations=iterations,
        setup_s=setup_s,
        solve_s=solve_s,
        limits=limits,
        step_minutes=profiles.step_minutes,
        model_voltages_pu=voltages,
    )


def _run_runpp(net: pp.pandapowerNet, run: _Window, backend: Backend) -> TimeSeriesResult:
    profiles, window, start, steps = run.profiles, run.frames, run.start, run.count
    limits, name = run.limits, run.feeder
    saved = {key: net[key[0]][key[1]].copy() for key in window}
    buses = net.bus.index[net.bus.in_service.astype(bool)]
    lines = net.line.index[net.line.in_service.astype(bool)]
    trafos = net.trafo.index[net.trafo.in_service.astype(bool)]
    vm = np.empty((steps, len(buses)))
    line = np.empty((steps, len(lines)))
    trafo = np.empty((steps, len(trafos)))
    losses = np.empty(steps)
    head = np.empty(steps, dtype=complex)
    iterations = np.empty(steps, dtype=np.int64)
    label = BACKEND_LABELS[backend]
    solve_start = time.perf_counter()
    try:
        for position in range(steps):
            for (element, column), frame in window.items():
                net[element].loc[frame.columns, column] = frame.iloc[position].to_numpy()
            try:
                label = solve_ac(net, backend)
            except PowerFlowError as exc:
                raise PowerFlowError(
                    f"AC power flow did not converge at {_step_label(profiles, start + position)}"
                    f" of feeder '{name}'"
                ) from exc
            vm[position] = net.res_bus.vm_pu.loc[buses].to_numpy()
            line[position] = net.res_line.loading_percent.loc[lines].to_numpy()
            trafo[position] = net.res_trafo.loading_percent.loc[trafos].to_numpy()
            losses[position] = net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum()
            head[position] = complex(net.res_ext_grid.p_mw.sum(), net.res_ext_grid.q_mvar.sum())
            iterations[position] = int(net._ppc["iterations"])
    finally:
        for (element, column), values in saved.items():
            net[element][column] = values
    solve_s = time.perf_counter() - solve_start
    energized = ~np.isnan(vm).all(axis=0)
    index = pd.RangeIndex(start, start + steps, name="step")
    return TimeSeriesResult(
        feeder=name,
        method="pandapower.runpp per step (full conversion every step)",
        solver=label,
        steps=range(start, start + steps),
        vm_pu=pd.DataFrame(vm[:, energized], index=index, columns=buses[energized]),
        line_loading_percent=pd.DataFrame(line, index=index, columns=lines),
        trafo_loading_percent=pd.DataFrame(trafo, index=index, columns=trafos),
        losses_mw=pd.Series(losses, index=index),
        feeder_head_p_mw=pd.Series(head.real, index=index),
        feeder_head_q_mvar=pd.Series(head.imag, index=index),
        iterations=iterations,
        setup_s=0.0,
        solve_s=solve_s,
        limits=limits,
        step_minutes=profiles.step_minutes,
    )
