"""The diagnosis of a dispatch that cannot meet its limits: which limit must give, where, in
which period and by how much.

:func:`diagnose` re-solves the LP with penalised slacks (the linear model's answer);
:func:`ac_diagnosis` restates it in AC terms from the AC power flow of the least-violation
schedule (what a dispatcher can act on).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvers.acmodel import AcModel
from solvers.opf.lindistflow import LinDistFlow
from solvers.opf.linearized_ac import LinearizedAc
from solvers.opf.lp import INF, InfeasibleError, LinearProgram, LpSolution, LpSolver
from solvers.opf.problem import SLACK_PENALTY, DispatchLimits, ProblemIndex
from solvers.violations import Violation

#: the formulations a diagnosis reads slack positions and branch elements from
Formulation = LinDistFlow | LinearizedAc


@dataclass(frozen=True)
class LimitRelaxation:
    """One limit that must give for the request to be feasible."""

    limit: str  # voltage_min, voltage_max, thermal, feeder_head_import, feeder_head_export
    element: str
    element_id: int
    period: int
    amount: float
    unit: str

    def __str__(self) -> str:
        return (
            f"{self.limit} at {self.element} {self.element_id}, period {self.period}: "
            f"short by {self.amount:.4f} {self.unit}"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "limit": self.limit,
            "element": self.element,
            "element_id": self.element_id,
            "period": self.period,
            "amount": self.amount,
            "unit": self.unit,
        }


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


def linear_only_limits(diagnosis: tuple[LimitRelaxation, ...]) -> bool:
    """Whether a diagnosis names limits the AC power flow cannot see (hosting capacity,
    feeder-head exchange, no relaxation at all)."""
    return any(
        r.limit.startswith(("hosting_capacity", "feeder_head")) or r.element == "request"
        for r in diagnosis
    )


def ac_diagnosis(
    violations: list[Violation], linear: tuple[LimitRelaxation, ...], limits: DispatchLimits
) -> tuple[LimitRelaxation, ...]:
    """The diagnosis in AC terms: every limit the AC power flow of the least-violation
    schedule misses, by how much beyond the limit itself (largest first; voltages [pu],
    loading [%]); limits only the linear model sees (hosting capacity, feeder-head exchange)
    are kept with their linear amounts."""
    found = []
    for v in violations:
        if v.kind == "overvoltage":
            limit, amount = "voltage_max", v.value - limits.vm_max_pu
        elif v.kind == "undervoltage":
            limit, amount = "voltage_min", limits.vm_min_pu - v.value
        else:
            limit, amount = "thermal", v.value - limits.max_loading_percent
        step = -1 if v.step is None else int(v.step)
        found.append(LimitRelaxation(limit, v.element, int(v.element_id), step, amount, v.unit))
    kept = [
        r
        for r in linear
        if r.limit.startswith("hosting_capacity") or r.limit.startswith("feeder_head")
        or r.element == "request"
    ]
    return tuple(sorted([*found, *kept], key=lambda r: -r.amount))


def diagnose(
    highs: LpSolver,
    lp: LinearProgram,
    index: ProblemIndex,
    formulation: Formulation,
    model: AcModel,
    limits: DispatchLimits,
) -> tuple[tuple[LimitRelaxation, ...], LpSolution | None]:
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
            LimitRelaxation(
                f"no relaxation found ({exc.status}): check DER bounds and storage targets",
                "request",
                -1,
                -1,
                float("nan"),
                "",
            ),
        ), None
    found: list[LimitRelaxation] = []
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
                LimitRelaxation(limit, "bus", int(pp_bus[row]), int(period), float(amount), "pu")
            )
    rows, periods, amounts = _slack_entries(relaxed, lp, formulation, "slack_thermal_pu")
    for branch, period, amount in zip(rows, periods, amounts, strict=True):
        table, element_id = formulation.branch_element[branch]
        found.append(
            LimitRelaxation(
                "thermal", table, element_id, int(period), float(amount * model.base_mva), "MVA"
            )
        )
    if "slack_hosting_capacity_mw" in lp.variables:
        values = relaxed.values(lp.variables["slack_hosting_capacity_mw"])
        for position, period in zip(*np.nonzero(values > 1e-7), strict=True):
            cap = limits.hosting_capacity[position]
            found.append(
                LimitRelaxation(
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
                LimitRelaxation(limit, "feeder_head", -1, int(period), float(values[period]), "MW")
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
    at_rows, at_periods = formulation.slack_at[family]  # type: ignore[union-attr]
    hit = np.flatnonzero(values > 1e-7)
    return at_rows[hit], at_periods[hit], values[hit]
