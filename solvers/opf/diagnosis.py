"""The diagnosis of a dispatch that cannot meet its limits: which limit must give, where, in
which period and by how much.

:func:`diagnose` re-solves the LP with penalised slacks (the linear model's answer);
:func:`ac_diagnosis` restates it in AC terms from the AC power flow of the least-violation
schedule (what a dispatcher can act on); :func:`check_infeasibility` runs both for every
attempt of a dispatch and keeps a slack solution that meets the limits in AC as the schedule.
Each limit that must give is a :class:`~solvers.limits.LimitBreach` of source ``"diagnosis"``.
"""

from __future__ import annotations

import numpy as np
import pandapower as pp

from solvers.acmodel import AcModel
from solvers.cancel import checkpoint
from solvers.limits import DispatchLimits, LimitBreach
from solvers.lp.program import INF, InfeasibleError, LinearProgram, LpSolution, LpSolver
from solvers.opf.ac_loop import Attempt
from solvers.opf.ac_points import verify_schedule
from solvers.opf.aggregation import Aggregation
from solvers.opf.formulation import Formulation
from solvers.opf.problem import SLACK_PENALTY, ProblemIndex
from solvers.opf.request import DispatchRequest
from solvers.powerflow import PowerFlowError
from solvers.timeseries import TimeSeriesResult


def relaxation(
    limit: str, element: str, element_id: int, period: int, amount: float, unit: str
) -> LimitBreach:
    """A limit that must give by ``amount`` [unit] in ``period`` for the request to be
    feasible."""
    return LimitBreach(
        limit, element, element_id, unit, period=period, amount=amount, source="diagnosis"
    )


def penalty_free_objective(solution: LpSolution, lp: LinearProgram) -> float:
    """The objective of a slack solution without its slack penalties."""
    penalty = 0.0
    for family in SLACK_FAMILIES:
        if family in lp.variables:
            penalty += SLACK_PENALTY * float(solution.values(lp.variables[family]).sum())
    return solution.objective - penalty


#: the penalised slack families of a diagnosis
SLACK_FAMILIES = (
    "slack_hosting_capacity_mw",
    "slack_voltage_low",
    "slack_voltage_high",
    "slack_thermal_pu",
    "slack_head_import_mw",
    "slack_head_export_mw",
)


def _linear_only(relaxed: LimitBreach) -> bool:
    """A limit the AC power flow cannot see (hosting capacity, feeder-head exchange), or no
    relaxation at all."""
    return relaxed.limit.startswith(("hosting_capacity", "feeder_head")) or (
        relaxed.element == "request"
    )


def linear_only_limits(diagnosis: tuple[LimitBreach, ...]) -> bool:
    """Whether a diagnosis names limits the AC power flow cannot see (hosting capacity,
    feeder-head exchange, no relaxation at all)."""
    return any(_linear_only(r) for r in diagnosis)


def ac_diagnosis(
    violations: list[LimitBreach], linear: tuple[LimitBreach, ...], limits: DispatchLimits
) -> tuple[LimitBreach, ...]:
    """The diagnosis in AC terms: every limit the AC power flow of the least-violation
    schedule misses, by how much beyond the limit itself (largest first; voltages [pu],
    loading [%]); limits only the linear model sees (hosting capacity, feeder-head exchange)
    are kept with their linear amounts."""
    found = []
    for v in violations:
        if v.limit == "voltage_max":
            amount = v.value - limits.vm_max_pu
        elif v.limit == "voltage_min":
            amount = limits.vm_min_pu - v.value
        else:
            amount = v.value - limits.max_loading_percent
        step = -1 if v.period is None else int(v.period)
        found.append(relaxation(v.limit, v.element, int(v.element_id), step, amount, v.unit))
    kept = [r for r in linear if _linear_only(r)]
    return tuple(sorted([*found, *kept], key=lambda r: -r.amount))


