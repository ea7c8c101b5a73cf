"""Operating limits against which power-flow results are checked."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
