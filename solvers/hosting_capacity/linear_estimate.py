"""Linear hosting-capacity estimate: one persistent LP per component, one solve per bus.

The power-flow equations are linearised at the operating point (the Jacobian ``dS/dVa``,
``dS/dVm`` of :func:`pandapower.pypower.dSbus_dV.dSbus_dV`; branch flows by
:func:`pandapower.pypower.dSbr_dV.dSbr_dV`, as in :mod:`solvers.opf.linearized_ac`)::

    maximise  p_k
    s.t.      Re/Im(dS/dVa) dva + Re/Im(dS/dVm) dvm = s_per_mw * p_k  (non-source buses)
              vm_min <= |V0| + dvm <= vm_max                           (column bounds)
              |Re(conj(u) S_end)|, |Im(conj(u) S_end)| <= I_max |V0_end|  (every line/trafo at
                                                                    its more loaded end)
              0 <= p_j <= 0 for every candidate j != k

The model is built once per component and operating point (:class:`~solvers.lp.program.
LinearProgram`, solved by HiGHS through :class:`~solvers.lp.highs.HighsModel`); moving to the
next bus changes only two column bounds and two costs, and HiGHS re-solves from the previous
basis. ``u`` is the direction of the branch flow at the operating point: the thermal rows are
the square around the circle ``|S| <= I_max |V|`` aligned with the flow, exact along it and
optimistic across it (at most by sqrt(2)); two rows per branch keep the LP small (a 12-facet
polygon at both ends made every re-solve ~10x slower), and the AC refinement corrects the
estimate either way.
"""

from __future__ import annotations

import numpy as np
from pandapower.pypower.dSbr_dV import dSbr_dV
from pandapower.pypower.dSbus_dV import dSbus_dV
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from scipy import sparse

from solvers.hosting_capacity.ac_check import ComponentState
from solvers.lp.highs import HighsModel
from solvers.lp.program import INF, InfeasibleError, LinearProgram


