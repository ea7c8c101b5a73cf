"""The DER variable and constraint families of a dispatch: power, reactive power, storage,
power factor, apparent power, ramps, shared curtailment and flexible-load energy.

Each family is added once over DER x period; DERs a family does not apply to are masked out of
its index, never looped over.
"""

from __future__ import annotations

import numpy as np

from solvers.lp.program import INF, LinearProgram
from solvers.opf.fleet import DerFleet
from solvers.opf.problem import ProblemIndex

#: small cost on battery throughput so that storage does not cycle without purpose [per MWh]
STORAGE_THROUGHPUT_COST = 1e-3
#: small cost on reactive power used by DERs: Q only where a limit needs it, and a unique
#: answer where otherwise any Q would do [per MVArh]
REACTIVE_USAGE_COST = 1e-4
#: facets of the apparent-power circle polygons (inscribed: never exceeds a rating)
DER_CIRCLE_FACETS = 16


def _power_factor_limited(fleet: DerFleet) -> np.ndarray:
    """DERs under a power-factor limit: those that only generate or only consume, not
    storage, not fixed, with a finite ``tan_phi_max`` (an infinite one: the DER's Q range is
    a declared box, see :class:`~solvers.opf.fleet.DerFleet`; see
    :func:`constraint_der_power_factor`)."""
    generating = fleet.p_min_mw.min(axis=1) >= 0.0
    consuming = fleet.p_max_mw.max(axis=1) <= 0.0
    return (
        (generating | consuming)
        & ~fleet.is_storage
        & ~fleet.fixed
        & np.isfinite(fleet.tan_phi_max)
    )


def _p_bounds(fleet: DerFleet) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``p`` per DER and period [MW]; fixed DERs at their set-points."""
    fixed = fleet.fixed[:, None]
    return (
        np.where(fixed, fleet.p_fixed_mw, fleet.p_min_mw),
        np.where(fixed, fleet.p_fixed_mw, fleet.p_max_mw),
    )


def variable_der_power(
    lp: LinearProgram, fleet: DerFleet, dt_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """``p`` [MW] and ``q`` [MVAr] per DER and period; fixed DERs pinned to their set-points.

    ``q = q_inject - q_absorb`` with both parts >= 0 and a small cost
    (:data:`REACTIVE_USAGE_COST`): DERs use reactive power only where a limit needs it, and a
    crash basis starts every DER at ``q = 0`` (on 10,000 DERs, 193 simplex pivots instead of
    1,521 from a start at a Q bound). Where ``p`` is pinned in a period (a PV system at night),
    its power-factor limit becomes a bound on ``q``, and a ``q`` pinned that way needs no
    split: those rows are masked out.
    """
    shape = (fleet.n_der, fleet.n_periods)
    p_lower, p_upper = _p_bounds(fleet)
    q_lower = np.where(fleet.fixed[:, None], fleet.q_fixed_mvar, fleet.q_min_mvar[:, None])
    q_upper = np.where(fleet.fixed[:, None], fleet.q_fixed_mvar, fleet.q_max_mvar[:, None])
    q_lower, q_upper = np.broadcast_to(q_lower, shape), np.broadcast_to(q_upper, shape)
    pinned = (p_lower == p_upper) & _power_factor_limited(fleet)[:, None]
    tan = np.where(np.isfinite(fleet.tan_phi_max), fleet.tan_phi_max, 0.0)
    reach = tan[:, None] * np.abs(p_lower)
    q_lower = np.where(pinned, np.maximum(q_lower, -reach), q_lower)
    q_upper = np.where(pinned, np.minimum(q_upper, reach), q_upper)
    q_pinned = q_lower == q_upper
    p = lp.add_variables("der_p_mw", shape, p_lower, p_upper)
    q = lp.add_variables(
        "der_q_mvar", shape, np.where(q_pinned, q_lower, -INF), np.where(q_pinned, q_upper, INF)
    )
    cost = REACTIVE_USAGE_COST * dt_h
    inject = lp.add_variables(
        "der_q_inject_mvar",
        shape,
        np.where(q_pinned, 0.0, np.maximum(q_lower, 0.0)),
        np.where(q_pinned, 0.0, np.maximum(q_upper, 0.0)),
        cost,
    )
    absorb = lp.add_variables(
        "der_q_absorb_mvar",
        shape,
        np.where(q_pinned, 0.0, np.maximum(-q_upper, 0.0)),
        np.where(q_pinned, 0.0, np.maximum(-q_lower, 0.0)),
        cost,
    )
    free = np.flatnonzero(~q_pinned.ravel())
    rows = np.arange(len(free))
    lp.add_constraints(
        "constraint_der_q_split",
        (len(free),),
        np.concatenate([rows, rows, rows]),
        np.concatenate([q.ravel()[free], inject.ravel()[free], absorb.ravel()[free]]),
        np.concatenate([np.ones(len(free)), -np.ones(len(free)), np.ones(len(free))]),
        0.0,
        0.0,
    )
    return p, q


def storage_throughput_cost(
    fleet: DerFleet, storage: np.ndarray, value_per_mwh: float
) -> np.ndarray:
    """Cost per MWh of charge and of discharge of each storage DER [per MWh].

    An LP may charge and discharge a battery in the same period: with losses that burns
    energy, which pays when the battery is full and energy has a value (curtailment avoided).
    Cycling ``x`` MW for an hour burns ``x (1/eta_d - eta_c)`` MWh for ``2 x`` MWh of
    throughput, so a throughput cost above ``value (1/eta_d - eta_c) / 2`` makes it a loss:
    we charge 0.6 x that (a 20 % margin), at least :data:`STORAGE_THROUGHPUT_COST`. Lossless
    storage cannot burn energy and keeps the small cost.
    """
    eta_c = fleet.charge_efficiency[storage]
    eta_d = fleet.discharge_efficiency[storage]
    burn = np.maximum(1.0 / eta_d - eta_c, 0.0)
    return np.maximum(STORAGE_THROUGHPUT_COST, 0.6 * value_per_mwh * burn)


def variable_storage(
    lp: LinearProgram, fleet: DerFleet, p: np.ndarray, dt_h: float, value_per_mwh: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Charge, discharge [MW] and stored energy [MWh] of storage DERs, tied to their ``p``;
    throughput priced by :func:`storage_throughput_cost` so that no period both charges and
    discharges."""
    storage = np.flatnonzero(fleet.is_storage & ~fleet.fixed)
    shape = (len(storage), fleet.n_periods)
    throughput = storage_throughput_cost(fleet, storage, value_per_mwh)[:, None] * dt_h
    charge_max = np.maximum(-fleet.p_min_mw[storage], 0.0)
    discharge_max = np.maximum(fleet.p_max_mw[storage], 0.0)
    p_charge = lp.add_variables(
        "storage_p_charge_mw", shape, 0.0, charge_max, cost=np.broadcast_to(throughput, shape)
    )
    p_discharge = lp.add_variables(
        "storage_p_discharge_mw",
        shape,
        0.0,
        discharge_max,
        cost=np.broadcast_to(throughput, shape),
    )
    e_lower = np.repeat(fleet.e_min_mwh[storage, None], fleet.n_periods, axis=1)
    e_upper = np.repeat(fleet.e_max_mwh[storage, None], fleet.n_periods, axis=1)
    if shape[1]:
        e_lower[:, -1] = np.maximum(e_lower[:, -1], fleet.e_final_min_mwh[storage])
    energy = lp.add_variables("storage_energy_mwh", shape, e_lower, e_upper)
    # p = p_discharge - p_charge
    n = p_charge.size
    rows = np.arange(n)
    lp.add_constraints(
        "constraint_storage_power",
        shape,
        np.concatenate([rows, rows, rows]),
        np.concatenate([p[storage].ravel(), p_discharge.ravel(), p_charge.ravel()]),
        np.concatenate([np.ones(n), -np.ones(n), np.ones(n)]),
        0.0,
        0.0,
    )
    return storage, p_charge, p_discharge, energy


