"""Linearised AC power flow around AC operating points (the power-flow Jacobian), full form.

Formulation ``"linearized-ac-full"``: every bus state and every voltage row in the LP. The
default ``"linearized-ac"`` (:mod:`solvers.opf.sensitivity_ac`) is the same first-order model
with the states eliminated and only the limits near binding written.

Works on radial and meshed feeders alike. Per period ``t``, with ``dtheta``, ``dvm`` the change
of bus voltage angle and magnitude from that period's operating point ``V0[t]`` [rad, pu]:

* power balance: ``Re/Im(dS/dVa) dtheta + Re/Im(dS/dVm) dvm - der/base = S_fixed - S0``
  at every non-slack bus
* voltage band:  ``vm_min <= |V0| + dvm <= vm_max``
* thermal:       ``P cos(a) + Q sin(a) <= I_max |V0| cos(pi/A)`` on A facets at both branch
  ends, ``P`` and ``Q`` linearised (``dSbr/dV``), for branches loaded >= 50 % at this or an
  earlier point
* feeder head:   ``head = base * (P0 + dP)`` at the slack buses, less their fixed and DER
  injection

The model is exact to first order at its operating points. The dispatch loop starts from the AC
power flow of the uncontrolled schedule and re-linearises at the AC power flow of each schedule
(sequential linear programming), so the fixed point of the loop is an AC power flow that meets
the limits. Thermal limits act on the linearised branch P and Q rather than on ``|I|``, whose
first-order model misses reactive flow where Q passes through zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pandapower.pypower.dSbr_dV import dSbr_dV
from pandapower.pypower.dSbus_dV import dSbus_dV
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from scipy import sparse

from solvers.acmodel import AcModel
from solvers.cancel import each
from solvers.limits import DispatchLimits
from solvers.lp.program import INF, LinearProgram, LpSolver
from solvers.opf.problem import BRANCH_CIRCLE_FACETS, AcPoint, ProblemIndex

Triplets = tuple[np.ndarray, np.ndarray, np.ndarray]

#: branches loaded to at least this share of their limit get thermal rows [-]
MONITOR_SHARE = 0.5


def end_currents(model: AcModel, v: np.ndarray) -> np.ndarray:
    """``|I|`` at the from and to end of every branch at bus voltages ``v`` [pu] (branch x 2)."""
    return np.stack([np.abs(model.yf @ v), np.abs(model.yt @ v)], axis=1)


@dataclass
class LinearizedAc:
    """Jacobian-based linear AC model of all in-service branches of an :class:`AcModel`.

    ``branch_rating_pu`` is the current limit of each AC-model branch row at nominal voltage
    [pu] (``inf`` where a branch has no rating, e.g. a closed switch with impedance).
    ``operating_point`` holds the complex bus voltages per period to linearise at (periods x
    buses); the model's own base point when omitted.
    """

    model: AcModel
    fixed_injection_pu: np.ndarray  # periods x buses, complex, generation positive
    der_row: np.ndarray
    limits: DispatchLimits
    branch_rating_pu: np.ndarray
    branch_element: list[tuple[str, int]]
    operating_point: np.ndarray | None = field(default=None)
    #: earlier linearisation points (periods x buses); branches heavily loaded there stay watched
    history: tuple[np.ndarray, ...] = ()

    name = "linearized-ac-full"
    voltage_slack_squared = False
    relinearizes = True
    models_losses = True

    def __post_init__(self) -> None:
        self.slack_at: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        model = self.model
        n_t = self.fixed_injection_pu.shape[0]
        self.n_periods = n_t
        self.n_bus = model.n_bus
        self.base_mva = model.base_mva
        self.is_slack = np.zeros(self.n_bus, dtype=bool)
        self.is_slack[model.ref] = True
        points = (
            np.tile(model.v0, (n_t, 1))
            if self.operating_point is None
            else np.asarray(self.operating_point, dtype=complex)
        )
        self.vm0 = np.abs(points).T  # buses x periods
        self.s_calc0 = (points * np.conj((model.ybus @ points.T).T)).T  # buses x periods
        # (dS_dVm, dS_dVa) per period
        self.jacobians = [dSbus_dV(model.ybus, v) for v in each(points, "linearising")]
        self.points = points
        self.i0 = np.stack([end_currents(model, v) for v in points], axis=1)  # branch x t x end

    @property
    def n_branch(self) -> int:
        """Branch rows of the AC model."""
        return int(self.model.yf.shape[0])

    def describe(self) -> str:
        """One line for reports."""
        return (
            "linearised AC (full Jacobian form: every bus state and limit), re-linearised at "
            "each AC point"
        )

    def linearized_at(self, voltages: np.ndarray, *, keep_watched: bool = True) -> LinearizedAc:
        """The same model linearised at ``voltages`` (periods x buses, complex) [pu]; the
        branches watched at earlier points stay watched unless ``keep_watched`` is false."""
        history = (*self.history, self.points) if keep_watched else ()
        return type(self)(
            self.model,
            self.fixed_injection_pu,
            self.der_row,
            self.limits,
            self.branch_rating_pu,
            self.branch_element,
            voltages,
            history,
        )

    def corrected(self, live: LpSolver, point: AcPoint) -> LinearizedAc:
        """The model re-linearised at the AC point (its LP is built anew)."""
        return self.linearized_at(point.voltages)

    # -- variables ---------------------------------------------------------------------------
    def variable_network(self, lp: LinearProgram) -> None:
        """Changes of bus voltage angle [rad] and magnitude [pu]; zero at the slack buses."""
        shape = (self.n_bus, self.n_periods)
        fixed = np.broadcast_to(self.is_slack[:, None], shape)
        lower, upper = np.where(fixed, 0.0, -INF), np.where(fixed, 0.0, INF)
        self.dva = lp.add_variables("bus_dva_rad", shape, lower, upper)
        self.dvm = lp.add_variables("bus_dvm_pu", shape, lower, upper)

    # -- constraints -------------------------------------------------------------------------
    def constraint_network(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """Power balance, voltage band, branch thermal limits and the feeder head."""
        self.constraint_power_balance(lp, index, "p")
        self.constraint_power_balance(lp, index, "q")
        self.constraint_voltage_band(lp, index)
        self.constraint_branch_thermal_limit(lp, index)
        self.constraint_feeder_head(lp, index)

    def _per_period(
        self,
        matrices: list[sparse.spmatrix],
        variables: np.ndarray,
        row_of: np.ndarray,
        scale: float = 1.0,
    ) -> Triplets:
        """Triplets of ``matrices[t] @ variables[:, t]`` with rows ``row_of[r] * T + t``."""
        n_t = self.n_periods
        rows, cols, values = [], [], []
        for t, matrix in enumerate(matrices):
            coo = sparse.coo_matrix(matrix)
            rows.append(row_of[coo.row] * n_t + t)
            cols.append(variables[coo.col, t])
            values.append(scale * coo.data)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)

    def constraint_power_balance(self, lp: LinearProgram, index: ProblemIndex, kind: str) -> None:
        """Linearised injection at every non-slack bus equals the fixed plus DER injection."""
        part = np.real if kind == "p" else np.imag
        positions = np.arange(self.n_bus)
        n_t = self.n_periods
        d_va = [sparse.csr_matrix(part(j[1])) for j in self.jacobians]
        d_vm = [sparse.csr_matrix(part(j[0])) for j in self.jacobians]
        der = index.p if kind == "p" else index.q
        der_rows = self.der_row[:, None] * n_t + np.arange(n_t)[None, :]
        parts = [
            self._per_period(d_va, self.dva, positions),
            self._per_period(d_vm, self.dvm, positions),
            (der_rows.ravel(), der.ravel(), np.full(der.size, -1.0 / self.base_mva)),
        ]
        rhs = part(self.fixed_injection_pu).T - part(self.s_calc0)
        lower = np.where(self.is_slack[:, None], -INF, rhs)
        upper = np.where(self.is_slack[:, None], INF, rhs)
        rows, cols, values = (np.concatenate(p) for p in zip(*parts, strict=True))
        lp.add_constraints(
            f"constraint_power_balance_{kind}", (self.n_bus, n_t), rows, cols, values, lower, upper
        )

    def constraint_voltage_band(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """``vm_min <= |V0| + dvm + s_low - s_high <= vm_max`` (slacks only to diagnose)."""
        shape = (self.n_bus, self.n_periods)
        low = lp.add_variables("slack_voltage_low", shape, 0.0, 0.0)
        high = lp.add_variables("slack_voltage_high", shape, 0.0, 0.0)
        index.slacks.update(voltage_low=low, voltage_high=high)
        rows = np.arange(int(np.prod(shape)))
        lower = np.where(self.is_slack[:, None], -INF, self.limits.vm_min_pu - self.vm0)
        upper = np.where(self.is_slack[:, None], INF, self.limits.vm_max_pu - self.vm0)
        lp.add_constraints(
            "constraint_voltage_band",
            shape,
            np.concatenate([rows] * 3),
            np.concatenate([self.dvm.ravel(), low.ravel(), high.ravel()]),
            np.concatenate([np.ones(len(rows)), np.ones(len(rows)), -np.ones(len(rows))]),
            lower,
            upper,
        )

    def monitored_branches(self, limit: np.ndarray) -> np.ndarray:
        """Branches loaded to at least :data:`MONITOR_SHARE` of their limit at this or any
        earlier linearisation point (the AC check covers every branch and brings a branch in
        once it gets there)."""
        current = self.i0.max(axis=(1, 2))
        for point in self.history:
            for v in point:
                current = np.maximum(current, end_currents(self.model, v).max(axis=1))
        return np.flatnonzero(np.isfinite(limit) & (current >= MONITOR_SHARE * limit))

    def constraint_branch_thermal_limit(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """Branch-end apparent power inside ``I_max |V0|`` (inscribed polygon), linearised in
        P and Q: exact to first order also where Q passes through zero, unlike ``|I|``."""
        n_br, n_t, n_a = self.n_branch, self.n_periods, BRANCH_CIRCLE_FACETS
        slack = lp.add_variables("slack_thermal_pu", (n_br, n_t), 0.0, 0.0)
        index.slacks["thermal"] = slack
        limit = self.branch_rating_pu * self.limits.max_loading_percent / 100.0
        watched = self.monitored_branches(limit)
        if not len(watched):
            return
        angles = 2 * np.pi * (np.arange(n_a) + 0.5) / n_a  # vertices on the P and Q axes
        cos, sin = np.cos(angles), np.sin(angles)
        model = self.model
        branch_from = model.branch[:, F_BUS].real.astype(np.int64)
        branch_to = model.branch[:, T_BUS].real.astype(np.int64)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        values: list[np.ndarray] = []
        bounds: list[np.ndarray] = []
        keys: list[np.ndarray] = []  # (period, end, facet, branch): rows survive rebuilds
        count = 0
        n_w = len(watched)
        for t, v in each(enumerate(self.points), "building the thermal limits"):
            df_va, df_vm, dt_va, dt_vm, s_from, s_to = dSbr_dV(model.branch, model.yf, model.yt, v)
            for end, (d_va, d_vm, s0, end_bus) in enumerate(
                (
                    (df_va, df_vm, s_from, branch_from),
                    (dt_va, dt_vm, s_to, branch_to),
                )
            ):
                d_va = sparse.csr_matrix(d_va)[watched]
                d_vm = sparse.csr_matrix(d_vm)[watched]
                radius = limit[watched] * np.abs(v[end_bus[watched]]) * np.cos(np.pi / n_a)
                for facet in range(n_a):
                    for matrix, variables in ((d_va, self.dva), (d_vm, self.dvm)):
                        projected = (cos[facet] * matrix.real + sin[facet] * matrix.imag).tocoo()
                        rows.append(count + projected.row)
                        cols.append(variables[projected.col, t])
                        values.append(projected.data)
                    rows.append(count + np.arange(n_w))
                    cols.append(slack[watched, t])
                    values.append(-np.ones(n_w))
                    base = cos[facet] * s0[watched].real + sin[facet] * s0[watched].imag
                    bounds.append(radius - base)
                    keys.append(((t * 2 + end) * n_a + facet) * n_br + watched)
                    count += n_w
        lp.add_constraints(
            "constraint_branch_thermal_limit",
            (count,),
            np.concatenate(rows),
            np.concatenate(cols),
            np.concatenate(values),
            -INF,
            np.concatenate(bounds),
            keys=np.concatenate(keys),
        )

    def constraint_feeder_head(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """``head = base * (P0 + dP)`` at the slack buses, less their fixed and DER injection."""
        n_t = self.n_periods
        slack = self.model.ref
        head_row = np.zeros(self.n_bus, dtype=np.int64)  # every slack row maps to row 0
        parts: list[Triplets] = [(np.arange(n_t), index.head, np.ones(n_t))]
        for position, variables in ((1, self.dva), (0, self.dvm)):
            matrices = [sparse.csr_matrix(np.real(j[position])[slack]) for j in self.jacobians]
            rows, cols, values = self._per_period(
                matrices, variables, head_row[: len(slack)], scale=-self.base_mva
            )
            parts.append((rows, cols, values))
        at_slack = np.flatnonzero(self.is_slack[self.der_row])
        rows_d = np.repeat(np.arange(n_t)[None, :], len(at_slack), axis=0)
        parts.append((rows_d.ravel(), index.p[at_slack].ravel(), np.ones(rows_d.size)))
        rows, cols, values = (np.concatenate(p) for p in zip(*parts, strict=True))
        fixed = self.fixed_injection_pu.real[:, slack].sum(axis=1)
        rhs = self.base_mva * (self.s_calc0.real[slack].sum(axis=0) - fixed)
        lp.add_constraints("constraint_feeder_head", (n_t,), rows, cols, values, rhs, rhs)