class LinearHostingModel:
    """The persistent LP of one component at one operating point.

    Parameters
    ----------
    state : ComponentState
        Component, operating point, (relaxed) limits and injection direction.
    candidate_rows : numpy.ndarray
        AC-model rows of the buses whose capacity will be asked for.
    cap_mw : float
        Upper bound of every candidate's size [MW] (keeps the LP bounded).
    """

    def __init__(self, state: ComponentState, candidate_rows: np.ndarray, cap_mw: float) -> None:
        self.state = state
        self.cap_mw = cap_mw
        model = state.model
        n = model.n_bus
        v0 = state.v0
        vm0 = np.abs(v0)
        is_ref = np.zeros(n, dtype=bool)
        is_ref[model.ref] = True
        is_pv = np.zeros(n, dtype=bool)
        is_pv[model.pv] = True
        lp = LinearProgram()
        fixed_angle = np.where(is_ref, 0.0, -INF), np.where(is_ref, 0.0, INF)
        dva = lp.add_variables("bus_dva_rad", (n,), *fixed_angle)
        held = is_ref | is_pv
        low = np.where(held, 0.0, np.minimum(state.vm_min_pu - vm0, 0.0))
        high = np.where(held, 0.0, np.maximum(state.vm_max_pu - vm0, 0.0))
        dvm = lp.add_variables("bus_dvm_pu", (n,), low, high)
        rows_unique, self.position = np.unique(candidate_rows, return_inverse=True)
        self.candidate_rows = rows_unique
        p = lp.add_variables("new_p_mw", (len(rows_unique),), 0.0, 0.0)
        self.p = p

        ds_dvm, ds_dva = dSbus_dV(model.ybus, v0)
        s = state.s_per_mw_pu
        for part, name, keep in (
            (np.real, "p", ~is_ref),
            (np.imag, "q", ~(is_ref | is_pv)),
        ):
            a = sparse.coo_matrix(part(ds_dva))
            m = sparse.coo_matrix(part(ds_dvm))
            rows = np.concatenate([a.row, m.row, rows_unique])
            cols = np.concatenate([dva[a.col], dvm[m.col], p])
            values = np.concatenate([a.data, m.data, np.full(len(p), -part(s))])
            rhs = np.where(keep, 0.0, -INF), np.where(keep, 0.0, INF)
            lp.add_constraints(f"balance_{name}", (n,), rows, cols, values, *rhs)

        if len(state.branches.rows):
            self._thermal(lp, dva, dvm)
        self.lp = lp
        self.highs = HighsModel(lp)
        self.active: int | None = None
        self.solves = 0

    def _thermal(self, lp: LinearProgram, dva: np.ndarray, dvm: np.ndarray) -> None:
        """Two rows per branch at its more loaded end: the linearised apparent power along
        and across the operating point's flow direction, each within ``+-I_max |V0|``."""
        state = self.state
        model, v0, table = state.model, state.v0, state.branches
        df_va, df_vm, dt_va, dt_vm, s_from, s_to = dSbr_dV(model.branch, model.yf, model.yt, v0)
        n_br = len(table.rows)
        limit = table.end_current_limit_pu().reshape(2, n_br)
        current = np.abs(table.end_matrix @ v0).reshape(2, n_br)
        use_to = current[1] * limit[0] > current[0] * limit[1]  # larger share of its limit
        rows = table.rows
        end_bus = np.where(
            use_to,
            model.branch[rows, T_BUS].real.astype(np.int64),
            model.branch[rows, F_BUS].real.astype(np.int64),
        )
        flow = np.where(use_to, s_to[rows], s_from[rows])
        pick = sparse.diags(use_to.astype(float))
        keep = sparse.diags((~use_to).astype(float))
        d_va = keep @ sparse.csr_matrix(df_va)[rows] + pick @ sparse.csr_matrix(dt_va)[rows]
        d_vm = keep @ sparse.csr_matrix(df_vm)[rows] + pick @ sparse.csr_matrix(dt_vm)[rows]
        radius = np.where(use_to, limit[1], limit[0]) * np.abs(v0[end_bus])
        direction = np.where(np.abs(flow) > 1e-9, flow / np.maximum(np.abs(flow), 1e-12), 1.0)
        rows_out, cols, values, lower, upper = [], [], [], [], []
        for count, axis in enumerate((direction, 1j * direction)):
            turn = sparse.diags(np.conj(axis))  # Re(conj(u) dS) = projection of dS on u
            for matrix, variables in ((d_va, dva), (d_vm, dvm)):
                projected = (turn @ matrix).real.tocoo()
                rows_out.append(count * n_br + projected.row)
                cols.append(variables[projected.col])
                values.append(projected.data)
            base = (np.conj(axis) * flow).real
            lower.append(np.minimum(-radius - base, 0.0))
            upper.append(np.maximum(radius - base, 0.0))
        lp.add_constraints(
            "branch_thermal",
            (2 * n_br,),
            np.concatenate(rows_out),
            np.concatenate(cols),
            np.concatenate(values),
            np.concatenate(lower),
            np.concatenate(upper),
        )

    def solve(self, row: int) -> float | None:
        """Linear hosting capacity at AC-model row ``row`` [MW] (``cap_mw`` where nothing
        binds; ``None`` when HiGHS reports no optimum, which ``p = 0`` rules out in exact
        arithmetic)."""
        position = int(np.searchsorted(self.candidate_rows, row))
        if position >= len(self.candidate_rows) or self.candidate_rows[position] != row:
            raise ValueError(f"model row {row} is not a candidate of this LP")
        if self.active is not None:
            self.highs.set_col_bounds(self.p[self.active : self.active + 1], 0.0, 0.0)
            self.highs.set_costs(self.p[self.active : self.active + 1], 0.0)
        index = self.p[position : position + 1]
        self.highs.set_col_bounds(index, 0.0, self.cap_mw)
        self.highs.set_costs(index, -1.0)
        self.active = position
        self.solves += 1
        try:
            solution = self.highs.solve()
        except InfeasibleError:
            return None
        return float(solution.values(self.lp.variables["new_p_mw"])[position])
