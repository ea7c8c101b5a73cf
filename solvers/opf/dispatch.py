"""Network-constrained dispatch: build -> solve (HiGHS) -> verify by AC power flow -> correct.

:func:`run_dispatch` is the pipeline. The LP is built once; each AC verification moves the
formulation's offsets to ``AC - linear`` at the dispatched point and the live HiGHS model is
re-solved with changed row bounds only, until the AC power flow of the schedule is within the
limits (tolerances 0.001 pu and 0.5 % loading by default) or the iteration cap is reached.

When the limits cannot all be met, the problem is re-solved with penalised slacks and the result
names every limit that must give, with element, period and amount: a diagnosis, never a success.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandapower as pp
import pandas as pd

from network_models.profiles import FeederProfiles
from solvers.acmodel import AcModel, injection_delta
from solvers.cancel import StopCheck, checkpoint, stop_when
from solvers.limits import OperatingLimits
from solvers.opf.aggregation import Aggregation, aggregate_fleet
from solvers.opf.diagnosis import (
    Formulation,
    LimitRelaxation,
    ac_diagnosis,
    diagnose,
    linear_only_limits,
    penalty_free_objective,
)
from solvers.opf.envelopes import operating_envelopes
from solvers.opf.fleet import DerFleet
from solvers.opf.lindistflow import LinDistFlow
from solvers.opf.linearized_ac import LinearizedAc
from solvers.opf.lp import (
    HighsModel,
    InfeasibleError,
    LinearProgram,
    LpSolution,
    LpSolver,
    carry_basis,
    starting_basis,
)
from solvers.opf.network import FormulationError, branch_ratings, radial_network
from solvers.opf.problem import (
    DispatchLimits,
    Objective,
    ProblemIndex,
    constraint_der_apparent_power,
    constraint_der_power_factor,
    constraint_der_ramp,
    constraint_flexible_energy_neutral,
    constraint_hosting_capacity,
    constraint_shared_curtailment,
    constraint_storage_energy,
    energy_value_per_mwh,
    feeder_head_terms,
    objective_cost,
    objective_curtailment,
    objective_losses,
    objective_peak,
    objective_track,
    variable_der_power,
    variable_storage,
)
from solvers.opf.pyomo_backend import PyomoHighsModel
from solvers.opf.sensitivity_ac import SensitivityAc
from solvers.powerflow import PowerFlowError
from solvers.timeseries import TimeSeriesResult, run_timeseries
from solvers.violations import Violation

FORMULATIONS = ("lindistflow", "linearized-ac", "linearized-ac-full")
#: the AC correction loop has converged when no DER set-point moves more than this [MW]
P_TOLERANCE_MW = 1e-4
#: ... or when the objective changes by no more than this share (at least 1 kWh) [-]
OBJECTIVE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class DispatchRequest:
    """What to dispatch and under which limits.

    Attributes
    ----------
    fleet : DerFleet
        The DERs, their ranges and availability per period.
    forecast : FeederProfiles
        Load (and non-DER generation) set-points per period, one step per period.
    limits : DispatchLimits
    objective : Objective
    dt_h : float
        Period length [h].
    formulation : str
        ``"lindistflow"`` (radial), ``"linearized-ac"`` (linear AC sensitivities from the
        power-flow Jacobian, only the limits near binding written; radial or meshed) or
        ``"linearized-ac-full"`` (the same model with every bus state and every limit).
    backend : str
        ``"highspy"`` (the LP passed to HiGHS in one call) or ``"pyomo"`` (a Pyomo model
        through Pyomo's persistent HiGHS interface).
    max_iterations : int
        Cap on solve/verify rounds.
    vm_tolerance_pu, loading_tolerance_percent : float
        AC violations up to these are accepted.
    """

    fleet: DerFleet
    forecast: FeederProfiles
    limits: DispatchLimits
    objective: Objective
    dt_h: float
    formulation: str = "lindistflow"
    max_iterations: int = 6
    backend: str = "highspy"
    vm_tolerance_pu: float = 1e-3
    loading_tolerance_percent: float = 0.5


@dataclass(frozen=True)
class DispatchResult:
    """Schedule, AC verification and diagnosis of one dispatch.

    ``status`` is ``"optimal"`` (schedule found; see ``ac_feasible``) or ``"infeasible"``
    (no schedule; see ``diagnosis``).
    """

    status: Literal["optimal", "infeasible"]
    formulation: str
    schedule: pd.DataFrame  # der_id, period, p_mw, q_mvar, p_available_mw, curtailed_mw, mode
    storage_energy_mwh: pd.DataFrame  # period x storage der_id
    network: pd.DataFrame  # per period: AC min/max vm_pu, max loading, head, losses
    ac_feasible: bool
    ac_violations: tuple[Violation, ...]
    iterations: int
    objective_value: float
    curtailed_mwh: float
    build_s: float
    solve_s: float
    verify_s: float
    total_s: float
    diagnosis: tuple[LimitRelaxation, ...] = field(default=())
    #: what the caller should know about the inputs and the answer (defaults applied,
    #: night-time PV, a fall-back formulation)
    notes: tuple[str, ...] = field(default=())
    #: the caller's description of the forecast the request was built from
    forecast: Mapping[str, object] | None = None

    def summary(self) -> dict[str, object]:
        """JSON-ready summary."""
        net = self.network
        return {
            "status": self.status,
            "formulation": self.formulation,
            "notes": list(self.notes),
            "forecast": dict(self.forecast) if self.forecast is not None else None,
            "ac_feasible": self.ac_feasible,
            "iterations": self.iterations,
            "objective_value": self.objective_value,
            "curtailed_mwh": self.curtailed_mwh,
            "min_vm_pu": float(net.min_vm_pu.min()) if len(net) else None,
            "max_vm_pu": float(net.max_vm_pu.max()) if len(net) else None,
            "max_loading_percent": float(net.max_loading_percent.max()) if len(net) else None,
            "ac_violations": [v.to_dict() for v in self.ac_violations],
            "diagnosis": [d.to_dict() for d in self.diagnosis],
            "times_s": {
                "build": self.build_s,
                "solve": self.solve_s,
                "verify": self.verify_s,
                "total": self.total_s,
            },
        }


def _der_profiles(request: DispatchRequest, p_mw: np.ndarray, q_mvar: np.ndarray) -> FeederProfiles:
    """The forecast with every DER element set to ``p_mw``/``q_mvar`` (DER x period)."""
    values = {key: frame.copy() for key, frame in request.forecast.values.items()}
    n_t = request.fleet.n_periods
    for table in ("sgen", "storage", "load"):
        positions = [i for i, (t, _) in enumerate(request.fleet.element) if t == table]
        if not positions:
            continue
        ids = [request.fleet.element[i][1] for i in positions]
        sign = 1.0 if table == "sgen" else -1.0  # storage (charging) and load: consumption +
        for column, data in (("p_mw", p_mw), ("q_mvar", q_mvar)):
            ders = pd.DataFrame(sign * data[positions].T, columns=ids)
            frame = values.get((table, column), pd.DataFrame(index=range(n_t)))
            others = frame.drop(columns=[c for c in ids if c in frame.columns])
            values[(table, column)] = pd.concat([others.reset_index(drop=True), ders], axis=1)
    return FeederProfiles(
        values=values, step_minutes=request.forecast.step_minutes, start=request.forecast.start
    )


def fixed_injection_pu(model: AcModel, request: DispatchRequest) -> np.ndarray:
    """Bus injections of everything but the DERs per period [pu, complex, generation +]."""
    zero = np.zeros((request.fleet.n_der, request.fleet.n_periods))
    profiles = _der_profiles(request, zero, zero)
    delta = injection_delta(model, dict(profiles.values))
    return model.element_sbus0[np.newaxis, :] + delta


def _aggregated_limits(limits: DispatchLimits, aggregation: Aggregation) -> DispatchLimits:
    """Hosting-capacity members mapped onto the aggregates (a group never spans two buses)."""
    caps = tuple(
        replace(cap, members=np.unique(aggregation.group[np.asarray(cap.members, dtype=int)]))
        for cap in limits.hosting_capacity
    )
    return replace(limits, hosting_capacity=caps)


def uncontrolled_p_mw(fleet: DerFleet) -> np.ndarray:
    """What each DER does without dispatch [MW] (DER x period): generation at its available
    power, storage idle, flexible loads at their baseline, fixed DERs at their set-points."""
    natural = np.zeros_like(fleet.p_max_mw)
    if fleet.p_baseline_mw is not None and fleet.neutral_window is not None:
        flexible = fleet.neutral_window.any(axis=1)
        natural[flexible] = -fleet.p_baseline_mw[flexible, None]
    natural = np.clip(natural, fleet.p_min_mw, fleet.p_max_mw)
    natural = np.where(fleet.curtailable[:, None], fleet.p_available_mw, natural)
    return np.where(fleet.fixed[:, None], fleet.p_fixed_mw, natural)


def uncontrolled_q_mvar(fleet: DerFleet) -> np.ndarray:
    """Reactive power of each DER without dispatch [MVAr] (DER x period): fixed DERs at their
    set-points, the others at zero."""
    return np.where(fleet.fixed[:, None], fleet.q_fixed_mvar, 0.0)


def voltages_at(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    p_mw: np.ndarray,
    q_mvar: np.ndarray,
) -> np.ndarray | None:
    """AC bus voltages per period with the DERs at ``p_mw`` / ``q_mvar`` (a linearisation
    point), or ``None`` when that AC power flow has no solution."""
    try:
        return _verify(net, model, request, p_mw, q_mvar).model_voltages_pu
    except PowerFlowError:
        return None


def uncontrolled_voltages(
    net: pp.pandapowerNet, model: AcModel, request: DispatchRequest
) -> np.ndarray | None:
    """AC bus voltages of the uncontrolled schedule per period (a first linearisation point
    near the answer), or ``None`` when that AC power flow has no solution."""
    fleet = request.fleet
    return voltages_at(net, model, request, uncontrolled_p_mw(fleet), uncontrolled_q_mvar(fleet))


def _solver_model(lp: LinearProgram, backend: str) -> LpSolver:
    if backend == "highspy":
        return HighsModel(lp)
    if backend == "pyomo":
        return PyomoHighsModel(lp)
    raise ValueError(f"unknown LP backend '{backend}'; use 'highspy' or 'pyomo'")


def make_formulation(
    name: str,
    model: AcModel,
    branches: tuple[list[tuple[str, int]], np.ndarray],
    fixed: np.ndarray,
    der_row: np.ndarray,
    limits: DispatchLimits,
) -> Formulation:
    """The formulation called ``name`` for this feeder and request.

    ``branches`` is :func:`~solvers.opf.network.branch_ratings` of the model.
    """
    elements, ratings = branches
    if name == "lindistflow":
        network = radial_network(model, elements, ratings, limits.max_loading_percent)
        return LinDistFlow(network, model, fixed, der_row, limits)
    if name == "linearized-ac":
        return SensitivityAc(model, fixed, der_row, limits, ratings, elements)
    if name == "linearized-ac-full":
        return LinearizedAc(model, fixed, der_row, limits, ratings, elements)
    raise ValueError(f"unknown formulation '{name}'; use one of {FORMULATIONS}")


def build_problem(
    request: DispatchRequest, formulation: Formulation
) -> tuple[LinearProgram, ProblemIndex]:
    """The dispatch LP as a short list of variable, constraint and objective families."""
    fleet, dt_h = request.fleet, request.dt_h
    lp = LinearProgram()
    p, q = variable_der_power(lp, fleet, dt_h)
    storage, p_charge, p_discharge, energy = variable_storage(
        lp, fleet, p, dt_h, energy_value_per_mwh(request.objective)
    )
    head = lp.add_variables("feeder_head_mw", (fleet.n_periods,))
    index = ProblemIndex(
        p=p,
        q=q,
        head=head,
        storage=storage,
        p_charge=p_charge,
        p_discharge=p_discharge,
        energy=energy,
    )
    formulation.variable_network(lp)
    formulation.constraint_network(lp, index)
    checkpoint("building the LP")
    constraint_feeder_head_limits(lp, index, request.limits)
    constraint_der_power_factor(lp, fleet, index)
    constraint_der_apparent_power(lp, fleet, index)
    constraint_storage_energy(lp, fleet, index, dt_h)
    constraint_der_ramp(lp, fleet, index)
    constraint_hosting_capacity(lp, fleet, index, request.limits)
    constraint_flexible_energy_neutral(lp, fleet, index)
    objective = request.objective
    if objective.share_curtailment:
        constraint_shared_curtailment(lp, fleet, index)
    weights = objective.weights
    if weights.get("curtailment"):
        objective_curtailment(lp, fleet, index, weights["curtailment"], dt_h)
    if weights.get("cost") and objective.price_per_mwh is not None:
        objective_cost(lp, index, weights["cost"], dt_h, objective.price_per_mwh)
    if weights.get("track") and objective.head_target_mw is not None:
        objective_track(lp, index, weights["track"], dt_h, objective.head_target_mw)
    if weights.get("peak"):
        objective_peak(lp, index, weights["peak"])
    if weights.get("losses"):
        if not isinstance(formulation, LinearizedAc):
            raise ValueError(
                "objective 'losses' needs the 'linearized-ac' formulation: LinDistFlow has no "
                "loss model"
            )
        objective_losses(lp, fleet, index, weights["losses"], dt_h)
    return lp, index


def constraint_feeder_head_limits(
    lp: LinearProgram, index: ProblemIndex, limits: DispatchLimits
) -> None:
    """``-export_max <= head <= import_max`` per period (slacks only to diagnose)."""
    n = len(index.head)
    over_import = lp.add_variables("slack_head_import_mw", (n,), 0.0, 0.0)
    over_export = lp.add_variables("slack_head_export_mw", (n,), 0.0, 0.0)
    index.slacks.update(head_import=over_import, head_export=over_export)
    rows = np.arange(n)
    lp.add_constraints(
        "constraint_feeder_head_limits",
        (n,),
        np.concatenate([rows, rows, rows]),
        np.concatenate([index.head, over_import, over_export]),
        np.concatenate([np.ones(n), -np.ones(n), np.ones(n)]),
        -np.asarray(limits.head_export_max_mw, float),
        np.asarray(limits.head_import_max_mw, float),
    )


@dataclass
class _Attempt:
    """One formulation's solve/verify/correct loop, and what it ended with."""

    formulation: Formulation
    lp: LinearProgram
    index: ProblemIndex
    highs: LpSolver
    build_s: float = 0.0
    verify_s: float = 0.0
    iterations: int = 0
    best: tuple[LpSolution, TimeSeriesResult, float] | None = None
    last: tuple[LpSolution, TimeSeriesResult, list[Violation], float] | None = None
    infeasible: bool = False


def _ac_limits(request: DispatchRequest) -> OperatingLimits:
    limits = request.limits
    return OperatingLimits(
        limits.vm_min_pu - request.vm_tolerance_pu,
        limits.vm_max_pu + request.vm_tolerance_pu,
        limits.max_loading_percent + request.loading_tolerance_percent,
    )


def _verify(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    p_mw: np.ndarray,
    q_mvar: np.ndarray,
) -> TimeSeriesResult:
    """AC power flow of every period of a schedule (DER x period set-points)."""
    return run_timeseries(
        net,
        _der_profiles(request, p_mw, q_mvar),
        steps=request.fleet.n_periods,
        limits=_ac_limits(request),
        model=model,
    )


def minimum_injection_voltages(
    net: pp.pandapowerNet, model: AcModel, request: DispatchRequest
) -> np.ndarray | None:
    """AC bus voltages with every flexible DER at its lowest active power and no reactive
    power (another linearisation point, on the other side of an overvoltage), or ``None``
    when that power flow has no solution."""
    fleet = request.fleet
    p_mw = np.where(fleet.fixed[:, None], fleet.p_fixed_mw, fleet.p_min_mw)
    return voltages_at(net, model, request, p_mw, uncontrolled_q_mvar(fleet))


def _start_attempt(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    lp_request: DispatchRequest,
    name: str,
    branches: tuple[list[tuple[str, int]], np.ndarray],
    lp_der_row: np.ndarray,
    start_point: str,
) -> _Attempt:
    """Build formulation ``name`` linearised at ``start_point`` ("uncontrolled" or
    "minimum-injection") and its LP."""
    begin = time.perf_counter()
    formulation = make_formulation(
        name, model, branches, fixed_injection_pu(model, request), lp_der_row, request.limits
    )
    if isinstance(formulation, LinearizedAc):
        voltages = (
            uncontrolled_voltages(net, model, request)
            if start_point == "uncontrolled"
            else minimum_injection_voltages(net, model, request)
        )
        if voltages is not None:
            formulation = formulation.relinearized(voltages, keep_watched=False)
    lp, index = build_problem(lp_request, formulation)
    highs = _solver_model(lp, request.backend)
    if isinstance(highs, HighsModel):
        highs.set_basis(*starting_basis(lp))
    return _Attempt(formulation, lp, index, highs, build_s=time.perf_counter() - begin)


def _correct(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    lp_request: DispatchRequest,
    aggregation: Aggregation,
    attempt: _Attempt,
) -> _Attempt:
    """Solve, verify every period by AC power flow, correct the linear model, repeat: until
    AC-feasible and converged, the iteration cap, or an infeasible LP."""
    previous_p: np.ndarray | None = None
    previous_q: np.ndarray | None = None
    previous_objective = float("nan")
    while attempt.iterations < request.max_iterations:
        checkpoint("between AC iterations")
        attempt.iterations += 1
        try:
            solution = attempt.highs.solve()
        except InfeasibleError:
            attempt.infeasible = attempt.best is None
            break
        verify_start = time.perf_counter()
        lp = attempt.lp
        p_mw = aggregation.split(solution.values(lp.variables["der_p_mw"]))
        q_mvar = aggregation.split(solution.values(lp.variables["der_q_mvar"]))
        try:
            ac = _verify(net, model, request, p_mw, q_mvar)
        except PowerFlowError:
            # the LP stepped beyond what the network can carry (a limit its linear model
            # did not watch): step back towards the last solvable point, re-linearise there
            if not isinstance(attempt.formulation, LinearizedAc):
                raise
            reference = (
                (previous_p, previous_q)
                if previous_p is not None and previous_q is not None
                else None
            )
            attempt.formulation = attempt.formulation.relinearized(
                _solvable_point(net, model, request, p_mw, q_mvar, reference)
            )
            attempt.lp, attempt.index = build_problem(lp_request, attempt.formulation)
            run_s = attempt.highs.run_s_total
            attempt.highs = _solver_model(attempt.lp, request.backend)
            attempt.highs.run_s_total = run_s
            attempt.verify_s += time.perf_counter() - verify_start
            continue
        violations = ac.violations()
        # compare iterates by what their AC power flow achieves: each LP's own objective
        # is measured on a different linearisation (optimistic where the head is nonlinear)
        achieved = (
            solution.objective
            - feeder_head_terms(
                request.objective, solution.values(lp.variables["feeder_head_mw"]), request.dt_h
            )
            + feeder_head_terms(request.objective, ac.feeder_head_p_mw.to_numpy(), request.dt_h)
        )
        attempt.last = (solution, ac, violations, achieved)
        best = attempt.best
        if not violations and (best is None or achieved <= best[2] + 1e-9 * max(1.0, abs(best[2]))):
            attempt.best = (solution, ac, achieved)
        # converged: the set-points stand still, or the objective does (many DERs may trade
        # equal-cost moves without end)
        converged = previous_p is not None and (
            p_mw.size == 0
            or np.abs(p_mw - previous_p).max() < P_TOLERANCE_MW
            or abs(solution.objective - previous_objective)
            <= OBJECTIVE_TOLERANCE * max(1.0, abs(solution.objective))
        )
        if (not violations and converged) or attempt.iterations == request.max_iterations:
            attempt.verify_s += time.perf_counter() - verify_start
            break
        # move the linearisation to the AC point, also when feasible: the linear model is
        # conservative on overvoltage, so correcting it releases needless curtailment
        voltages = ac.model_voltages_pu
        assert voltages is not None
        formulation = attempt.formulation
        if isinstance(formulation, LinearizedAc):  # re-linearise at the AC point
            rebuild_start = time.perf_counter()
            run_s = attempt.highs.run_s_total
            attempt.formulation = formulation.relinearized(voltages)
            previous_lp, previous_highs = attempt.lp, attempt.highs
            attempt.lp, attempt.index = build_problem(lp_request, attempt.formulation)
            attempt.highs = _solver_model(attempt.lp, request.backend)
            attempt.highs.run_s_total = run_s
            if isinstance(previous_highs, HighsModel) and isinstance(attempt.highs, HighsModel):
                # the LP moved little: start from the last optimal basis
                attempt.highs.set_basis(
                    *carry_basis(previous_lp, *previous_highs.basis(), attempt.lp)
                )
            attempt.build_s += time.perf_counter() - rebuild_start
        else:  # move the offsets and update the live model in place
            formulation.apply_ac_correction(
                attempt.highs, lp, solution, voltages, ac.feeder_head_p_mw.to_numpy()
            )
        previous_p, previous_q = p_mw, q_mvar
        previous_objective = solution.objective
        attempt.verify_s += time.perf_counter() - verify_start
    return attempt


#: step halvings towards a solvable point before a diverged AC power flow is an error
MAX_STEP_HALVINGS = 6


def _solvable_point(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    p_mw: np.ndarray,
    q_mvar: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """AC voltages of the schedule halfway (then a quarter, ...) from ``p_mw``/``q_mvar``
    back to ``reference`` (default: the uncontrolled schedule), the first whose AC power flow
    solves (step halving).

    Raises
    ------
    PowerFlowError
        When no step back within :data:`MAX_STEP_HALVINGS` halvings solves.
    """
    fleet = request.fleet
    if reference is None:
        reference = (uncontrolled_p_mw(fleet), uncontrolled_q_mvar(fleet))
    share = 0.5
    for _ in range(MAX_STEP_HALVINGS):
        p = reference[0] + share * (p_mw - reference[0])
        q = reference[1] + share * (q_mvar - reference[1])
        voltages = voltages_at(net, model, request, p, q)
        if voltages is not None:
            return voltages
        share /= 2
    raise PowerFlowError(
        "the AC power flow of the dispatch has no solution, even stepped back "
        f"{MAX_STEP_HALVINGS} times towards the last solvable schedule"
    )


def _fallback_formulation(name: str) -> str:
    """The formulation to try when ``name`` finds no schedule."""
    return "linearized-ac" if name == "lindistflow" else "lindistflow"


def run_dispatch(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    should_stop: StopCheck | None = None,
) -> DispatchResult:
    """Dispatch the fleet, verify every period by AC power flow and correct until feasible.

    No formulation reports "infeasible" on its linearisation's word alone. When the LP of the
    requested formulation has no solution, the claim is checked: (1) a linearised-AC model is
    re-linearised at the minimum-injection point (every flexible DER at its lowest output)
    and solved again; (2) the other formulation is tried (LinDistFlow <-> linearized-ac);
    (3) the penalised-slack solution is run through AC power flow, and if it meets the limits
    it is the schedule. Only then is the request infeasible, and the diagnosis amounts are
    what the AC power flow of that slack solution (every DER at its most helpful setting
    under the linear model) misses by. Each step taken is named in ``notes``.

    Parameters
    ----------
    net : pandapowerNet
        The feeder, with every DER of the fleet present as an sgen or storage element.
    model : AcModel
        The compiled AC model of ``net`` (current topology).
    request : DispatchRequest
    should_stop : callable, optional
        Asked between attempts and AC iterations, during the LP build (per constraint family
        and per period) and at every HiGHS iteration: when it answers true the dispatch stops
        with :class:`~solvers.cancel.SolveCancelled` (it must be cheap: see
        :mod:`solvers.cancel`).
    """
    with stop_when(should_stop):
        return _dispatch(net, model, request)


def _dispatch(net: pp.pandapowerNet, model: AcModel, request: DispatchRequest) -> DispatchResult:
    """:func:`run_dispatch` under its stop check."""
    if request.formulation not in FORMULATIONS:
        raise ValueError(f"unknown formulation '{request.formulation}'; use {FORMULATIONS}")
    start = time.perf_counter()
    fleet = request.fleet
    if request.forecast.n_steps != fleet.n_periods:
        raise ValueError(
            f"the forecast has {request.forecast.n_steps} steps but the fleet "
            f"{fleet.n_periods} periods"
        )
    der_row = model.bus_lookup[fleet.bus]
    if (der_row < 0).any():
        bad = fleet.der_ids[int(np.flatnonzero(der_row < 0)[0])]
        raise ValueError(f"DER '{bad}' is at a bus that is out of service or de-energized")
    # the LP sees interchangeable DERs as one; the AC check and the schedule see every DER
    aggregation, lp_der_row = aggregate_fleet(fleet, der_row)
    lp_request = replace(
        request, fleet=aggregation.fleet, limits=_aggregated_limits(request.limits, aggregation)
    )
    branches = branch_ratings(model, net)
    plan = [(request.formulation, "uncontrolled")]
    if request.formulation != "lindistflow":
        plan.append((request.formulation, "minimum-injection"))
    plan.append((_fallback_formulation(request.formulation), "uncontrolled"))
    notes: list[str] = []
    attempts: list[_Attempt] = []
    for name, start_point in plan:
        checkpoint("between attempts")
        try:
            attempt = _start_attempt(
                net, model, request, lp_request, name, branches, lp_der_row, start_point
            )
        except FormulationError as exc:  # LinDistFlow on a meshed feeder
            if not attempts:
                raise
            notes.append(f"{name} cannot check the claim: {exc}")
            continue
        attempts.append(_correct(net, model, request, lp_request, aggregation, attempt))
        if not attempts[-1].infeasible:
            break
        notes.append(f"{name} (linearised at the {start_point} point) found no schedule")
    build_s = sum(a.build_s for a in attempts)
    verify_s = sum(a.verify_s for a in attempts)
    solve_s = sum(a.highs.run_s_total for a in attempts)
    iterations = sum(a.iterations for a in attempts)
    found = attempts[-1]
    if found.infeasible:
        verify_start = time.perf_counter()
        schedule, diagnosis = _check_infeasibility(
            net, model, request, lp_request, aggregation, attempts
        )
        verify_s += time.perf_counter() - verify_start
        total_s = time.perf_counter() - start
        if schedule is not None:  # the linear model was wrong: this is a schedule
            attempt, relaxed, ac = schedule
            notes.append(
                "the least-violation solution of the linear model meets every limit in AC "
                "power flow: it is the schedule (possibly not optimal)"
            )
            result = _result(
                request, attempt.formulation, attempt.lp, attempt.index, relaxed, ac, [],
                iterations, build_s, solve_s, verify_s, total_s,
                objective_value=penalty_free_objective(relaxed, attempt.lp),
                envelope_inputs=(model, branches[1]), aggregation=aggregation,
            )
            return replace(result, notes=tuple(notes))
        result = _infeasible(
            request, attempts[0].formulation, diagnosis, iterations, build_s, solve_s, verify_s,
            total_s,
        )
        return replace(result, notes=tuple(notes))
    if len(attempts) > 1:
        notes.append(
            f"the schedule is from {found.formulation.name} (linearised at the "
            f"{plan[len(attempts) - 1][1]} point), verified by AC power flow"
        )
    assert found.last is not None
    # the best AC-feasible schedule if there is one, else the last one with its violations
    if found.best is not None:
        solution, ac, achieved = found.best
        remaining: list[Violation] = []
    else:
        solution, ac, remaining, achieved = found.last
    result = _result(
        request,
        found.formulation,
        found.lp,
        found.index,
        solution,
        ac,
        remaining,
        iterations,
        build_s,
        solve_s,
        verify_s,
        time.perf_counter() - start,
        objective_value=achieved,
        envelope_inputs=(model, branches[1]),
        aggregation=aggregation,
    )
    return replace(result, notes=tuple(notes))


def _check_infeasibility(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    lp_request: DispatchRequest,
    aggregation: Aggregation,
    attempts: list[_Attempt],
) -> tuple[tuple[_Attempt, LpSolution, TimeSeriesResult] | None, tuple[LimitRelaxation, ...]]:
    """Check an "infeasible" in AC: the least-violation (penalised-slack) solution of every
    attempt's linear model, and the minimum-injection point, each run through AC power flow.
    One that meets the limits is returned as the schedule; otherwise the diagnosis of the one
    closest to the limits (least total AC excess), in AC amounts."""
    candidates: list[tuple[float, tuple[LimitRelaxation, ...]]] = []
    for attempt in attempts:
        checkpoint("checking the infeasibility")
        linear, relaxed = diagnose(
            attempt.highs, attempt.lp, attempt.index, attempt.formulation, model, lp_request.limits
        )
        if relaxed is None:
            candidates.append((float("inf"), linear))
            continue
        p_mw = aggregation.split(relaxed.values(attempt.lp.variables["der_p_mw"]))
        q_mvar = aggregation.split(relaxed.values(attempt.lp.variables["der_q_mvar"]))
        try:
            ac = _verify(net, model, request, p_mw, q_mvar)
        except PowerFlowError:
            candidates.append((float("inf"), linear))
            continue
        violations = ac.violations()
        if not violations and not linear_only_limits(linear):
            return (attempt, relaxed, ac), ()
        diagnosis = ac_diagnosis(violations, linear, request.limits)
        candidates.append((sum(r.amount for r in diagnosis if np.isfinite(r.amount)), diagnosis))
    return None, min(candidates, key=lambda c: c[0])[1]


def _schedule(request: DispatchRequest, p_mw: np.ndarray, q_mvar: np.ndarray) -> pd.DataFrame:
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


def _result(
    request: DispatchRequest,
    formulation: Formulation,
    lp: LinearProgram,
    index: ProblemIndex,
    solution: LpSolution,
    ac: TimeSeriesResult,
    violations: list[Violation],
    iterations: int,
    build_s: float,
    solve_s: float,
    verify_s: float,
    total_s: float,
    objective_value: float,
    envelope_inputs: tuple[AcModel, np.ndarray] | None = None,
    aggregation: Aggregation | None = None,
) -> DispatchResult:
    fleet = request.fleet
    p_mw = solution.values(lp.variables["der_p_mw"])
    q_mvar = solution.values(lp.variables["der_q_mvar"])
    lp_fleet = fleet
    if aggregation is not None:
        p_mw, q_mvar = aggregation.split(p_mw), aggregation.split(q_mvar)
        lp_fleet = aggregation.fleet
    schedule = _schedule(request, p_mw, q_mvar)
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
    total_s += time.perf_counter() - envelope_start  # the caller waits for the envelopes too
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
    return DispatchResult(
        status="optimal",
        formulation=formulation.name,
        schedule=schedule,
        storage_energy_mwh=energy,
        network=network,
        ac_feasible=not violations,
        ac_violations=tuple(violations),
        iterations=iterations,
        objective_value=objective_value,
        curtailed_mwh=float(schedule.curtailed_mw.sum() * request.dt_h),
        build_s=build_s,
        solve_s=solve_s,
        verify_s=verify_s,
        total_s=total_s,
    )


def _infeasible(
    request: DispatchRequest,
    formulation: Formulation,
    diagnosis: tuple[LimitRelaxation, ...],
    iterations: int,
    build_s: float,
    solve_s: float,
    verify_s: float,
    total_s: float,
) -> DispatchResult:
    empty = pd.DataFrame()
    return DispatchResult(
        status="infeasible",
        formulation=formulation.name,
        schedule=empty,
        storage_energy_mwh=empty,
        network=empty,
        ac_feasible=False,
        ac_violations=(),
        iterations=iterations,
        objective_value=float("nan"),
        curtailed_mwh=float("nan"),
        build_s=build_s,
        solve_s=solve_s,
        verify_s=verify_s,
        total_s=total_s,
        diagnosis=diagnosis,
    )
