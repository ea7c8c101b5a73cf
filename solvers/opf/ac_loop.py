"""The AC verification loop of one formulation: solve the LP, verify the schedule by AC power
flow, correct the formulation at the AC point, repeat.

Each :class:`Attempt` is one formulation linearised at one starting point. The loop ends when
the schedule is AC-feasible and converged (the set-points or the objective stand still), at
the iteration cap, or when the LP has no solution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandapower as pp

from solvers.acmodel import AcModel
from solvers.cancel import checkpoint
from solvers.limits import LimitBreach
from solvers.lp.backends import lp_solver, start_cold, start_from
from solvers.lp.program import InfeasibleError, LinearProgram, LpSolution, LpSolver
from solvers.opf.ac_points import (
    fixed_injection_pu,
    minimum_injection_voltages,
    solvable_point,
    uncontrolled_voltages,
    verify_schedule,
)
from solvers.opf.aggregation import Aggregation
from solvers.opf.build import build_problem
from solvers.opf.formulation import Formulation, make_formulation
from solvers.opf.objective import feeder_head_terms
from solvers.opf.problem import AcPoint, ProblemIndex
from solvers.opf.request import DispatchRequest
from solvers.powerflow import PowerFlowError
from solvers.timeseries import TimeSeriesResult

#: the AC correction loop has converged when no DER set-point moves more than this [MW]
P_TOLERANCE_MW = 1e-4
#: ... or when the objective changes by no more than this share (at least 1 kWh) [-]
OBJECTIVE_TOLERANCE = 1e-3


@dataclass
class Attempt:
    """One formulation's solve/verify/correct loop, and what it ended with."""

    formulation: Formulation
    lp: LinearProgram
    index: ProblemIndex
    highs: LpSolver
    build_s: float = 0.0
    verify_s: float = 0.0
    iterations: int = 0
    best: tuple[LpSolution, TimeSeriesResult, float] | None = None
    last: tuple[LpSolution, TimeSeriesResult, list[LimitBreach], float] | None = None
    infeasible: bool = False


def start_attempt(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    lp_request: DispatchRequest,
    name: str,
    branches: tuple[list[tuple[str, int]], np.ndarray],
    lp_der_row: np.ndarray,
    start_point: str,
) -> Attempt:
    """Build formulation ``name`` linearised at ``start_point`` ("uncontrolled" or
    "minimum-injection") and its LP."""
    begin = time.perf_counter()
    formulation = make_formulation(
        name, model, branches, fixed_injection_pu(model, request), lp_der_row, request.limits
    )
    if formulation.relinearizes:
        voltages = (
            uncontrolled_voltages(net, model, request)
            if start_point == "uncontrolled"
            else minimum_injection_voltages(net, model, request)
        )
        if voltages is not None:
            formulation = formulation.linearized_at(voltages, keep_watched=False)
    lp, index = build_problem(lp_request, formulation)
    highs = lp_solver(lp, request.backend)
    start_cold(highs, lp)
    return Attempt(formulation, lp, index, highs, build_s=time.perf_counter() - begin)


def correct(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    lp_request: DispatchRequest,
    aggregation: Aggregation,
    attempt: Attempt,
) -> Attempt:
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
            ac = verify_schedule(net, model, request, p_mw, q_mvar)
        except PowerFlowError:
            # the LP stepped beyond what the network can carry (a limit its linear model
            # did not watch): step back towards the last solvable point, re-linearise there
            if not attempt.formulation.relinearizes:
                raise
            reference = (
                (previous_p, previous_q)
                if previous_p is not None and previous_q is not None
                else None
            )
            attempt.formulation = attempt.formulation.linearized_at(
                solvable_point(net, model, request, p_mw, q_mvar, reference)
            )
            attempt.lp, attempt.index = build_problem(lp_request, attempt.formulation)
            run_s = attempt.highs.run_s_total
            attempt.highs = lp_solver(attempt.lp, request.backend)
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
        rebuild_start = time.perf_counter()
        point = AcPoint(lp, solution, voltages, ac.feeder_head_p_mw.to_numpy())
        corrected = formulation.corrected(attempt.highs, point)
        if corrected is not formulation:  # re-linearised at the AC point: a new LP
            run_s = attempt.highs.run_s_total
            attempt.formulation = corrected
            previous_lp, previous_highs = attempt.lp, attempt.highs
            attempt.lp, attempt.index = build_problem(lp_request, attempt.formulation)
            attempt.highs = lp_solver(attempt.lp, request.backend)
            attempt.highs.run_s_total = run_s
            # the LP moved little: start from the last optimal basis
            start_from(attempt.highs, attempt.lp, previous_highs, previous_lp)
            attempt.build_s += time.perf_counter() - rebuild_start
        previous_p, previous_q = p_mw, q_mvar
        previous_objective = solution.objective
        attempt.verify_s += time.perf_counter() - verify_start
    return attempt