def constraint_storage_energy(
    lp: LinearProgram, fleet: DerFleet, index: ProblemIndex, dt_h: float
) -> None:
    """``e[t] - e[t-1] - dt (eta_c p_charge - p_discharge / eta_d) = 0``, ``e[-1] = e_initial``."""
    storage = index.storage
    shape = index.energy.shape
    if not index.energy.size:
        return
    eta_c = np.repeat(fleet.charge_efficiency[storage, None], shape[1], axis=1)
    eta_d = np.repeat(fleet.discharge_efficiency[storage, None], shape[1], axis=1)
    rows = np.arange(index.energy.size).reshape(shape)
    parts_rows = [rows.ravel(), rows.ravel(), rows.ravel(), rows[:, 1:].ravel()]
    parts_cols = [
        index.energy.ravel(),
        index.p_charge.ravel(),
        index.p_discharge.ravel(),
        index.energy[:, :-1].ravel(),
    ]
    parts_vals = [
        np.ones(rows.size),
        (-dt_h * eta_c).ravel(),
        (dt_h / eta_d).ravel(),
        -np.ones(rows[:, 1:].size),
    ]
    rhs = np.zeros(shape)
    rhs[:, 0] = fleet.e_initial_mwh[storage]
    lp.add_constraints(
        "constraint_storage_energy",
        shape,
        np.concatenate(parts_rows),
        np.concatenate(parts_cols),
        np.concatenate(parts_vals),
        rhs,
        rhs,
    )


def constraint_der_power_factor(lp: LinearProgram, fleet: DerFleet, index: ProblemIndex) -> None:
    """``|q| <= tan(acos(pf_min)) * |p|`` for DERs that only generate or only consume.

    DERs whose active power changes sign (batteries, EV chargers, flexible loads that may
    also feed in) are held by their apparent-power circle only: a power-factor limit through
    ``p = 0`` would forbid reactive power exactly where it is free. Periods where ``p`` is
    pinned are masked out: :func:`variable_der_power` bounds ``q`` there.
    """
    limited = _power_factor_limited(fleet)
    p_lower, p_upper = _p_bounds(fleet)
    der, period = np.nonzero(limited[:, None] & (p_lower != p_upper))
    n = len(der)
    if not n:
        return
    generating = fleet.p_min_mw.min(axis=1) >= 0.0
    tan = np.where(generating[der], 1.0, -1.0) * fleet.tan_phi_max[der]  # |p| = sign * p
    p = index.p[der, period]
    q = index.q[der, period]
    upper_rows = np.arange(n) * 2
    lower_rows = upper_rows + 1
    lp.add_constraints(
        "constraint_der_power_factor",
        (n, 2),
        np.concatenate([upper_rows, upper_rows, lower_rows, lower_rows]),
        np.concatenate([q, p, q, p]),
        np.concatenate([np.ones(n), -tan, -np.ones(n), -tan]),
        -INF,
        0.0,
    )