def diagnose(
    highs: LpSolver,
    lp: LinearProgram,
    index: ProblemIndex,
    formulation: Formulation,
    model: AcModel,
    limits: DispatchLimits,
) -> tuple[tuple[LimitBreach, ...], LpSolution | None]:
    """Re-solve with penalised slacks and list every limit that must give, and by how much
    (in the linear model's terms); also the slack solution (None when there is none)."""
    for family in (
        *(["slack_hosting_capacity_mw"] if "slack_hosting_capacity_mw" in lp.variables else []),
        "slack_voltage_low",
        "slack_voltage_high",
        "slack_thermal_pu",
        "slack_head_import_mw",
        "slack_head_export_mw",
    ):
        columns = lp.variables[family].index()
        highs.set_col_bounds(columns, 0.0, INF)
        highs.set_costs(columns, SLACK_PENALTY)
    try:
        relaxed = highs.solve()
    except InfeasibleError as exc:
        return (
            relaxation(
                f"no relaxation found ({exc.status}): check DER bounds and storage targets",
                "request",
                -1,
                -1,
                float("nan"),
                "",
            ),
        ), None
    found: list[LimitBreach] = []
    pp_bus = np.full(model.n_bus, -1, dtype=np.int64)
    pp_bus[model.bus_rows] = model.bus_ids
    vm_limits = {"voltage_min": limits.vm_min_pu, "voltage_max": limits.vm_max_pu}
    for family, limit in (
        ("slack_voltage_low", "voltage_min"),
        ("slack_voltage_high", "voltage_max"),
    ):
        rows, periods, amounts = _slack_entries(relaxed, lp, formulation, family)
        for row, period, amount in zip(rows, periods, amounts, strict=True):
            if formulation.voltage_slack_squared:  # a slack on |V|^2: d(v^2) -> dv
                amount /= 2 * vm_limits[limit]
            found.append(
                relaxation(limit, "bus", int(pp_bus[row]), int(period), float(amount), "pu")
            )
    rows, periods, amounts = _slack_entries(relaxed, lp, formulation, "slack_thermal_pu")
    for branch, period, amount in zip(rows, periods, amounts, strict=True):
        table, element_id = formulation.branch_element[branch]
        found.append(
            relaxation(
                "thermal", table, element_id, int(period), float(amount * model.base_mva), "MVA"
            )
        )
    if "slack_hosting_capacity_mw" in lp.variables:
        values = relaxed.values(lp.variables["slack_hosting_capacity_mw"])
        for position, period in zip(*np.nonzero(values > 1e-7), strict=True):
            cap = limits.hosting_capacity[position]
            found.append(
                relaxation(
                    f"hosting_capacity ({cap.name})",
                    "der_group",
                    int(position),
                    int(period),
                    float(values[position, period]),
                    "MW",
                )
            )
    for family, limit in (
        ("slack_head_import_mw", "feeder_head_import"),
        ("slack_head_export_mw", "feeder_head_export"),
    ):
        values = relaxed.values(lp.variables[family])
        for period in np.flatnonzero(values > 1e-7):
            found.append(
                relaxation(limit, "feeder_head", -1, int(period), float(values[period]), "MW")
            )
    return tuple(sorted(found, key=lambda r: -r.amount)), relaxed


def _slack_entries(
    relaxed: LpSolution, lp: LinearProgram, formulation: Formulation, family: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(element row, period, amount) of the nonzero entries of a limit-slack family: shaped
    element x period, or listed with their (row, period) in the formulation's ``slack_at``."""
    values = relaxed.values(lp.variables[family])
    if values.ndim == 2:
        rows, periods = np.nonzero(values > 1e-7)
        return rows, periods, values[rows, periods]
    at_rows, at_periods = formulation.slack_at[family]
    hit = np.flatnonzero(values > 1e-7)
    return at_rows[hit], at_periods[hit], values[hit]


def check_infeasibility(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    lp_request: DispatchRequest,
    aggregation: Aggregation,
    attempts: list[Attempt],
) -> tuple[tuple[Attempt, LpSolution, TimeSeriesResult] | None, tuple[LimitBreach, ...]]:
    """Check an "infeasible" in AC: the least-violation (penalised-slack) solution of every
    attempt's linear model, and the minimum-injection point, each run through AC power flow.
    One that meets the limits is returned as the schedule; otherwise the diagnosis of the one
    closest to the limits (least total AC excess), in AC amounts."""
    candidates: list[tuple[float, tuple[LimitBreach, ...]]] = []
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
            ac = verify_schedule(net, model, request, p_mw, q_mvar)
        except PowerFlowError:
            candidates.append((float("inf"), linear))
            continue
        violations = ac.violations()
        if not violations and not linear_only_limits(linear):
            return (attempt, relaxed, ac), ()
        diagnosis = ac_diagnosis(violations, linear, request.limits)
        candidates.append((sum(r.amount for r in diagnosis if np.isfinite(r.amount)), diagnosis))
    return None, min(candidates, key=lambda c: c[0])[1]
