"""Network-constrained dispatch: build -> solve (HiGHS) -> verify by AC power flow -> correct.

:func:`run_dispatch` is the pipeline: the attempts of :mod:`solvers.opf.ac_loop`, the fall-backs
between formulations, the check of an "infeasible" (:mod:`solvers.opf.diagnosis`) and the
result (:mod:`solvers.opf.results`). The LP is built once; each AC verification moves the
formulation's offsets to ``AC - linear`` at the dispatched point and the live HiGHS model is
re-solved with changed row bounds only, until the AC power flow of the schedule is within the
limits (tolerances 0.001 pu and 0.5 % loading by default) or the iteration cap is reached.

When the limits cannot all be met, the problem is re-solved with penalised slacks and the result
names every limit that must give, with element, period and amount: a diagnosis, never a success.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandapower as pp

from solvers.acmodel import AcModel
from solvers.cancel import StopCheck, checkpoint, stop_when
from solvers.limits import DispatchLimits, LimitBreach
from solvers.opf.ac_loop import Attempt, correct, start_attempt
from solvers.opf.aggregation import Aggregation, aggregate_fleet
from solvers.opf.diagnosis import check_infeasibility, penalty_free_objective
from solvers.opf.names import FORMULATIONS
from solvers.opf.network import FormulationError, branch_ratings
from solvers.opf.request import DispatchRequest, DispatchResult
from solvers.opf.results import RunTimes, infeasible_result, optimal_result


def _aggregated_limits(limits: DispatchLimits, aggregation: Aggregation) -> DispatchLimits:
    """Hosting-capacity members mapped onto the aggregates (a group never spans two buses)."""
    caps = tuple(
        replace(cap, members=np.unique(aggregation.group[np.asarray(cap.members, dtype=int)]))
        for cap in limits.hosting_capacity
    )
    return replace(limits, hosting_capacity=caps)


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
    attempts: list[Attempt] = []
    for name, start_point in plan:
        checkpoint("between attempts")
        try:
            attempt = start_attempt(
                net, model, request, lp_request, name, branches, lp_der_row, start_point
            )
        except FormulationError as exc:  # LinDistFlow on a meshed feeder
            if not attempts:
                raise
            notes.append(f"{name} cannot check the claim: {exc}")
            continue
        attempts.append(correct(net, model, request, lp_request, aggregation, attempt))
        if not attempts[-1].infeasible:
            break
        notes.append(f"{name} (linearised at the {start_point} point) found no schedule")
    times = RunTimes(
        iterations=sum(a.iterations for a in attempts),
        build_s=sum(a.build_s for a in attempts),
        solve_s=sum(a.highs.run_s_total for a in attempts),
        verify_s=sum(a.verify_s for a in attempts),
        total_s=0.0,
    )
    found = attempts[-1]
    if found.infeasible:
        verify_start = time.perf_counter()
        schedule, diagnosis = check_infeasibility(
            net, model, request, lp_request, aggregation, attempts
        )
        times["verify_s"] += time.perf_counter() - verify_start
        times["total_s"] = time.perf_counter() - start
        if schedule is None:
            result = infeasible_result(attempts[0].formulation, diagnosis, times)
            return replace(result, notes=tuple(notes))
        # the linear model was wrong: this is a schedule
        found, solution, ac = schedule
        notes.append(
            "the least-violation solution of the linear model meets every limit in AC "
            "power flow: it is the schedule (possibly not optimal)"
        )
        remaining: list[LimitBreach] = []
        achieved = penalty_free_objective(solution, found.lp)
    else:
        if len(attempts) > 1:
            notes.append(
                f"the schedule is from {found.formulation.name} (linearised at the "
                f"{plan[len(attempts) - 1][1]} point), verified by AC power flow"
            )
        assert found.last is not None
        # the best AC-feasible schedule if there is one, else the last one with its violations
        if found.best is not None:
            solution, ac, achieved = found.best
            remaining = []
        else:
            solution, ac, remaining, achieved = found.last
        times["total_s"] = time.perf_counter() - start
    result = optimal_result(
        request,
        (found.formulation, found.lp, found.index),
        solution,
        ac,
        remaining,
        times,
        objective_value=achieved,
        envelope_inputs=(model, branches[1]),
        aggregation=aggregation,
    )
    return replace(result, notes=tuple(notes))
