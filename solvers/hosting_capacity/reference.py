"""Brute-force hosting capacity with ``pandapower.runpp``: the reference our method is measured
against (tests, benchmark).

Nothing of the fast path is used: the operating point is written into a copy of the net, a new
``sgen`` (generation) or ``load`` is added at the bus, and every candidate size is one full
``pandapower.runpp``. The search doubles from :data:`START_MW` until a limit is violated, then
bisects to the same tolerance. Limits are read from pandapower's own result tables
(``res_bus.vm_pu``, ``res_line/res_trafo.loading_percent``) against the same definitions
(:mod:`.limits`), relaxed where the operating point already violates them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandapower as pp

from solvers.hosting_capacity import relaxation
from solvers.hosting_capacity.ac_check import VOLTAGE_WEIGHT, injection_per_mw
from solvers.hosting_capacity.operating_point import Mode, OperatingPoint
from solvers.hosting_capacity.refine import Tolerance
from solvers.limits import StudyLimits, branch_loading_limits, bus_voltage_limits
from solvers.powerflow import Backend, PowerFlowError, solve_ac

#: first size tried by the brute-force search [MW]
START_MW = 1.0


@dataclass(frozen=True)
class Violated:
    """Worst limit margin of one runpp [percentage points] and every violated element."""

    margin: float
    worst: str
    violated: frozenset[str]


@dataclass(frozen=True)
class ReferenceCapacity:
    """Brute-force result at one bus: ``p_mw`` feasible, ``p_above_mw`` not."""

    bus: int
    p_mw: float
    p_above_mw: float
    binding: str
    runpp_calls: int


class BruteForce:
    """A net at an operating point, with a new element for brute-force searches.

    Parameters
    ----------
    net : pandapowerNet
        Not modified (a copy is used).
    point : OperatingPoint
    limits : StudyLimits
    mode, pf
        The new element (see :func:`.ac_check.injection_per_mw`).
    backend : {"lightsim2grid", "pandapower"}
        Newton-Raphson of ``runpp`` (lightsim2grid falls back to pandapower's with several
        external grids, see :func:`solvers.powerflow.solve_ac`).
    """

    def __init__(
        self,
        net: pp.pandapowerNet,
        point: OperatingPoint,
        limits: StudyLimits,
        mode: Mode,
        pf: float,
        backend: Backend = "lightsim2grid",
    ) -> None:
        self.net = point.apply(net)
        self.backend = backend
        self.s_per_mw = injection_per_mw(mode, pf)
        self.mode = mode
        table = "sgen" if mode == "gen" else "load"
        first_bus = int(self.net.bus.index[0])
        if mode == "gen":
            self.element = pp.create_sgen(self.net, first_bus, p_mw=0.0, q_mvar=0.0)
        else:
            self.element = pp.create_load(self.net, first_bus, p_mw=0.0, q_mvar=0.0)
        self.table = table
        self.calls = 0
        solve_ac(self.net, backend)
        self.calls += 1
        vm = self.net.res_bus.vm_pu
        sources = self.net.ext_grid.bus[self.net.ext_grid.in_service.astype(bool)]
        energized = vm.index[vm.notna()]
        self.bus_ids = energized[~energized.isin(sources)].to_numpy()
        low, high = bus_voltage_limits(self.net, self.bus_ids, limits)
        vm0 = vm.loc[self.bus_ids].to_numpy()
        self.vm_min = relaxation.relax_lower(low, vm0, relaxation.RELAX_MARGIN_PU)
        self.vm_max = relaxation.relax_upper(high, vm0, relaxation.RELAX_MARGIN_PU)
        self.branch_limits = {}
        for kind in ("line", "trafo"):
            active = self.net[kind].index[self.net[kind].in_service.astype(bool)].to_numpy()
            loading0 = self.net[f"res_{kind}"].loading_percent.loc[active].to_numpy()
            limit = branch_loading_limits(self.net, kind, active, limits)
            ok = np.isfinite(loading0)
            self.branch_limits[kind] = (
                active[ok],
                relaxation.relax_upper(limit[ok], loading0[ok], relaxation.RELAX_MARGIN_PERCENT),
            )

    def evaluate(self, bus: int, p_mw: float) -> Violated:
        """One ``runpp`` with ``p_mw`` of the new element at ``bus``."""
        frame = self.net[self.table]
        q_mvar = self.s_per_mw.imag * p_mw
        frame.loc[self.element, ["bus", "p_mw", "q_mvar"]] = [
            bus,
            p_mw,
            q_mvar if self.mode == "gen" else -q_mvar,
        ]
        self.calls += 1
        try:
            solve_ac(self.net, self.backend)
        except PowerFlowError:
            return Violated(math.inf, "no AC solution", frozenset({"no AC solution"}))
        vm = self.net.res_bus.vm_pu.loc[self.bus_ids].to_numpy()
        margins = {
            f"overvoltage at bus {b}": m
            for b, m in zip(self.bus_ids, (vm - self.vm_max) * VOLTAGE_WEIGHT, strict=True)
        }
        margins.update(
            {
                f"undervoltage at bus {b}": m
                for b, m in zip(self.bus_ids, (self.vm_min - vm) * VOLTAGE_WEIGHT, strict=True)
            }
        )
        for kind, (ids, limit) in self.branch_limits.items():
            loading = self.net[f"res_{kind}"].loading_percent.loc[ids].to_numpy()
            margins.update(
                {f"thermal on {kind} {i}": m for i, m in zip(ids, loading - limit, strict=True)}
            )
        worst = max(margins, key=lambda k: margins[k])
        violated = frozenset(k for k, m in margins.items() if m > 0.0)
        return Violated(float(margins[worst]), worst, violated)

    def search(self, bus: int, tolerance: Tolerance, cap_mw: float = 1000.0) -> ReferenceCapacity:
        """Largest feasible size at ``bus`` by doubling then bisection [MW]."""
        calls = self.calls
        lo, hi, above = 0.0, math.inf, "none"
        x = START_MW
        while math.isinf(hi):
            result = self.evaluate(bus, x)
            if result.margin <= 0.0:
                lo = x
                if x >= cap_mw:
                    return ReferenceCapacity(bus, cap_mw, math.inf, "none", self.calls - calls)
                x = min(2.0 * x, cap_mw)
            else:
                hi, above = x, result.worst
        while hi - lo > tolerance.width_mw(lo):
            x = 0.5 * (lo + hi)
            result = self.evaluate(bus, x)
            if result.margin <= 0.0:
                lo = x
            else:
                hi, above = x, result.worst
        return ReferenceCapacity(bus, lo, hi, above, self.calls - calls)
