"""The dispatch horizon: periods, their length and their time stamps."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from gridderms.bounds import DATETIME_YEARS


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

    def period_midpoints(self) -> pd.DatetimeIndex:
        """Middle of each period (UTC): where forecasts sample a period."""
        return self.period_starts() + pd.Timedelta(minutes=self.step_minutes / 2)


#: Years a horizon may start in (a forecast outside them is meaningless): those of every
#: date-time input.
START_YEARS = DATETIME_YEARS


def parse_start(
    text: str | None, tz: str, step_minutes: int, *, now: pd.Timestamp | None = None
) -> pd.Timestamp:
    """The horizon start [UTC] from a date-time text.

    Parameters
    ----------
    text : str or None
        ISO date or date-time; with an offset (``Z``, ``+01:00``) it is absolute, without one it
        is local time in ``tz``. ``None`` or ``"now"``: the current time, floored to the step.
    tz : str
        The feeder's IANA time zone.
    step_minutes : int
        Period length [min], for flooring ``now``.

    Raises
    ------
    ValueError
        For text that is not a date-time, or a year outside :data:`START_YEARS`.
    """
    if text is None or text.strip().lower() == "now":
        current = now if now is not None else pd.Timestamp.now(tz="UTC")
        return current.tz_convert("UTC").floor(f"{step_minutes}min")
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"start {text!r} is not a date-time (use e.g. 2026-06-21T12:00 for local time in "
            f"{tz}, or 2026-06-21T10:00Z for UTC)"
        ) from exc
    if stamp is pd.NaT or not isinstance(stamp, pd.Timestamp):
        raise ValueError(f"start {text!r} is not a date-time")
    if not START_YEARS[0] <= stamp.year <= START_YEARS[1]:
        raise ValueError(
            f"start {text!r} is outside the years {START_YEARS[0]}..{START_YEARS[1]}"
        )
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")
    return stamp.tz_convert("UTC")
