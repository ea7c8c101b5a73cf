"""The dispatch problem: the index of its variable families and the network-level constraint
families shared by every formulation (feeder-head exchange, hosting capacity).

A dispatch is a short list of calls (see :func:`solvers.opf.build.build_problem`)::

    variable_der_power; variable_storage; feeder_head_mw
    formulation.variable_network; formulation.constraint_network (balance, voltage drop,
        voltage band, branch thermal limits, feeder head)
    constraint_feeder_head_limits; constraint_der_power_factor; constraint_der_apparent_power;
    constraint_storage_energy; constraint_der_ramp; constraint_hosting_capacity;
    constraint_flexible_energy_neutral; constraint_shared_curtailment
    objective_*

Each family is added once over element x period; elements a family does not apply to are
masked out of its index, never looped over. The DER families are in
:mod:`solvers.opf.der_families`, the objectives in :mod:`solvers.opf.objective`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solvers.limits import DispatchLimits
from solvers.lp.program import INF, LinearProgram, LpSolution
from solvers.opf.fleet import DerFleet

#: cost per unit of limit violation when diagnosing an infeasible request [per pu / MW / MVA]
SLACK_PENALTY = 1e4
#: facets of the branch apparent-power polygons of both formulations (inscribed)
BRANCH_CIRCLE_FACETS = 16


@dataclass
class ProblemIndex:
    """Indices of the variable families of a built problem (DER x period etc.)."""

    p: np.ndarray
    q: np.ndarray
    head: np.ndarray
    storage: np.ndarray  # positions of storage DERs in the fleet
    p_charge: np.ndarray
    p_discharge: np.ndarray
    energy: np.ndarray
    slacks: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class AcPoint:
    """An LP solution and the AC power flow of its schedule: where a formulation is corrected.

    Attributes
    ----------
    lp : LinearProgram
    solution : LpSolution
    voltages : numpy.ndarray
        AC bus voltages per period in the AC model's rows (periods x buses) [pu, complex].
    head_ac_mw : numpy.ndarray
        AC feeder-head import per period [MW].
    """

    lp: LinearProgram
    solution: LpSolution
    voltages: np.ndarray
    head_ac_mw: np.ndarray


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


def constraint_hosting_capacity(
    lp: LinearProgram, fleet: DerFleet, index: ProblemIndex, limits: DispatchLimits
) -> None:
    """``sum(p[members]) - slack <= p_max`` per hosting-capacity limit and period."""
    caps = limits.hosting_capacity
    if not caps:
        return
    n_t = fleet.n_periods
    slack = lp.add_variables("slack_hosting_capacity_mw", (len(caps), n_t), 0.0, 0.0)
    index.slacks["hosting_capacity"] = slack
    rows, cols, values = [], [], []
    for position, cap in enumerate(caps):
        members = np.asarray(cap.members, dtype=np.int64)
        cap_rows = position * n_t + np.arange(n_t)
        rows += [np.tile(cap_rows, len(members)), cap_rows]
        cols += [index.p[members].ravel(), slack[position]]
        values += [np.ones(len(members) * n_t), -np.ones(n_t)]
    upper = np.repeat([[cap.p_max_mw] for cap in caps], n_t, axis=1)
    lp.add_constraints(
        "constraint_hosting_capacity",
        (len(caps), n_t),
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(values),
        -INF,
        upper,
    )
