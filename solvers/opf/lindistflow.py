"""Linearised branch flow (LinDistFlow) for radial feeders, transformers included.

Per branch ``k`` from ``i`` (upstream) to ``j`` and period ``t``, in per unit:

* power balance:  ``P[k] - sum(P[children of j]) + sum(p_der at j) = -p_fixed[j]`` (same for Q)
* voltage drop:   ``w[j] = w[i] - 2 (r P[k] + x Q[k])`` with ``w = |V|^2``
* voltage band:   ``vm_min^2 <= w[j] + offset <= vm_max^2``
* thermal limit:  ``P cos(a) + Q sin(a) <= s_max cos(pi/A) - offset`` on A facets
* feeder head:    ``head = base * sum(P[root branches]) - p_fixed[root] - p_der[root] + offset``

The offsets are the AC corrections: after each AC verification they become
``AC value - linear value`` at the dispatched point, so the next solve sees the AC physics
(losses, the ``r P + x Q`` approximation) exactly at that point. With zero offsets this is the
textbook LinDistFlow, which errs by up to ~0.014 pu on Baran-Wu.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvers.acmodel import AcModel
from solvers.limits import DispatchLimits
from solvers.lp.program import INF, LinearProgram, LpSolver
from solvers.opf.network import RadialNetwork
from solvers.opf.problem import BRANCH_CIRCLE_FACETS, AcPoint, ProblemIndex


@dataclass
class LinDistFlow:
    """LinDistFlow on a :class:`RadialNetwork` for ``n_periods`` periods (a
    :class:`~solvers.opf.formulation.Formulation`, corrected in place by its offsets)."""

    network: RadialNetwork
    model: AcModel
    fixed_injection_pu: np.ndarray  # periods x buses, complex, generation positive
    der_row: np.ndarray  # model row of each DER's bus
    limits: DispatchLimits

    name = "lindistflow"
    voltage_slack_squared = True
    relinearizes = False
    models_losses = False

    def __post_init__(self) -> None:
        n_bus = self.network.n_bus
        n_periods = self.fixed_injection_pu.shape[0]
        self.n_periods = n_periods
        self.voltage_offset = np.zeros((n_bus, n_periods))
        self.thermal_offset = np.zeros((self.network.n_branch, n_periods))
        self.head_offset = np.zeros(n_periods)
        into = np.full(n_bus, -1, dtype=np.int64)
        into[self.network.child] = np.arange(self.network.n_branch)
        self.branch_into = into
        self.is_root = np.zeros(n_bus, dtype=bool)
        self.is_root[self.network.roots] = True
        self.slack_at: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # every slack is shaped

    def describe(self) -> str:
        """One line for reports."""
        return (
            "LinDistFlow: linearised branch flow on a radial feeder (no losses), corrected in "
            "place by AC - linear offsets at each AC point"
        )

    # -- variables ---------------------------------------------------------------------------
    def variable_network(self, lp: LinearProgram) -> None:
        """Branch flows ``P``, ``Q`` [pu] and squared voltages ``w`` [pu^2]."""
        net, n_t = self.network, self.n_periods
        self.P = lp.add_variables("branch_p_pu", (net.n_branch, n_t))
        self.Q = lp.add_variables("branch_q_pu", (net.n_branch, n_t))
        w_lower = np.zeros((net.n_bus, n_t))
        w_upper = np.full((net.n_bus, n_t), INF)
        w_lower[net.roots] = w_upper[net.roots] = (net.v_root_pu**2)[:, None]
        self.w = lp.add_variables("bus_w_pu2", (net.n_bus, n_t), w_lower, w_upper)

    # -- constraints -------------------------------------------------------------------------
    def constraint_network(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """Power balance, voltage drop, voltage band, thermal limits and the feeder head."""
        self.constraint_power_balance(lp, index, "p", self.P, index.p)
        self.constraint_power_balance(lp, index, "q", self.Q, index.q)
        self.constraint_voltage_drop(lp)
        self.constraint_voltage_band(lp, index)
        self.constraint_branch_thermal_limit(lp, index)
        self.constraint_feeder_head(lp, index)

    def constraint_power_balance(
        self,
        lp: LinearProgram,
        index: ProblemIndex,
        kind: str,
        flow: np.ndarray,
        der: np.ndarray,
    ) -> None:
        """Flow into each bus equals flows out plus net consumption (one row per branch)."""
        net, n_t = self.network, self.n_periods
        shape = (net.n_branch, n_t)
        base_rows = np.arange(net.n_branch)[:, None] * n_t + np.arange(n_t)[None, :]
        # flows out of the receiving bus: branches whose parent is fed by branch k
        feeding = self.branch_into[net.parent]
        has_feeder = feeding >= 0
        out_rows = feeding[has_feeder][:, None] * n_t + np.arange(n_t)[None, :]
        # DERs at non-root buses
        der_branch = self.branch_into[self.der_row]
        at_branch = der_branch >= 0
        der_rows = der_branch[at_branch][:, None] * n_t + np.arange(n_t)[None, :]
        fixed = self.fixed_injection_pu.real if kind == "p" else self.fixed_injection_pu.imag
        rhs = -fixed[:, net.child].T  # consumption at each receiving bus
        lp.add_constraints(
            f"constraint_power_balance_{kind}",
            shape,
            np.concatenate([base_rows.ravel(), out_rows.ravel(), der_rows.ravel()]),
            np.concatenate([flow.ravel(), flow[has_feeder].ravel(), der[at_branch].ravel()]),
            np.concatenate(
                [
                    np.ones(flow.size),
                    -np.ones(out_rows.size),
                    np.full(der_rows.size, 1.0 / net.base_mva),
                ]
            ),
            rhs,
            rhs,
        )

    def constraint_voltage_drop(self, lp: LinearProgram) -> None:
        """``w[j] - w[i] + 2 r P + 2 x Q = 0`` per branch and period."""
        net, n_t = self.network, self.n_periods
        shape = (net.n_branch, n_t)
        rows = np.arange(net.n_branch * n_t)
        r = np.repeat(net.r_pu, n_t)
        x = np.repeat(net.x_pu, n_t)
        lp.add_constraints(
            "constraint_voltage_drop",
            shape,
            np.concatenate([rows, rows, rows, rows]),
            np.concatenate(
                [
                    self.w[net.child].ravel(),
                    self.w[net.parent].ravel(),
                    self.P.ravel(),
                    self.Q.ravel(),
                ]
            ),
            np.concatenate([np.ones(len(rows)), -np.ones(len(rows)), 2 * r, 2 * x]),
            0.0,
            0.0,
        )

    def _voltage_band_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lower = self.limits.vm_min_pu**2 - self.voltage_offset
        upper = self.limits.vm_max_pu**2 - self.voltage_offset
        lower[self.is_root] = -INF
        upper[self.is_root] = INF
        return lower, upper

    def constraint_voltage_band(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """``vm_min^2 <= w + s_low - s_high + offset <= vm_max^2`` (slacks only to diagnose)."""
        shape = (self.network.n_bus, self.n_periods)
        low = lp.add_variables("slack_voltage_low", shape, 0.0, 0.0)
        high = lp.add_variables("slack_voltage_high", shape, 0.0, 0.0)
        index.slacks.update(voltage_low=low, voltage_high=high)
        rows = np.arange(int(np.prod(shape)))
        lower, upper = self._voltage_band_bounds()
        lp.add_constraints(
            "constraint_voltage_band",
            shape,
            np.concatenate([rows, rows, rows]),
            np.concatenate([self.w.ravel(), low.ravel(), high.ravel()]),
            np.concatenate([np.ones(len(rows)), np.ones(len(rows)), -np.ones(len(rows))]),
            lower,
            upper,
        )

    def _thermal_upper(self) -> np.ndarray:
        limit = self.network.s_max_pu[:, None] * np.cos(np.pi / BRANCH_CIRCLE_FACETS)
        upper = np.broadcast_to(limit - self.thermal_offset, self.thermal_offset.shape)
        return np.repeat(upper[:, :, None], BRANCH_CIRCLE_FACETS, axis=2)

    def constraint_branch_thermal_limit(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """Branch apparent power inside its rating (inscribed polygon), slack to diagnose."""
        net, n_t, n_a = self.network, self.n_periods, BRANCH_CIRCLE_FACETS
        shape = (net.n_branch, n_t, n_a)
        slack = lp.add_variables("slack_thermal_pu", (net.n_branch, n_t), 0.0, 0.0)
        index.slacks["thermal"] = slack
        # facet normals half a facet off the axes: vertices at (+-S, 0) and (0, +-S)
        angles = 2 * np.pi * (np.arange(n_a) + 0.5) / n_a
        rows = np.arange(int(np.prod(shape))).reshape(shape)
        bcast = lambda a: np.broadcast_to(a[:, :, None], shape).ravel()  # noqa: E731
        lp.add_constraints(
            "constraint_branch_thermal_limit",
            shape,
            np.concatenate([rows.ravel()] * 3),
            np.concatenate([bcast(self.P), bcast(self.Q), bcast(slack)]),
            np.concatenate(
                [
                    np.broadcast_to(np.cos(angles), shape).ravel(),
                    np.broadcast_to(np.sin(angles), shape).ravel(),
                    -np.ones(rows.size),
                ]
            ),
            -INF,
            self._thermal_upper(),
        )

    def _head_rhs(self) -> np.ndarray:
        fixed_root = self.fixed_injection_pu.real[:, self.network.roots].sum(axis=1)
        return -self.network.base_mva * fixed_root + self.head_offset

    def constraint_feeder_head(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """Defines ``head`` [MW], the import from the upstream grid, per period."""
        net, n_t = self.network, self.n_periods
        root_branches = np.flatnonzero(self.is_root[net.parent])
        der_at_root = np.flatnonzero(self.is_root[self.der_row])
        rows_b = np.repeat(np.arange(n_t)[None, :], len(root_branches), axis=0)
        rows_d = np.repeat(np.arange(n_t)[None, :], len(der_at_root), axis=0)
        rhs = self._head_rhs()
        lp.add_constraints(
            "constraint_feeder_head",
            (n_t,),
            np.concatenate([np.arange(n_t), rows_b.ravel(), rows_d.ravel()]),
            np.concatenate(
                [index.head, self.P[root_branches].ravel(), index.p[der_at_root].ravel()]
            ),
            np.concatenate(
                [np.ones(n_t), np.full(rows_b.size, -net.base_mva), np.ones(rows_d.size)]
            ),
            rhs,
            rhs,
        )

    # -- AC correction -----------------------------------------------------------------------
    @property
    def branch_element(self) -> list[tuple[str, int]]:
        """``(table, id)`` of each branch, for the diagnosis."""
        return self.network.element

    def linearized_at(self, voltages: np.ndarray, *, keep_watched: bool = True) -> LinDistFlow:
        """The same model: LinDistFlow is linearised at the flat start and moves its offsets
        instead (see :meth:`corrected`)."""
        return self

    def corrected(self, live: LpSolver, point: AcPoint) -> LinDistFlow:
        """Offsets := AC - linear at the dispatched point; update the live model's bounds."""
        lp, solution, voltages = point.lp, point.solution, point.voltages
        rows = self.model.bus_rows
        w = solution.values(lp.variables["bus_w_pu2"])
        flow = np.hypot(
            solution.values(lp.variables["branch_p_pu"]),
            solution.values(lp.variables["branch_q_pu"]),
        )
        self.voltage_offset[rows] = np.abs(voltages[:, rows]).T ** 2 - w[rows]
        self.thermal_offset = branch_current_pu(self.model, self.network.members, voltages) - flow
        self.head_offset += point.head_ac_mw - solution.values(lp.variables["feeder_head_mw"])
        lower, upper = self._voltage_band_bounds()
        live.set_row_bounds(lp.rows["constraint_voltage_band"].index(), lower, upper)
        live.set_row_bounds(
            lp.rows["constraint_branch_thermal_limit"].index(), -INF, self._thermal_upper()
        )
        rhs = self._head_rhs()
        live.set_row_bounds(lp.rows["constraint_feeder_head"].index(), rhs, rhs)
        return self


def branch_current_pu(
    model: AcModel, members: list[np.ndarray], voltages: np.ndarray
) -> np.ndarray:
    """Per (merged) branch and period: the larger end current summed over parallels [pu]."""
    rows = np.concatenate(members)
    owner = np.repeat(np.arange(len(members)), [len(m) for m in members])
    columns = np.ascontiguousarray(voltages.T)
    current = np.maximum(np.abs(model.yf[rows] @ columns), np.abs(model.yt[rows] @ columns))
    total = np.zeros((len(members), voltages.shape[0]))
    np.add.at(total, owner, current)
    return total
