"""Linearised AC power flow in sensitivity form, with screened (watched) limits.

The same first-order AC model as :mod:`solvers.opf.linearized_ac`, with the network states
eliminated: per period the power-flow Jacobian ``J`` at the operating point is factorised once,
and every quantity the LP limits is written directly in the DER injections ``u`` [pu]::

    x(u) = x0 + a . J^-1 (u + m)      with  m = S_fixed - S(V0)  (the mismatch at V0)

so a bus voltage, a branch-end P or Q, or the feeder head is one row whose coefficients are a
row of ``J^-T a`` at the DER buses. Only the limits that can bind are written (constraint
generation, as in a control-room security-constrained dispatch):

* voltage band at the (bus, period) pairs within :data:`VOLTAGE_WATCH_MARGIN_PU` of a limit at
  this or an earlier linearisation point;
* thermal polygons at the (branch, period) pairs loaded to at least ``MONITOR_SHARE`` of
  their limit at this or an earlier point (branch-end P and Q as two defined variables, so the
  polygon facets stay sparse).

A limit the LP did not see and the schedule then breaks shows up in the AC check; the loop
re-linearises there and the pair is watched from then on. The LP has no network variables and
no network equations, so its size follows the DERs and the few limits near binding rather than
the number of buses times periods (on a 2,940-bus feeder over 96 periods: about a tenth of the
rows of the Jacobian form).

A watched row has a coefficient for every DER in its zone (the network behind one source). On
a large zone with many buses near a limit that is denser than the full form; the build then
writes the full form instead (:data:`DENSITY_LIMIT`), which is the same first-order model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pandapower.pypower.dSbr_dV import dSbr_dV
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from scipy import sparse
from scipy.sparse.linalg import SuperLU, splu

from solvers.cancel import each
from solvers.lp.program import INF, LinearProgram
from solvers.opf.linearized_ac import MONITOR_SHARE, LinearizedAc, end_currents
from solvers.opf.network import source_zones
from solvers.opf.problem import BRANCH_CIRCLE_FACETS, ProblemIndex

#: buses within this distance of a voltage limit get a voltage row [pu]
VOLTAGE_WATCH_MARGIN_PU = 0.005
#: the sensitivity form is used while its voltage rows have at most this many times the
#: nonzeros of the full form's network rows (beyond, the full form is sparser to solve)
DENSITY_LIMIT = 4.0
#: sensitivities smaller than this are dropped (other islands, numerical dust) [pu/pu]
SENSITIVITY_FLOOR = 1e-12


@dataclass
class SensitivityAc(LinearizedAc):
    """Linearised AC dispatch model in sensitivity form with watched limits only.

    Takes the same inputs as :class:`~solvers.opf.linearized_ac.LinearizedAc`. After
    :meth:`constraint_network`, ``slack_at`` maps each limit-slack family to the (element row,
    period) of its entries, for the diagnosis.
    """

    name = "linearized-ac"

    def describe(self) -> str:
        """One line for reports."""
        return (
            "linearised AC (sensitivity form: states eliminated, only the limits near binding "
            "written), re-linearised at each AC point"
        )

    # -- helpers -----------------------------------------------------------------------------
    def _states(self) -> tuple[np.ndarray, np.ndarray]:
        """Non-slack bus rows, and each bus row's position among them (-1 at a slack)."""
        nonslack = np.flatnonzero(~self.is_slack)
        position = np.full(self.n_bus, -1, dtype=np.int64)
        position[nonslack] = np.arange(len(nonslack))
        return nonslack, position

    def _points_vm(self) -> list[np.ndarray]:
        """|V| (buses x periods) at this and every earlier linearisation point [pu]."""
        return [self.vm0, *(np.abs(point).T for point in self.history)]

    def watched_voltages(self) -> np.ndarray:
        """(buses x periods) mask of the voltage rows to write."""
        vm = self._points_vm()
        high = np.max(vm, axis=0)
        low = np.min(vm, axis=0)
        watch = (high > self.limits.vm_max_pu - VOLTAGE_WATCH_MARGIN_PU) | (
            low < self.limits.vm_min_pu + VOLTAGE_WATCH_MARGIN_PU
        )
        watch[self.is_slack] = False
        return watch

    def watched_branches(self, limit: np.ndarray) -> np.ndarray:
        """(branches x periods) mask of the thermal polygons to write."""
        current = self.i0.max(axis=2)  # branch x period
        for point in self.history:
            for t, v in enumerate(point):
                current[:, t] = np.maximum(current[:, t], end_currents(self.model, v).max(axis=1))
        finite = np.isfinite(limit)
        return finite[:, None] & (current >= MONITOR_SHARE * np.where(finite, limit, 0)[:, None])

    def _factorised(self, t: int) -> tuple[SuperLU, np.ndarray]:
        """LU of period ``t``'s Jacobian (non-slack P and Q rows x angle and magnitude), and the
        mismatch ``m`` at its operating point [pu]."""
        nonslack, _ = self._states()
        d_vm, d_va = self.jacobians[t]
        d_va = sparse.csr_matrix(d_va)[nonslack][:, nonslack]
        d_vm = sparse.csr_matrix(d_vm)[nonslack][:, nonslack]
        jacobian = sparse.bmat(
            [[d_va.real, d_vm.real], [d_va.imag, d_vm.imag]], format="csc"
        ).astype(float)
        mismatch = self.fixed_injection_pu[t, nonslack] - self.s_calc0[nonslack, t]
        return splu(jacobian), np.concatenate([mismatch.real, mismatch.imag])

    def _der_rows(
        self, weights: np.ndarray, index: ProblemIndex, t: int, scale: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``weights.T @ u`` in the DER columns of period ``t``, as (functional, column, value).

        ``weights`` (2 n_states x k) are ``J^-T a`` of k functionals ``a``; a DER at non-slack
        bus ``b`` gets ``weights[pos[b]] / base`` on its P and ``weights[n + pos[b]] / base``
        on its Q (a DER at a slack bus moves no state).
        """
        _, position = self._states()
        n_states = int((~self.is_slack).sum())
        at = position[self.der_row]
        live = np.flatnonzero(at >= 0)
        rows, cols, values = [], [], []
        for offset, variables in ((0, index.p), (n_states, index.q)):
            block = weights[offset + at[live]] * (scale / self.base_mva)  # live DERs x k
            der, functional = np.nonzero(np.abs(block) > SENSITIVITY_FLOOR)
            rows.append(functional)
            cols.append(variables[live[der], t])
            values.append(block[der, functional])
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)

    def density(self) -> tuple[int, int]:
        """Estimated nonzeros of the voltage rows in sensitivity form, and of the network part
        of the full form (power-balance Jacobians and voltage rows), over all periods.

        A watched voltage row has a coefficient for every DER in its zone: on a large network
        behind one source with many buses near a limit, the sensitivity form is the denser.
        """
        zone = source_zones(self.model)
        lp_der_zone = zone[self.der_row]
        ders_in = np.bincount(lp_der_zone[lp_der_zone >= 0], minlength=zone.max() + 2)
        bus, _ = np.nonzero(self.watched_voltages())
        sensitivity = int(2 * ders_in[zone[bus]].sum())
        full = self.n_periods * (4 * int(sparse.csr_matrix(self.model.ybus).nnz) + 3 * self.n_bus)
        return sensitivity, full

    # -- variables ---------------------------------------------------------------------------
    def variable_network(self, lp: LinearProgram) -> None:
        """No network variables (the states are eliminated through ``J^-1``), unless the
        sensitivity rows would be denser than :data:`DENSITY_LIMIT` times the full form: then
        this build writes the full form (the same first-order model)."""
        sensitivity, full = self.density()
        self.eliminated = sensitivity <= DENSITY_LIMIT * full
        if not self.eliminated:
            super().variable_network(lp)

    # -- constraints -------------------------------------------------------------------------
    def constraint_network(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """Watched voltage rows, watched thermal polygons and the feeder head."""
        self.slack_at = {}
        if not self.eliminated:  # the full form's constraint families, not this class's
            LinearizedAc.constraint_power_balance(self, lp, index, "p")
            LinearizedAc.constraint_power_balance(self, lp, index, "q")
            LinearizedAc.constraint_voltage_band(self, lp, index)
            LinearizedAc.constraint_branch_thermal_limit(self, lp, index)
            LinearizedAc.constraint_feeder_head(self, lp, index)
            return
        self._lu = [self._factorised(t) for t in each(range(self.n_periods), "factorising")]
        self.constraint_voltage_band(lp, index)
        self.constraint_branch_thermal_limit(lp, index)
        self.constraint_feeder_head(lp, index)

    def constraint_voltage_band(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """``vm_min <= |V0| + s.(u + m) + s_low - s_high <= vm_max`` at the watched buses."""
        watch = self.watched_voltages()
        bus, period = np.nonzero(watch)
        order = np.lexsort((bus, period))  # period-major: one solve per period
        bus, period = bus[order], period[order]
        n = len(bus)
        key = period * self.n_bus + bus
        low = lp.add_variables("slack_voltage_low", (n,), 0.0, 0.0, keys=key)
        high = lp.add_variables("slack_voltage_high", (n,), 0.0, 0.0, keys=key)
        index.slacks.update(voltage_low=low, voltage_high=high)
        self.slack_at["slack_voltage_low"] = self.slack_at["slack_voltage_high"] = (bus, period)
        _, position = self._states()
        n_states = int((~self.is_slack).sum())
        parts = [
            (np.arange(n), low, np.ones(n)),
            (np.arange(n), high, -np.ones(n)),
        ]
        constant = np.zeros(n)
        for t in each(np.unique(period), "building the voltage limits"):
            entries = np.flatnonzero(period == t)
            lu, mismatch = self._lu[t]
            unit = np.zeros((2 * n_states, len(entries)))
            unit[n_states + position[bus[entries]], np.arange(len(entries))] = 1.0
            weights = lu.solve(unit, trans="T")
            constant[entries] = self.vm0[bus[entries], t] + mismatch @ weights
            k, cols, values = self._der_rows(weights, index, int(t))
            parts.append((entries[k], cols, values))
        rows, cols, values = (np.concatenate(p) for p in zip(*parts, strict=True))
        lp.add_constraints(
            "constraint_voltage_band",
            (n,),
            rows,
            cols,
            values,
            self.limits.vm_min_pu - constant,
            self.limits.vm_max_pu - constant,
            keys=key,
        )

    def constraint_branch_thermal_limit(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """Branch-end P and Q of watched (branch, period) pairs inside ``I_max |V0|``."""
        n_a = BRANCH_CIRCLE_FACETS
        limit = self.branch_rating_pu * self.limits.max_loading_percent / 100.0
        branch, period = np.nonzero(self.watched_branches(limit))
        order = np.lexsort((branch, period))
        branch, period = branch[order], period[order]
        n = len(branch)
        key = period * self.n_branch + branch
        slack = lp.add_variables("slack_thermal_pu", (n,), 0.0, 0.0, keys=key)
        index.slacks["thermal"] = slack
        self.slack_at["slack_thermal_pu"] = (branch, period)
        # branch-end P and Q [pu] as defined variables: (p/q, entry, end)
        end_key = (key[:, None] * 2 + np.arange(2)[None, :]).ravel()
        flow = lp.add_variables(
            "branch_flow_pu", (2, n, 2), keys=np.concatenate([end_key * 2, end_key * 2 + 1])
        )
        nonslack, _ = self._states()
        model = self.model
        end_bus = np.stack(
            [model.branch[:, F_BUS].real, model.branch[:, T_BUS].real], axis=1
        ).astype(np.int64)
        rows: list[np.ndarray] = [np.arange(4 * n)]
        cols: list[np.ndarray] = [flow.ravel()]
        values: list[np.ndarray] = [np.ones(4 * n)]
        rhs = np.zeros((2, n, 2))
        radius = np.zeros((n, 2))
        for t in each(np.unique(period), "building the thermal limits"):
            entries = np.flatnonzero(period == t)
            lu, mismatch = self._lu[t]
            v = self.points[t]
            df_va, df_vm, dt_va, dt_vm, s_from, s_to = dSbr_dV(model.branch, model.yf, model.yt, v)
            on = branch[entries]
            for end, (d_va, d_vm, s0) in enumerate(((df_va, df_vm, s_from), (dt_va, dt_vm, s_to))):
                d_va = sparse.csr_matrix(d_va)[on][:, nonslack]
                d_vm = sparse.csr_matrix(d_vm)[on][:, nonslack]
                radius[entries, end] = limit[on] * np.abs(v[end_bus[on, end]]) * np.cos(np.pi / n_a)
                for kind, part in enumerate((np.real, np.imag)):
                    functional = sparse.hstack([part(d_va), part(d_vm)]).T.toarray()
                    weights = lu.solve(functional, trans="T")
                    rhs[kind, entries, end] = part(s0[on]) + mismatch @ weights
                    k, c, val = self._der_rows(weights, index, int(t), scale=-1.0)
                    rows.append((kind * n + entries[k]) * 2 + end)
                    cols.append(c)
                    values.append(val)
        lp.add_constraints(
            "constraint_branch_flow_definition",
            (2, n, 2),
            np.concatenate(rows),
            np.concatenate(cols),
            np.concatenate(values),
            rhs,
            rhs,
            keys=np.concatenate([end_key * 2, end_key * 2 + 1]),
        )
        # the polygon: cos(a) P + sin(a) Q - slack <= radius on every facet, at both ends
        angles = 2 * np.pi * (np.arange(n_a) + 0.5) / n_a
        grid = np.meshgrid(np.arange(n), np.arange(2), np.arange(n_a), indexing="ij")
        entry, side, facet = (g.ravel() for g in grid)
        row = np.arange(len(entry))
        lp.add_constraints(
            "constraint_branch_thermal_limit",
            (len(entry),),
            np.concatenate([row, row, row]),
            np.concatenate([flow[0, entry, side], flow[1, entry, side], slack[entry]]),
            np.concatenate([np.cos(angles[facet]), np.sin(angles[facet]), -np.ones(len(row))]),
            -INF,
            radius[entry, side],
            keys=(key[entry] * 2 + side) * n_a + facet,
        )

    def constraint_feeder_head(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """``head = base * P_slack(u) - fixed - DERs at the slack``, ``P_slack`` in sensitivity
        form (the losses' first-order change included)."""
        n_t = self.n_periods
        nonslack, _ = self._states()
        slack = self.model.ref
        parts = [(np.arange(n_t), index.head, np.ones(n_t))]
        rhs = np.zeros(n_t)
        for t in each(range(n_t), "building the feeder head"):
            lu, mismatch = self._lu[t]
            d_vm, d_va = self.jacobians[t]
            functional = np.concatenate(
                [
                    np.asarray(sparse.csr_matrix(d_va)[slack][:, nonslack].real.sum(axis=0)),
                    np.asarray(sparse.csr_matrix(d_vm)[slack][:, nonslack].real.sum(axis=0)),
                ],
                axis=1,
            ).T
            weights = lu.solve(functional, trans="T")
            _, cols, values = self._der_rows(weights, index, t, scale=-self.base_mva)
            parts.append((np.full(len(cols), t), cols, values))
            fixed = self.fixed_injection_pu.real[t, slack].sum()
            rhs[t] = self.base_mva * (
                self.s_calc0.real[slack, t].sum() + float(mismatch @ weights[:, 0]) - fixed
            )
        at_slack = np.flatnonzero(self.is_slack[self.der_row])
        rows_d = np.repeat(np.arange(n_t)[None, :], len(at_slack), axis=0)
        parts.append((rows_d.ravel(), index.p[at_slack].ravel(), np.ones(rows_d.size)))
        rows, cols, values = (np.concatenate(p) for p in zip(*parts, strict=True))
        lp.add_constraints("constraint_feeder_head", (n_t,), rows, cols, values, rhs, rhs)
