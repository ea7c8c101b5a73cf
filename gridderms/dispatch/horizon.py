"""The dispatch horizon: periods, their length and their time stamps."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Horizon:
    """``n_periods`` periods of ``step_minutes`` from ``start`` (UTC).

    Raises
    ------
    ValueError
        For a non-positive horizon or step, or a horizon that is not a whole number of steps.
    """

    start: pd.Timestamp
    horizon_h: float
    step_minutes: int

    def __post_init__(self) -> None:
        if self.step_minutes <= 0 or self.horizon_h <= 0:
            raise ValueError(
                f"horizon_h ({self.horizon_h}) and step_min ({self.step_minutes}) must be positive"
            )
        periods = self.horizon_h * 60 / self.step_minutes
        if abs(periods - round(periods)) > 1e-9:
            raise ValueError(
                f"a {self.horizon_h} h horizon is not a whole number of {self.step_minutes}-min "
                f"steps"
            )

    @property
    def n_periods(self) -> int:
        """Number of periods."""
        return round(self.horizon_h * 60 / self.step_minutes)

    @property
    def dt_h(self) -> float:
        """Period length [h]."""
        return self.step_minutes / 60.0

    def period_starts(self) -> pd.DatetimeIndex:
        """Start of each period (UTC)."""
        start = self.start.tz_localize("UTC") if self.start.tzinfo is None else self.start
        return pd.date_range(start, periods=self.n_periods, freq=f"{self.step_minutes}min")
