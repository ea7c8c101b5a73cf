"""Standard load profiles by local time of day, weekday and season: the BDEW profiles H0, G0, L0.

Source: the German BDEW standard load profiles (VDEW 1999) as shipped by ``demandlib``
(oemof): ``demandlib.bdew.ElecSlp(year)`` gives H0 (household, with its dynamic seasonal
factor), G0 (commercial) and L0 (agricultural) at 15-min resolution for any calendar year, by
season (winter, summer, transition) and day type (workday, Saturday, Sunday). They describe the
*aggregate* of many customers, which is what a feeder model's load is. (SimBench's own
``H0-A`` .. ``L0-A`` columns were considered and rejected: ``H0-A`` has a mean of 0.14 of its
peak, the shape of one household, so a feeder scaled to its peak would sit at 4-10 % load at
noon; BDEW H0 has a mean of 0.53 of its peak.)

Clock: BDEW profiles are defined on the local legal clock; times are converted to the feeder's
zone and read at their local clock time (12:00 CEST reads the 12:00 value). Public holidays are
not modelled (a holiday is read as its weekday). Factors are normalised per year so that the
profile's yearly maximum of active power is 1.0: a load's ``p_mw`` is its value at the yearly
peak. Between 15-min values the factors are interpolated linearly.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd

from network_models.location import zone

#: the standard profiles: household, commercial, agricultural
PROFILES = ("H0", "G0", "L0")
#: resolution of the BDEW profiles [min]
STEP_MINUTES = 15


def source_label(profile: str) -> str:
    """E.g. ``"BDEW standard load profile H0"``; ``"G0, H0"`` names both."""
    names = [_checked_profile(part.strip()) for part in profile.split(",")]
    plural = "s" if len(names) > 1 else ""
    return f"BDEW standard load profile{plural} {', '.join(names)} (demandlib)"


def profile_for_load(name: str | None, load_type: str | None) -> str:
    """The standard profile of a pandapower load from its ``name`` and ``type``.

    Rules on the lower-cased name and type together, first match wins:

    1. ``L0`` .. ``L2``, "agri" or "farm" -> ``"L0"``;
    2. ``G0`` .. ``G6``, "commercial", "industr", "business", or a CIGRE commercial /
       industrial name (``CI1``, ``C12``, ``I2``: the token CI, C or I with a number) -> ``"G0"``;
    3. anything else (``H0``, "residential", CIGRE ``R1``, ``MV/LV Station``, no text) ->
       ``"H0"``.
    """
    text = " ".join(part for part in (name, load_type) if part).lower()
    if re.search(r"\bl[0-2]\b|agri|farm", text):
        return "L0"
    if re.search(r"\bg[0-6]\b|commercial|industr|business|\b(?:ci|c|i)\d+\b|\bci\b", text):
        return "G0"
    return "H0"


@lru_cache(maxsize=8)
def yearly_profile(year: int) -> pd.DataFrame:
    """BDEW H0, G0 and L0 for ``year`` at 15-min steps (naive local clock), each normalised to
    a yearly maximum of 1.0 [-]."""
    from demandlib import bdew  # imported on use: it loads its profile tables

    # demandlib 0.2 calls warnings.simplefilter("error") inside ElecSlp, for the whole process:
    # keep that change local, or every later warning anywhere becomes an exception
    with warnings.catch_warnings():
        raw = bdew.ElecSlp(year).get_scaled_power_profiles({"h0": 1.0, "g0": 1.0, "l0": 1.0})
    frame = pd.DataFrame({name: raw[name.lower()].to_numpy(dtype=float) for name in PROFILES})
    frame.index = pd.DatetimeIndex(raw.index)
    return frame / frame.max()


def _checked_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown standard load profile {profile!r}; use one of {PROFILES}")
    return profile


def standard_load_factors(
    profile: str, times: pd.DatetimeIndex, tz: str
) -> tuple[np.ndarray, np.ndarray]:
    """Active and reactive load factors [-] at ``times`` by the local clock of ``tz``.

    Parameters
    ----------
    profile : {"H0", "G0", "L0"}
    times : pandas.DatetimeIndex
        Time-zone-aware time stamps.
    tz : str
        IANA time zone of the feeder.

    Returns
    -------
    tuple of numpy.ndarray
        ``(p, q)``: ``p`` in (0, 1], 1.0 at the profile's yearly peak; ``q = p`` (each load
        keeps its own power factor: BDEW profiles give active power only).

    Raises
    ------
    ValueError
        For an unknown profile or tz-naive times.
    """
    _checked_profile(profile)
    if times.tz is None:
        raise ValueError("standard load factors need time-zone-aware times (got naive ones)")
    local = times.tz_convert(zone(tz)).tz_localize(None)
    step = pd.Timedelta(minutes=STEP_MINUTES)
    below = local.floor(f"{STEP_MINUTES}min")
    weight = np.asarray((local - below) / step, dtype=float)
    p = np.empty(len(local))
    for year in np.unique(below.year):
        mask = np.asarray(below.year == year)
        table = yearly_profile(int(year))[profile]
        following = yearly_profile(int(year) + 1)[profile].iloc[0]
        values = np.append(table.to_numpy(), following)
        position = np.asarray((below[mask] - table.index[0]) / step, dtype=np.int64)
        position = np.clip(position, 0, len(table) - 1)
        p[mask] = values[position] * (1 - weight[mask]) + values[position + 1] * weight[mask]
    return p, p.copy()
