"""AC power flow of a component at an operating point plus a new injection, and its limits.

:class:`ComponentState` holds one component at one operating point: the solved base voltages,
the limits (relaxed where the operating point already violates them, see
:mod:`solvers.hosting_capacity.relaxation`) and a Newton-Raphson (lightsim2grid, KLU, called
directly) that adds ``p_mw`` at one bus and returns the worst limit margin.

The margin is one number in *percentage points*: loading above the limit [%] for branches and
100 x the voltage outside the band [pu] for buses (0.01 pu counts like 1 % loading); it is
positive when a limit is violated. The element with the largest margin is the binding limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandapower as pp
from lightsim2grid.solver import KLUSolverSingleSlack
from scipy import sparse

from solvers.acmodel import SQRT3, AcModel, injection_delta
from solvers.hosting_capacity.components import ComponentModel
from solvers.hosting_capacity.operating_point import Mode, OperatingPoint
from solvers.hosting_capacity.relaxation import (
    RELAX_MARGIN_PERCENT,
    RELAX_MARGIN_PU,
    relax_lower,
    relax_upper,
)
from solvers.limits import LimitBreach, StudyLimits, branch_loading_limits, bus_voltage_limits
from solvers.powerflow import PowerFlowError

#: Newton-Raphson settings (pandapower's defaults)
MAX_ITERATION = 20
TOLERANCE_PU = 1e-8
#: a power-flow solution with a bus below this voltage is not an operating point [pu]
MIN_VM_PU = 0.3
#: voltage margin weight: 0.01 pu outside the band counts like 1 % overload [%/pu]
VOLTAGE_WEIGHT = 100.0


def injection_per_mw(mode: Mode, pf: float) -> complex:
    """Complex power [MVA] the new element injects per MW of its size.

    ``mode="gen"`` injects P, ``"load"`` withdraws it. ``pf`` in (0, 1] means the element
    absorbs reactive power (generation under-excited, load lagging: the usual settings);
    ``pf`` in [-1, 0) means it supplies reactive power.
    """
    if not (0.0 < abs(pf) <= 1.0) or not math.isfinite(pf):
        raise ValueError(f"power factor must be within (0, 1] or [-1, 0), got {pf}")
    tan_phi = math.tan(math.acos(abs(pf)))
    q = -tan_phi if pf > 0 else tan_phi
    return complex(1.0 if mode == "gen" else -1.0, q)


#: the outcome of a check whose power flow has no solution
NO_SOLUTION = LimitBreach("no AC solution", "", -1, "", source="hosting_capacity")


@dataclass(frozen=True)
class Check:
    """Outcome of one AC check: worst margin [percentage points], its limit, the voltages
    and the margin of every limit (voltage maxima, voltage minima, branches; ``None`` when the
    power flow has no solution)."""

    margin: float
    binding: LimitBreach
    voltages: np.ndarray | None
    margins: np.ndarray | None = None

    @property
    def feasible(self) -> bool:
        """All limits met."""
        return self.margin <= 0.0


@dataclass(frozen=True)
class BranchTable:
    """Every in-service line and transformer of a component, both ends stacked.

    ``loading_percent(V) = max over ends of |end_matrix @ V| * percent_per_pu`` reproduces
    :func:`solvers.acmodel.branch_loading_percent` (lines: current over ``max_i_ka``;
    transformers: pandapower's loading by current) in one sparse product.

    Attributes
    ----------
    kind : numpy.ndarray
        ``"line"`` or ``"trafo"`` per branch.
    element_ids : numpy.ndarray
        pandapower ids.
    rows : numpy.ndarray
        AC-model branch rows (``model.branch``, ``yf``/``yt``).
    end_matrix : scipy.sparse.csr_matrix
        ``[Yf; Yt]`` rows of the branches (2 x branches, buses) [pu].
    percent_per_pu : numpy.ndarray
        Loading [%] per pu of end current (2 x branches stacked like ``end_matrix``).
    limit_percent, model_limit_percent : numpy.ndarray
        Thermal limit [%], relaxed where the operating point exceeds the model's limit.
    """

    kind: np.ndarray
    element_ids: np.ndarray
    rows: np.ndarray
    end_matrix: sparse.csr_matrix
    percent_per_pu: np.ndarray
    limit_percent: np.ndarray
    model_limit_percent: np.ndarray

    def loading_percent(self, voltages: np.ndarray) -> np.ndarray:
        """Loading of every branch at bus voltages ``voltages`` [%]."""
        ends = np.abs(self.end_matrix @ voltages) * self.percent_per_pu
        return np.asarray(np.maximum(ends[: len(self.rows)], ends[len(self.rows) :]))

    def end_current_limit_pu(self) -> np.ndarray:
        """Current limit at each end (stacked like ``end_matrix``) [pu], relaxed limits."""
        return np.tile(self.limit_percent, 2) / self.percent_per_pu


def branch_table(model: AcModel, net: pp.pandapowerNet, limits: StudyLimits) -> BranchTable:
    """The :class:`BranchTable` of ``model`` with the study's (unrelaxed) limits."""
    kinds, ids, rows, per_pu_from, per_pu_to, limit = [], [], [], [], [], []
    for kind, b in (("line", model.lines), ("trafo", model.trafos)):
        if not len(b.rows):
            continue
        if kind == "line":
            from_factor = model.base_mva / (SQRT3 * b.from_base_kv * b.rating) * 100.0
            to_factor = model.base_mva / (SQRT3 * b.to_base_kv * b.rating) * 100.0
        else:
            from_factor = model.base_mva * b.from_rated_kv / (b.from_base_kv * b.rating) * 100.0
            to_factor = model.base_mva * b.to_rated_kv / (b.to_base_kv * b.rating) * 100.0
        kinds.append(np.full(len(b.rows), kind))
        ids.append(b.element_ids)
        rows.append(b.rows)
        per_pu_from.append(from_factor)
        per_pu_to.append(to_factor)
        limit.append(branch_loading_limits(net, kind, b.element_ids, limits))
    if not rows:
        empty = np.zeros(0)
        return BranchTable(
            empty.astype(str),
            empty.astype(np.int64),
            empty.astype(np.int64),
            sparse.csr_matrix((0, model.n_bus), dtype=complex),
            empty,
            empty,
            empty,
        )
    branch_rows = np.concatenate(rows)
    matrix = sparse.vstack([model.yf[branch_rows], model.yt[branch_rows]]).tocsr()
    limits_percent = np.concatenate(limit)
    return BranchTable(
        kind=np.concatenate(kinds),
        element_ids=np.concatenate(ids),
        rows=branch_rows,
        end_matrix=matrix,
        percent_per_pu=np.concatenate(per_pu_from + per_pu_to),
        limit_percent=limits_percent,
        model_limit_percent=limits_percent,
    )


class ComponentState:
    """A component at an operating point, ready for AC checks with one added injection.

    Parameters
    ----------
    component : ComponentModel
    point : OperatingPoint
        Set-points of the existing loads and DERs.
    limits : StudyLimits
    mode, pf
        Direction and power factor of the new element (see :func:`injection_per_mw`).

    Raises
    ------
    PowerFlowError
        When the operating point itself has no AC solution.
    """

    def __init__(
        self,
        component: ComponentModel,
        point: OperatingPoint,
        limits: StudyLimits,
        mode: Mode,
        pf: float,
    ) -> None:
        self.component = component
        self.point = point
        self.mode = mode
        self.s_per_mw_pu = injection_per_mw(mode, pf) / component.model.base_mva
        model = component.model
        self.model = model
        frames = {}
        for key, frame in point.frames().items():
            mapping = model.injections.get(key)
            if mapping is not None:
                frames[key] = frame[frame.columns.intersection(mapping.element_ids)]
        self.sbus = model.sbus0 + injection_delta(model, frames)[0]
        self.solver = KLUSolverSingleSlack()
        self.ref = model.ref.astype(np.int32)
        self.weights = np.zeros(model.n_bus)
        self.weights[model.ref] = 1.0 / len(model.ref)
        self.pv = model.pv.astype(np.int32)
        self.pq = model.pq.astype(np.int32)
        self.n_solves = 0
        v0 = self._solve(self.sbus, model.v0)
        if v0 is None:
            raise PowerFlowError(
                f"the operating point '{point.name}' has no AC power-flow solution on the "
                f"component at {component.split.name}"
            )
        self.v0 = v0
        self._limits(limits)

    # -- limits ------------------------------------------------------------------------------
    def _limits(self, limits: StudyLimits) -> None:
        model, net = self.model, self.component.net
        n_bus = model.n_bus
        bus_ids = net.bus.index.to_numpy()
        rows = model.bus_lookup[bus_ids]
        keep = rows >= 0
        keep[keep] &= ~np.isin(rows[keep], model.ref)
        bus_ids, rows = bus_ids[keep], rows[keep]
        low, high = bus_voltage_limits(net, bus_ids, limits)
        vm_min = np.full(n_bus, -np.inf)
        vm_max = np.full(n_bus, np.inf)
        np.maximum.at(vm_min, rows, low)
        np.minimum.at(vm_max, rows, high)
        self.row_bus = np.full(n_bus, -1, dtype=np.int64)
        order = np.argsort(bus_ids)[::-1]  # the smallest bus id of a row names it
        self.row_bus[rows[order]] = bus_ids[order]
        vm0 = np.abs(self.v0)
        self.vm_min_pu = relax_lower(vm_min, vm0, RELAX_MARGIN_PU)
        self.vm_max_pu = relax_upper(vm_max, vm0, RELAX_MARGIN_PU)
        self.vm_min_model_pu, self.vm_max_model_pu = vm_min, vm_max
        table = branch_table(model, net, limits)
        loading0 = table.loading_percent(self.v0)
        self.branches = replace(
            table,
            limit_percent=relax_upper(table.model_limit_percent, loading0, RELAX_MARGIN_PERCENT),
        )
        self.relaxed = self._relaxations(vm0, loading0)

    def _relaxations(self, vm0: np.ndarray, loading0: np.ndarray) -> list[str]:
        notes = []
        for row in np.flatnonzero(vm0 > self.vm_max_model_pu):
            notes.append(f"bus {self.row_bus[row]} is at {vm0[row]:.4f} pu already (> max)")
        for row in np.flatnonzero(vm0 < self.vm_min_model_pu):
            notes.append(f"bus {self.row_bus[row]} is at {vm0[row]:.4f} pu already (< min)")
        table = self.branches
        for position in np.flatnonzero(loading0 > table.model_limit_percent):
            notes.append(
                f"{table.kind[position]} {table.element_ids[position]} is at "
                f"{loading0[position]:.1f} % already (> {table.model_limit_percent[position]:g} %)"
            )
        return notes

    # -- power flow --------------------------------------------------------------------------
    def _solve(self, sbus: np.ndarray, v_start: np.ndarray) -> np.ndarray | None:
        self.n_solves += 1
        converged = self.solver.solve(
            self.model.ybus,
            v_start.copy(),
            sbus,
            self.ref,
            self.weights,
            self.pv,
            self.pq,
            MAX_ITERATION,
            TOLERANCE_PU,
        )
        if not converged:
            return None
        voltages = np.array(self.solver.get_V(), dtype=complex)  # get_V may be a view
        if not np.isfinite(voltages).all() or np.abs(voltages).min() < MIN_VM_PU:
            return None  # a low-voltage solution is not an operating point
        return voltages

    def solve_injections(self, sbus: np.ndarray, v_start: np.ndarray) -> np.ndarray | None:
        """Bus voltages [pu] for the injections ``sbus`` [pu] (``None``: no solution)."""
        return self._solve(sbus, v_start)

    def check(self, row: int, p_mw: float, v_start: np.ndarray | None = None) -> Check:
        """AC power flow with ``p_mw`` of the new element at model row ``row``."""
        sbus = self.sbus.copy()
        sbus[row] += self.s_per_mw_pu * p_mw
        voltages = self._solve(sbus, self.v0 if v_start is None else v_start)
        if voltages is None:
            return Check(math.inf, NO_SOLUTION, None)
        return self.assess(voltages)

    def assess(self, voltages: np.ndarray) -> Check:
        """Worst limit margin at ``voltages`` and the element it belongs to."""
        vm = np.abs(voltages)
        over = (vm - self.vm_max_pu) * VOLTAGE_WEIGHT
        under = (self.vm_min_pu - vm) * VOLTAGE_WEIGHT
        i_over, i_under = int(np.argmax(over)), int(np.argmax(under))
        best = (
            over[i_over],
            "voltage_max",
            "bus",
            int(self.row_bus[i_over]),
            vm[i_over],
            self.vm_max_pu[i_over],
            "pu",
        )
        if under[i_under] > best[0]:
            best = (
                under[i_under],
                "voltage_min",
                "bus",
                int(self.row_bus[i_under]),
                vm[i_under],
                self.vm_min_pu[i_under],
                "pu",
            )
        table = self.branches
        excess = np.zeros(0)
        if len(table.rows):
            loading = table.loading_percent(voltages)
            excess = loading - table.limit_percent
            position = int(np.argmax(excess))
            if excess[position] > best[0]:
                best = (
                    excess[position],
                    "thermal",
                    str(table.kind[position]),
                    int(table.element_ids[position]),
                    loading[position],
                    table.limit_percent[position],
                    "%",
                )
        margin, limit, element, element_id, value, bound, unit = best
        return Check(
            float(margin),
            LimitBreach(
                limit,
                element,
                element_id,
                unit,
                float(value),
                float(bound),
                source="hosting_capacity",
            ),
            voltages,
            # limits a row does not have (inf) count as far away, so secants stay finite
            np.nan_to_num(np.concatenate([over, under, excess]), nan=-1e6, neginf=-1e6),
        )
