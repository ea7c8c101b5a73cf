"""Exact aggregation of interchangeable DERs for the LP, and the pro-rata split back.

DERs at the same bus whose feasible sets are scaled copies of each other add up to one DER with
summed parameters: same kind (generating, not storage, not fixed, same curtailable flag), same
power-factor limit, the same ratios of reactive limits and apparent-power rating to their
largest active power, and availability proportional over the horizon. For such a group the sum
of the feasible sets is exactly the aggregate's feasible set, and splitting the aggregate's
set-point in proportion to each member's size gives every member a feasible set-point with the
same total. Only the LP sees the aggregate; the AC verification and the schedule use every DER.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from solvers.opf.fleet import DerFleet

#: relative tolerance for "the same ratio"
RATIO_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Aggregation:
    """How the members of a fleet map onto the aggregated fleet.

    ``group[d]`` is the aggregate of member ``d``; ``share[d]`` its fraction of the aggregate
    (its largest active power over the group's).
    """

    fleet: DerFleet
    group: np.ndarray
    share: np.ndarray

    def split(self, aggregate: np.ndarray) -> np.ndarray:
        """Member values (DER x period) from aggregate values (aggregate x period)."""
        return aggregate[self.group] * self.share[:, None]


def aggregate_fleet(fleet: DerFleet, der_row: np.ndarray) -> tuple[Aggregation, np.ndarray]:
    """Group interchangeable DERs; returns the aggregation and the aggregates' bus rows."""
    n = fleet.n_der
    size = np.max(np.abs(np.stack([fleet.p_min_mw, fleet.p_max_mw])), axis=(0, 2))
    eligible = ~fleet.is_storage & ~fleet.fixed & (fleet.p_min_mw.min(axis=1) >= 0) & (size > 0)
    if fleet.neutral_window is not None:
        eligible &= ~fleet.neutral_window.any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = fleet.p_max_mw / size[:, None]
        keys = np.column_stack(
            [
                der_row,
                fleet.curtailable,
                fleet.tan_phi_max,
                fleet.s_rated_mva / size,
                fleet.q_min_mvar / size,
                fleet.q_max_mvar / size,
                fleet.p_min_mw.max(axis=1) > 0,
                fleet.ramp_mw_per_period / size,
                np.round(shape / RATIO_TOLERANCE) * RATIO_TOLERANCE,
            ]
        )
    group = np.arange(n)
    if eligible.any():
        rounded = np.round(keys[eligible] / RATIO_TOLERANCE) * RATIO_TOLERANCE
        _, first, inverse = np.unique(rounded, axis=0, return_index=True, return_inverse=True)
        members = np.flatnonzero(eligible)
        group[members] = members[first[inverse.ravel()]]
    leaders, group = np.unique(group, return_inverse=True)
    n_agg = len(leaders)
    total = np.zeros(n_agg)
    np.add.at(total, group, size)
    share = np.where(total[group] > 0, size / np.where(total[group] > 0, total[group], 1), 1.0)

    def summed(values: np.ndarray) -> np.ndarray:
        out = np.zeros((n_agg, *values.shape[1:]))
        np.add.at(out, group, values)
        return out

    def first_of(values: np.ndarray) -> np.ndarray:
        return values[leaders]

    aggregated = replace(
        fleet,
        der_ids=[fleet.der_ids[i] for i in leaders],
        element=[fleet.element[i] for i in leaders],
        bus=first_of(fleet.bus),
        p_min_mw=summed(fleet.p_min_mw),
        p_max_mw=summed(fleet.p_max_mw),
        p_available_mw=summed(fleet.p_available_mw),
        curtailable=first_of(fleet.curtailable),
        q_min_mvar=summed(fleet.q_min_mvar),
        q_max_mvar=summed(fleet.q_max_mvar),
        s_rated_mva=summed(fleet.s_rated_mva),
        tan_phi_max=first_of(fleet.tan_phi_max),
        is_storage=first_of(fleet.is_storage),
        e_min_mwh=first_of(fleet.e_min_mwh),
        e_max_mwh=first_of(fleet.e_max_mwh),
        e_initial_mwh=first_of(fleet.e_initial_mwh),
        e_final_min_mwh=first_of(fleet.e_final_min_mwh),
        charge_efficiency=first_of(fleet.charge_efficiency),
        discharge_efficiency=first_of(fleet.discharge_efficiency),
        ramp_mw_per_period=summed(
            np.where(np.isfinite(fleet.ramp_mw_per_period), fleet.ramp_mw_per_period, np.inf)
        ),
        fixed=first_of(fleet.fixed),
        p_fixed_mw=summed(fleet.p_fixed_mw),
        q_fixed_mvar=summed(fleet.q_fixed_mvar),
        neutral_window=None if fleet.neutral_window is None else first_of(fleet.neutral_window),
        p_baseline_mw=None if fleet.p_baseline_mw is None else summed(fleet.p_baseline_mw),
    )
    return Aggregation(aggregated, group, share), der_row[leaders]
