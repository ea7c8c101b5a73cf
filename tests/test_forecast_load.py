"""BDEW standard load profiles by local clock (gridderms.forecast.load), checked against
demandlib's own tables: no mocks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from demandlib import bdew

from gridderms.forecast import load

BERLIN = "Europe/Berlin"


def _at(text: str, profile: str = "G0", tz: str = BERLIN, zone: str = BERLIN) -> float:
    times = pd.DatetimeIndex([pd.Timestamp(text, tz=tz)])
    return float(load.standard_load_factors(profile, times, zone)[0][0])


def _demandlib(year: int, profile: str, local: str) -> float:
    """demandlib's own value at a naive local stamp, over its yearly maximum."""
    with warnings.catch_warnings():  # demandlib turns every warning into an error globally
        profiles = bdew.ElecSlp(year).get_scaled_power_profiles({profile.lower(): 1.0})
    table = profiles[profile.lower()]
    return float(table.loc[pd.Timestamp(local)] / table.max())


@pytest.mark.parametrize("profile", load.PROFILES)
def test_factors_are_demandlibs_at_the_local_clock(profile: str) -> None:
    # 12:00 CEST on Monday 2026-06-22 is 10:00 UTC: it reads demandlib's 12:00 value
    assert _at("2026-06-22 10:00", profile, tz="UTC") == pytest.approx(
        _demandlib(2026, profile, "2026-06-22 12:00"), rel=1e-12
    )
    # in winter (CET) 12:00 local is 11:00 UTC
    assert _at("2026-01-14 11:00", profile, tz="UTC") == pytest.approx(
        _demandlib(2026, profile, "2026-01-14 12:00"), rel=1e-12
    )


def test_factors_in_unit_interval_with_yearly_maximum_one() -> None:
    times = pd.date_range("2026-01-01", "2026-12-31 23:45", freq="15min", tz=BERLIN)
    for profile in load.PROFILES:
        p, q = load.standard_load_factors(profile, times, BERLIN)
        assert p.min() > 0.0 and p.max() == pytest.approx(1.0)
        np.testing.assert_array_equal(p, q)
    h0, _ = load.standard_load_factors("H0", times, BERLIN)
    assert 0.4 < h0.mean() < 0.7  # an aggregate of households, not one household


def test_commercial_weekday_differs_from_sunday() -> None:
    weekday = _at("2026-06-22 11:00")  # Monday
    sunday = _at("2026-06-21 11:00")
    assert weekday > 1.5 * sunday


def test_same_clock_time_same_factor_whatever_the_series() -> None:
    stamp = pd.Timestamp("2026-06-22 14:00", tz=BERLIN)
    values = []
    for start, periods, freq in (
        ("2026-06-22 14:00", 1, "60min"),
        ("2026-06-22 08:00", 25, "15min"),
        ("2026-06-21 14:00", 25, "60min"),
        ("2026-06-22 13:30", 4, "10min"),
    ):
        times = pd.date_range(start, periods=periods, freq=freq, tz=BERLIN)
        p, _ = load.standard_load_factors("H0", times, BERLIN)
        values.append(float(p[list(times).index(stamp)]))
    assert max(values) - min(values) == 0.0


def test_linear_interpolation_between_stamps() -> None:
    low, high = _at("2026-06-22 12:00"), _at("2026-06-22 12:15")
    assert _at("2026-06-22 12:05") == pytest.approx(low + (high - low) / 3, rel=1e-12)


def test_bad_input_is_refused() -> None:
    naive = pd.DatetimeIndex([pd.Timestamp("2026-06-22 12:00")])
    with pytest.raises(ValueError, match="time-zone-aware"):
        load.standard_load_factors("H0", naive, BERLIN)
    aware = naive.tz_localize("UTC")
    with pytest.raises(ValueError, match="unknown standard load profile 'X0'"):
        load.standard_load_factors("X0", aware, BERLIN)


@pytest.mark.parametrize(
    ("name", "load_type", "expected"),
    [
        ("Load R1", "wye", "H0"),
        ("Load CI1", "wye", "G0"),
        ("Load C12", None, "G0"),
        ("Load I2", None, "G0"),
        (None, "commercial", "G0"),
        ("bakery", "Industrial", "G0"),
        ("x", "G0-A", "G0"),
        ("farm 3", None, "L0"),
        (None, "L0-A", "L0"),
        ("LV Load 4", "MV/LV Station", "H0"),
        (None, None, "H0"),
    ],
)
def test_profile_for_load(name: str | None, load_type: str | None, expected: str) -> None:
    assert load.profile_for_load(name, load_type) == expected


def test_source_label() -> None:
    assert load.source_label("H0") == "BDEW standard load profile H0 (demandlib)"
    assert load.source_label("G0, H0") == "BDEW standard load profiles G0, H0 (demandlib)"
