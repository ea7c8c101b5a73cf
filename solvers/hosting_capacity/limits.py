"""Network limits of a hosting-capacity study: voltage band per bus, thermal limit per branch.

Voltage limits come from the feeder's own ``bus.min_vm_pu`` / ``bus.max_vm_pu`` where the model
sets them, else from :class:`solvers.limits.OperatingLimits` (an explicit override replaces the
bus values everywhere). Lines and transformers use their rating (``max_i_ka``, ``sn_mva``) at
``max_loading_percent`` (the element's own column where set, else the study's).

A limit that the operating point already violates cannot be *met* by adding DER; such a limit
may not get worse: it is relaxed to its value at the operating point (plus
:data:`RELAX_MARGIN_PU` / :data:`RELAX_MARGIN_PERCENT` of numerical tolerance) and the relaxation
is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandapower as pp

from solvers.limits import OperatingLimits

#: tolerance added to a voltage limit relaxed to an already violating operating point [pu]
RELAX_MARGIN_PU = 1e-6
#: tolerance added to a thermal limit relaxed to an already overloaded branch [%]
RELAX_MARGIN_PERCENT = 1e-4


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


def relax_upper(limit: np.ndarray, value: np.ndarray, margin: float) -> np.ndarray:
    """``limit`` where ``value`` meets it, else ``value + margin`` (may not get worse)."""
    return np.where(value > limit, value + margin, limit)


def relax_lower(limit: np.ndarray, value: np.ndarray, margin: float) -> np.ndarray:
    """``limit`` where ``value`` meets it, else ``value - margin`` (may not get worse)."""
    return np.where(value < limit, value - margin, limit)
