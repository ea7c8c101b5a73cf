"""The dispatch LP of a request and a formulation, as a short list of variable, constraint and
objective families (see :mod:`solvers.opf.problem`)."""

from __future__ import annotations

from solvers.cancel import checkpoint
from solvers.lp.program import LinearProgram
from solvers.opf.der_families import (
    constraint_der_apparent_power,
    constraint_der_power_factor,
    constraint_der_ramp,
    constraint_flexible_energy_neutral,
    constraint_shared_curtailment,
    constraint_storage_energy,
    variable_der_power,
    variable_storage,
)
from solvers.opf.formulation import Formulation
from solvers.opf.objective import (
    energy_value_per_mwh,
    objective_cost,
    objective_curtailment,
    objective_losses,
    objective_peak,
    objective_track,
)
from solvers.opf.problem import (
    ProblemIndex,
    constraint_feeder_head_limits,
    constraint_hosting_capacity,
)
from solvers.opf.request import DispatchRequest


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
    index = ProblemIndex(p, q, head, storage, p_charge, p_discharge, energy)
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
        if not formulation.models_losses:
            raise ValueError(
                "objective 'losses' needs the 'linearized-ac' formulation: LinDistFlow has no "
                "loss model"
            )
        objective_losses(lp, fleet, index, weights["losses"], dt_h)
    return lp, index
