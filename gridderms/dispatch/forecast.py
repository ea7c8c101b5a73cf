"""Forecasts of load and DER availability over a dispatch horizon.

A feeder with profiles (SimBench) forecasts from its profiles; a feeder without them gets the
documented synthetic day: every load follows :func:`network_models.profiles.daily_load_profiles`
and PV follows a clear-sky bell, ``max(0, sin(pi (h - 6) / 12))`` of its available power between
06:00 and 18:00.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridderms.dispatch.horizon import Horizon
from network_models.feeder import Feeder
from network_models.profiles import FeederProfiles, daily_load_profiles


def load_forecast(feeder: Feeder, horizon: Horizon, start_step: int = 0) -> FeederProfiles:
    """Load set-points per period (and non-dispatched generation from the profiles).

    Parameters
    ----------
    feeder : Feeder
    horizon : Horizon
    start_step : int
        First profile step for feeders with profiles.
    """
    profiles = feeder.profiles
    n = horizon.n_periods
    if profiles is None:
        synthetic = daily_load_profiles(feeder.net.load, n)
        return FeederProfiles(
            values=synthetic.values, step_minutes=horizon.step_minutes, start=horizon.start
        )
    if horizon.step_minutes != profiles.step_minutes:
        raise ValueError(
            f"feeder '{feeder.name}' has {profiles.step_minutes}-min profiles; dispatch it with "
            f"--step-min {profiles.step_minutes}"
        )
    if start_step < 0 or start_step + n > profiles.n_steps:
        raise ValueError(
            f"periods {start_step}..{start_step + n - 1} are outside the profiles "
            f"(0..{profiles.n_steps - 1})"
        )
    window = {
        key: frame.iloc[start_step : start_step + n].reset_index(drop=True)
        for key, frame in profiles.values.items()
    }
    start = profiles.start + pd.Timedelta(minutes=profiles.step_minutes * start_step)
    return FeederProfiles(values=window, step_minutes=profiles.step_minutes, start=start)


def clear_sky_shape(horizon: Horizon) -> np.ndarray:
    """Share of PV available power per period [-]: a bell from 06:00 to 18:00 (period mid)."""
    mid = horizon.period_starts() + pd.Timedelta(minutes=horizon.step_minutes / 2)
    hours = mid.hour + mid.minute / 60.0
    return np.clip(np.sin(np.pi * (np.asarray(hours) - 6.0) / 12.0), 0.0, None)
