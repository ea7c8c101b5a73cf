"""Limit violations found in power-flow results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from solvers.limits import OperatingLimits

ViolationKind = Literal["overvoltage", "undervoltage", "overload"]


@dataclass(frozen=True)
class Violation:
    """One element outside its limit.

    Attributes
    ----------
    kind : {"overvoltage", "undervoltage", "overload"}
    element : str
        pandapower table: ``"bus"``, ``"line"``, ``"trafo"`` or ``"trafo3w"``.
    element_id : int
        Index of the element.
    value : float
        Voltage [pu] or loading [%].
    limit : float
        The limit it breaks, same unit.
    unit : str
        ``"pu"`` or ``"%"``.
    step : int or None
        Time-series step, ``None`` for a single power flow.
    """

    kind: ViolationKind
    element: str
    element_id: int
    value: float
    limit: float
    unit: str
    step: int | None = None

    @property
    def excess(self) -> float:
        """How far beyond the limit the value is, in :attr:`unit` (always positive)."""
        return abs(self.value - self.limit)

    def __str__(self) -> str:
        relation = "<" if self.kind == "undervoltage" else ">"
        at = f" at step {self.step}" if self.step is not None else ""
        return (
            f"{self.element} {self.element_id}: {self.kind} {self.value:.4f} {self.unit} "
            f"{relation} {self.limit:g} {self.unit}{at}"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "element": self.element,
            "element_id": self.element_id,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "excess": self.excess,
            "step": self.step,
        }


def find_violations(
    vm_pu: pd.Series,
    loading_percent: dict[str, pd.Series],
    limits: OperatingLimits,
    step: int | None = None,
) -> list[Violation]:
    """Compare bus voltages and branch loadings with ``limits``.

    Parameters
    ----------
    vm_pu : pandas.Series
        Voltage magnitude per energized bus [pu]; NaN (de-energized) entries are skipped, the
        caller reports de-energized buses separately.
    loading_percent : dict of str to pandas.Series
        Loading per branch [%], keyed by element table.
    limits : OperatingLimits
    step : int, optional
        Time-series step to tag the violations with.
    """
    found: list[Violation] = []
    values = vm_pu.to_numpy(dtype=float)
    for element_id, value in zip(
        vm_pu.index[values > limits.vm_max_pu], values[values > limits.vm_max_pu], strict=True
    ):
        found.append(
            Violation(
                "overvoltage", "bus", int(element_id), float(value), limits.vm_max_pu, "pu", step
            )
        )
    for element_id, value in zip(
        vm_pu.index[values < limits.vm_min_pu], values[values < limits.vm_min_pu], strict=True
    ):
        found.append(
            Violation(
                "undervoltage", "bus", int(element_id), float(value), limits.vm_min_pu, "pu", step
            )
        )
    for element, loading in loading_percent.items():
        load = loading.to_numpy(dtype=float)
        over = np.nan_to_num(load, nan=0.0) > limits.max_loading_percent
        for element_id, value in zip(loading.index[over], load[over], strict=True):
            found.append(
                Violation(
                    "overload",
                    element,
                    int(element_id),
                    float(value),
                    limits.max_loading_percent,
                    "%",
                    step,
                )
            )
    return found