def constraint_der_apparent_power(lp: LinearProgram, fleet: DerFleet, index: ProblemIndex) -> None:
    """``p cos(a) + q sin(a) <= S cos(pi / A)`` on the facets of the inscribed circle polygon.

    The family runs over (DER, facet, period), masked to the facets that can bind: a facet
    that every corner of the DER's P/Q box in that period already satisfies is implied by the
    bounds and left out, so the polygon stays exact with a few rows per DER (none at night for
    a PV system).
    """
    angles = 2 * np.pi * (np.arange(DER_CIRCLE_FACETS) + 0.5) / DER_CIRCLE_FACETS
    # facet normals half a facet off the axes: vertices at (+-S, 0) and (0, +-S)
    cos, sin = np.cos(angles), np.sin(angles)
    p_low, p_high = _p_bounds(fleet)  # DER x period
    q_low, q_high = fleet.q_min_mvar[:, None, None], fleet.q_max_mvar[:, None, None]
    # the largest reach of each facet over the box corners: DER x period x facet
    reach = np.maximum(p_low[..., None] * cos, p_high[..., None] * cos) + np.maximum(
        q_low * sin, q_high * sin
    )
    limit = fleet.s_rated_mva * np.cos(np.pi / DER_CIRCLE_FACETS)
    binding = (reach > limit[:, None, None] * (1 - 1e-12)) & ~fleet.fixed[:, None, None]
    der, period, facet = np.nonzero(binding)
    if not len(der):
        return
    rows = np.arange(len(der))
    lp.add_constraints(
        "constraint_der_apparent_power",
        (len(der),),
        np.concatenate([rows, rows]),
        np.concatenate([index.p[der, period], index.q[der, period]]),
        np.concatenate([cos[facet], sin[facet]]),
        -INF,
        limit[der],
    )


def constraint_der_ramp(lp: LinearProgram, fleet: DerFleet, index: ProblemIndex) -> None:
    """``|p[t] - p[t-1]| <= ramp`` for DERs with a ramp limit."""
    active = np.flatnonzero(np.isfinite(fleet.ramp_mw_per_period) & ~fleet.fixed)
    if not len(active) or fleet.n_periods < 2:
        return
    shape = (len(active), fleet.n_periods - 1)
    rows = np.arange(int(np.prod(shape)))
    now = index.p[active][:, 1:].ravel()
    before = index.p[active][:, :-1].ravel()
    limit = np.repeat(fleet.ramp_mw_per_period[active], shape[1]).reshape(shape)
    lp.add_constraints(
        "constraint_der_ramp",
        shape,
        np.concatenate([rows, rows]),
        np.concatenate([now, before]),
        np.concatenate([np.ones(len(rows)), -np.ones(len(rows))]),
        -limit,
        limit,
    )


def constraint_shared_curtailment(lp: LinearProgram, fleet: DerFleet, index: ProblemIndex) -> None:
    """Every curtailable DER keeps the same fraction ``1 - c[t]`` of its available power."""
    active = np.flatnonzero(fleet.curtailable & ~fleet.fixed)
    if not len(active):
        return
    share = lp.add_variables("curtailed_share", (fleet.n_periods,), 0.0, 1.0)
    shape = (len(active), fleet.n_periods)
    rows = np.arange(int(np.prod(shape)))
    available = fleet.p_available_mw[active]
    lp.add_constraints(
        "constraint_shared_curtailment",
        shape,
        np.concatenate([rows, rows]),
        np.concatenate([index.p[active].ravel(), np.tile(share, len(active))]),
        np.concatenate([np.ones(len(rows)), available.ravel()]),
        available,
        available,
    )


def constraint_flexible_energy_neutral(
    lp: LinearProgram, fleet: DerFleet, index: ProblemIndex
) -> None:
    """A flexible load's energy over its window equals its baseline energy."""
    if fleet.neutral_window is None:
        return
    flexible = np.flatnonzero(fleet.neutral_window.any(axis=1) & ~fleet.fixed)
    if not len(flexible):
        return
    window = fleet.neutral_window[flexible]
    der, period = np.nonzero(window)
    assert fleet.p_baseline_mw is not None
    target = -fleet.p_baseline_mw[flexible] * window.sum(axis=1)  # generation sign
    lp.add_constraints(
        "constraint_flexible_energy_neutral",
        (len(flexible),),
        der,
        index.p[flexible[der], period],
        np.ones(len(der)),
        target,
        target,
    )
