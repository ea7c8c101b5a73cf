"""The limits vocabulary of the solvers, defined once.

* :class:`OperatingLimits`: voltage band [pu] and thermal limit [%] of every bus and branch;
  :class:`StudyLimits` with :func:`bus_voltage_limits` / :func:`branch_loading_limits`: the
  same, overridden per bus and per branch where the feeder model sets its own;
* :class:`HeadLimits`: the feeder-head exchange the ADMS allows [MW]; :class:`HostingCapacityLimit`:
  a cap on the export of a group of DERs [MW]; :class:`DispatchLimits`: the operating limits of a
  dispatch with both of those per period;
* :data:`VM_TOLERANCE_PU`, :data:`LOADING_TOLERANCE_PERCENT` and :func:`widened`: how far the AC
  verification of a dispatch lets a limit be passed;
* :class:`LimitBreach`: one limit passed (or binding, or to be relaxed), whoever found it: a
  power flow's violations, a hosting-capacity study's binding limit, an infeasibility diagnosis.

The limits are named ``voltage_max``, ``voltage_min``, ``thermal``, ``feeder_head_import``,
``feeder_head_export`` and ``hosting_capacity``. What the API and the command line print keeps
its historic words ("overvoltage", "overload"): they are mapped in :data:`REPORTED_AS` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # annotations only: the settings import this module and load fast
    import pandapower as pp

#: the AC verification of a dispatch accepts a voltage this far outside the band [pu]
VM_TOLERANCE_PU = 1e-3
#: ... and a loading this far above the thermal limit [%]
LOADING_TOLERANCE_PERCENT = 0.5


@dataclass(frozen=True)
class OperatingLimits:
    """Voltage band and thermal limit applied to every in-service bus and branch.

    Parameters
    ----------
    vm_min_pu : float
        Lowest permitted bus voltage magnitude [pu]. Default 0.95.
    vm_max_pu : float
        Highest permitted bus voltage magnitude [pu]. Default 1.05.
    max_loading_percent : float
        Highest permitted line/transformer loading [%] of its rating. Default 100.
    """

    vm_min_pu: float = 0.95
    vm_max_pu: float = 1.05
    max_loading_percent: float = 100.0

    def __post_init__(self) -> None:
        values = (self.vm_min_pu, self.vm_max_pu, self.max_loading_percent)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"operating limits must be finite numbers, got {values}")
        if not 0.0 < self.vm_min_pu < self.vm_max_pu:
            raise ValueError(
                f"voltage band must satisfy 0 < vm_min_pu < vm_max_pu, got "
                f"vm_min_pu={self.vm_min_pu}, vm_max_pu={self.vm_max_pu}"
            )
        if self.max_loading_percent <= 0.0:
            raise ValueError(
                f"max_loading_percent must be positive, got {self.max_loading_percent}"
            )


def widened(
    limits: OperatingLimits, vm_tolerance_pu: float, loading_tolerance_percent: float
) -> OperatingLimits:
    """``limits`` with the band widened by ``vm_tolerance_pu`` [pu] on both sides and the thermal
    limit raised by ``loading_tolerance_percent`` [%]: what the AC verification checks."""
    return OperatingLimits(
        limits.vm_min_pu - vm_tolerance_pu,
        limits.vm_max_pu + vm_tolerance_pu,
        limits.max_loading_percent + loading_tolerance_percent,
    )


@dataclass(frozen=True)
class HeadLimits:
    """Feeder-head exchange limits from the ADMS [MW] (None: no limit)."""

    import_max_mw: float | None = None
    export_max_mw: float | None = None

    def per_period(self, n_periods: int) -> tuple[np.ndarray, np.ndarray]:
        """Import and export limit of each of ``n_periods`` periods [MW] (inf: none)."""
        return (
            np.full(n_periods, np.inf if self.import_max_mw is None else self.import_max_mw),
            np.full(n_periods, np.inf if self.export_max_mw is None else self.export_max_mw),
        )


@dataclass(frozen=True)
class HostingCapacityLimit:
    """The DERs ``members`` (fleet positions) may export at most ``p_max_mw`` together [MW].

    ``name`` says where, e.g. ``"bus 17"`` or ``"feeder-1"``.
    """

    name: str
    members: np.ndarray
    p_max_mw: float


@dataclass(frozen=True, eq=False)
class DispatchLimits(OperatingLimits):
    """The operating limits of a dispatch, with its feeder-head and hosting-capacity limits.

    Attributes
    ----------
    vm_min_pu, vm_max_pu, max_loading_percent : float
        As :class:`OperatingLimits` (a dispatch's limits *are* operating limits).
    head_import_max_mw, head_export_max_mw : numpy.ndarray
        Per-period limits on power drawn from / fed back to the upstream grid [MW] (inf: none).
    hosting_capacity : tuple of HostingCapacityLimit
        Caps on the total DER export of groups of DERs (a bus, a feeder).
    """

    head_import_max_mw: np.ndarray = field(default_factory=lambda: np.full(0, np.inf))
    head_export_max_mw: np.ndarray = field(default_factory=lambda: np.full(0, np.inf))
    hosting_capacity: tuple[HostingCapacityLimit, ...] = ()

    @classmethod
    def of(
        cls,
        limits: OperatingLimits,
        head: HeadLimits,
        n_periods: int,
        hosting_capacity: tuple[HostingCapacityLimit, ...] = (),
    ) -> DispatchLimits:
        """``limits`` and ``head`` over ``n_periods`` periods, with ``hosting_capacity``."""
        head_import, head_export = head.per_period(n_periods)
        return cls(
            limits.vm_min_pu,
            limits.vm_max_pu,
            limits.max_loading_percent,
            head_import,
            head_export,
            hosting_capacity,
        )


@dataclass(frozen=True)
class StudyLimits:
    """How the limits of a study are chosen.

    Attributes
    ----------
    defaults : OperatingLimits
        Voltage band [pu] for buses without their own limits and thermal limit [%] for branches
        without ``max_loading_percent``.
    use_bus_limits : bool
        Use ``bus.min_vm_pu`` / ``bus.max_vm_pu`` (and branch ``max_loading_percent``) where the
        model sets them; ``False`` applies ``defaults`` everywhere (an explicit override).
    """

    defaults: OperatingLimits = field(default_factory=OperatingLimits)
    use_bus_limits: bool = True

    def describe(self) -> str:
        """One line for reports."""
        d = self.defaults
        if self.use_bus_limits:
            return (
                f"bus min/max_vm_pu where the model sets them, else {d.vm_min_pu}-{d.vm_max_pu} "
                f"pu; {d.max_loading_percent:g} % loading unless a branch sets its own"
            )
        return f"{d.vm_min_pu}-{d.vm_max_pu} pu at every bus, {d.max_loading_percent:g} % loading"


def bus_voltage_limits(
    net: pp.pandapowerNet, bus_ids: np.ndarray, limits: StudyLimits
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper voltage limit of ``bus_ids`` [pu]."""
    low = np.full(len(bus_ids), limits.defaults.vm_min_pu)
    high = np.full(len(bus_ids), limits.defaults.vm_max_pu)
    if limits.use_bus_limits:
        for column, target in (("min_vm_pu", low), ("max_vm_pu", high)):
            if column in net.bus:
                values = net.bus[column].reindex(bus_ids).to_numpy(dtype=float)
                given = np.isfinite(values)
                target[given] = values[given]
    bad = np.flatnonzero(~(low <= high))
    if len(bad):
        raise ValueError(
            f"bus {int(bus_ids[bad[0]])} has an empty voltage band "
            f"({low[bad[0]]} - {high[bad[0]]} pu)"
        )
    return low, high


def branch_loading_limits(
    net: pp.pandapowerNet, table: str, element_ids: np.ndarray, limits: StudyLimits
) -> np.ndarray:
    """Thermal limit [% of rating] of the ``table`` (``line``/``trafo``) elements."""
    result = np.full(len(element_ids), limits.defaults.max_loading_percent)
    frame = net[table]
    if limits.use_bus_limits and "max_loading_percent" in frame:
        values = frame["max_loading_percent"].reindex(element_ids).to_numpy(dtype=float)
        given = np.isfinite(values) & (values > 0)
        result[given] = values[given]
    return result


#: who found a breach: a power flow's check of its results, a hosting-capacity search (the limit
#: that binds just above the capacity), an infeasibility diagnosis (a limit that must give)
BreachSource = Literal["power_flow", "hosting_capacity", "diagnosis"]

#: the words a report prints for a limit, where they are not the limit's name: the serialised
#: forms of the API and the command line keep these
REPORTED_AS: dict[BreachSource, dict[str, str]] = {
    "power_flow": {
        "voltage_max": "overvoltage",
        "voltage_min": "undervoltage",
        "thermal": "overload",
    },
    "hosting_capacity": {"voltage_max": "overvoltage", "voltage_min": "undervoltage"},
    "diagnosis": {},
}

#: hosting-capacity outcomes that are not a limit (nothing binds; no AC solution)
NOT_A_LIMIT = ("none", "no AC solution")


@dataclass(frozen=True)
class LimitBreach:
    """One limit passed, binding, or to be relaxed, at one element (and period).

    Attributes
    ----------
    limit : str
        ``voltage_max``, ``voltage_min``, ``thermal``, ``feeder_head_import``,
        ``feeder_head_export``, ``hosting_capacity (<group>)``; a diagnosis that found no
        relaxation names the reason; a hosting-capacity search may name one of
        :data:`NOT_A_LIMIT`.
    element : str
        pandapower table (``"bus"``, ``"line"``, ``"trafo"``, ``"trafo3w"``), or
        ``"feeder_head"``, ``"der_group"``, ``"request"``.
    element_id : int
        Index of the element (-1: none).
    unit : str
        ``"pu"``, ``"%"``, ``"MW"``, ``"MVA"`` (of ``value``, ``bound`` and ``amount``).
    value : float
        The value at the breach (NaN where the finder does not know it) [unit].
    bound : float
        The limit's value (NaN where not known) [unit].
    period : int or None
        Time-series step or dispatch period; ``None`` for a single power flow (a diagnosis
        uses -1).
    amount : float
        How far the limit must give for a request to be feasible (a diagnosis) [unit].
    source : {"power_flow", "hosting_capacity", "diagnosis"}
        Who found it: decides the words and fields of its text and :meth:`to_dict`.
    """

    limit: str
    element: str
    element_id: int
    unit: str
    value: float = math.nan
    bound: float = math.nan
    period: int | None = None
    amount: float = math.nan
    source: BreachSource = "power_flow"

    @property
    def kind(self) -> str:
        """The limit in its report's words (``"overvoltage"``, ``"overload"``, ``"thermal"``)."""
        return REPORTED_AS[self.source].get(self.limit, self.limit)

    @property
    def step(self) -> int | None:
        """The time-series step (:attr:`period`)."""
        return self.period

    @property
    def excess(self) -> float:
        """How far beyond the bound the value is, in :attr:`unit` (always positive)."""
        return abs(self.value - self.bound)

    def __str__(self) -> str:
        if self.source == "diagnosis":
            return (
                f"{self.limit} at {self.element} {self.element_id}, period {self.period}: "
                f"short by {self.amount:.4f} {self.unit}"
            )
        if self.source == "hosting_capacity":
            if self.limit in NOT_A_LIMIT:
                return self.limit
            where = "at" if self.element == "bus" else "on"
            return f"{self.kind} {where} {self.element} {self.element_id}"
        at = f" at step {self.period}" if self.period is not None else ""
        return (
            f"{self.element} {self.element_id}: {self.kind} {self.value:.4f} {self.unit} "
            f"{self._relation} {self.bound:g} {self.unit}{at}"
        )

    @property
    def _relation(self) -> str:
        return "<" if self.limit == "voltage_min" else ">"

    def detail(self) -> str:
        """The text with the value and the bound: ``"overvoltage at bus 17 (1.1004 > 1.1000
        pu)"``."""
        if self.source != "hosting_capacity" or self.limit in NOT_A_LIMIT:
            return str(self)
        return f"{self} ({self.value:.4f} {self._relation} {self.bound:.4f} {self.unit})"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (the fields of its report)."""
        where = {"element": self.element, "element_id": self.element_id}
        if self.source == "diagnosis":
            return {
                "limit": self.limit,
                **where,
                "period": self.period,
                "amount": self.amount,
                "unit": self.unit,
            }
        found = {
            "kind": self.kind,
            **where,
            "value": self.value,
            "limit": self.bound,
            "unit": self.unit,
        }
        if self.source == "hosting_capacity":
            return {**found, "text": str(self)}
        return {**found, "excess": self.excess, "step": self.period}
