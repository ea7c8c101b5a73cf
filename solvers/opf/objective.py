"""The objectives a dispatch can weigh, and what a schedule achieves on them.

Each ``objective_*`` adds its costs to the LP of :func:`solvers.opf.problem.build_problem`;
:func:`feeder_head_terms` evaluates the feeder-head terms on an AC power flow's head.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solvers.lp.program import INF, LinearProgram
from solvers.opf.fleet import DerFleet
from solvers.opf.names import OBJECTIVES
from solvers.opf.problem import ProblemIndex


@dataclass(frozen=True)
class Objective:
    """Weights of the combinable objectives.

    ``curtailment`` [per MWh curtailed], ``cost`` [per currency unit of
    ``price_per_mwh * import``], ``track`` [per MWh off the feeder-head target], ``peak``
    [per MW of the highest import]. ``share_curtailment`` curtails every curtailable DER by the
    same fraction of its available power in each period.
    """

    weights: dict[str, float] = field(default_factory=lambda: {"curtailment": 1.0})
    price_per_mwh: np.ndarray | None = None
    head_target_mw: np.ndarray | None = None
    share_curtailment: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(OBJECTIVES)
        if unknown:
            raise ValueError(f"unknown objective(s) {sorted(unknown)}; choose from {OBJECTIVES}")
        if self.weights.get("cost") and self.price_per_mwh is None:
            raise ValueError("objective 'cost' needs a price series (price_per_mwh)")
        if self.weights.get("track") and self.head_target_mw is None:
            raise ValueError("objective 'track' needs a feeder-head target (head_target_mw)")


def energy_value_per_mwh(objective: Objective) -> float:
    """What the objective gains per MWh a battery could lose on purpose [per MWh]: the
    curtailment weight, plus the cost weight times the largest price, plus the tracking weight
    (the peak weight is per MW of one maximum, not per MWh, and is left out)."""
    weights = objective.weights
    value = abs(weights.get("curtailment", 0.0)) + abs(weights.get("track", 0.0))
    if weights.get("cost") and objective.price_per_mwh is not None:
        value += abs(weights["cost"]) * float(np.max(np.abs(objective.price_per_mwh)))
    return value


def objective_losses(
    lp: LinearProgram, fleet: DerFleet, index: ProblemIndex, weight: float, dt_h: float
) -> None:
    """Minimise network losses: import + DER output (the load is fixed) [MWh]."""
    _add_cost(lp, index.head, weight * dt_h)
    _add_cost(lp, index.p, weight * dt_h)


def objective_curtailment(
    lp: LinearProgram, fleet: DerFleet, index: ProblemIndex, weight: float, dt_h: float
) -> None:
    """Minimise curtailed energy ``sum (p_available - p) dt`` [MWh]."""
    _add_cost(lp, index.p[fleet.curtailable], -weight * dt_h)
    lp.objective_constant += weight * dt_h * float(fleet.p_available_mw[fleet.curtailable].sum())


def objective_cost(
    lp: LinearProgram, index: ProblemIndex, weight: float, dt_h: float, price_per_mwh: np.ndarray
) -> None:
    """Minimise the cost of the energy drawn from the upstream grid at ``price_per_mwh``."""
    _add_cost(lp, index.head, weight * dt_h * np.asarray(price_per_mwh, float))


def objective_track(
    lp: LinearProgram, index: ProblemIndex, weight: float, dt_h: float, target_mw: np.ndarray
) -> None:
    """Minimise ``sum |head - target| dt`` for the ADMS's feeder-head target."""
    n = len(index.head)
    above = lp.add_variables("track_above_mw", (n,), 0.0, INF, cost=weight * dt_h)
    below = lp.add_variables("track_below_mw", (n,), 0.0, INF, cost=weight * dt_h)
    rows = np.arange(n)
    target = np.asarray(target_mw, float)
    lp.add_constraints(
        "constraint_track_target",
        (n,),
        np.concatenate([rows, rows, rows]),
        np.concatenate([index.head, above, below]),
        np.concatenate([np.ones(n), -np.ones(n), np.ones(n)]),
        target,
        target,
    )


def objective_peak(lp: LinearProgram, index: ProblemIndex, weight: float) -> None:
    """Minimise the highest feeder-head import over the horizon."""
    n = len(index.head)
    peak = lp.add_variables("peak_import_mw", (1,), -INF, INF, cost=weight)
    rows = np.arange(n)
    lp.add_constraints(
        "constraint_peak",
        (n,),
        np.concatenate([rows, rows]),
        np.concatenate([index.head, np.repeat(peak, n)]),
        np.concatenate([np.ones(n), -np.ones(n)]),
        -INF,
        0.0,
    )


def feeder_head_terms(objective: Objective, head_mw: np.ndarray, dt_h: float) -> float:
    """The part of the objective that depends on the feeder head ``head_mw`` per period [MW].

    The LP sees the head through its linear model; the same terms evaluated on the AC power
    flow's head give the objective the schedule really achieves (cost, track, peak, losses).
    """
    weights = objective.weights
    head_mw = np.asarray(head_mw, float)
    value = 0.0
    if weights.get("cost") and objective.price_per_mwh is not None:
        value += weights["cost"] * dt_h * float(np.dot(objective.price_per_mwh, head_mw))
    if weights.get("track") and objective.head_target_mw is not None:
        off = np.abs(head_mw - np.asarray(objective.head_target_mw, float))
        value += weights["track"] * dt_h * float(off.sum())
    if weights.get("peak"):
        value += weights["peak"] * float(head_mw.max())
    if weights.get("losses"):
        value += weights["losses"] * dt_h * float(head_mw.sum())
    return value


def _add_cost(lp: LinearProgram, columns: np.ndarray, cost: float | np.ndarray) -> None:
    flat = np.asarray(columns, dtype=np.int64).ravel()
    if not len(flat):
        return
    costs = np.concatenate(lp.cost)
    np.add.at(costs, flat, np.broadcast_to(np.asarray(cost, float), np.shape(columns)).ravel())
    # rewrite the per-family cost arrays
    start = 0
    for position, part in enumerate(lp.cost):
        lp.cost[position] = costs[start : start + len(part)]
        start += len(part)
