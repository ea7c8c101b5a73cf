"""PV available power from pvlib (gridderms.forecast.solar): real numbers, no mocks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from pvlib.location import Location

from gridderms.forecast import solar
from network_models.location import FeederLocation

#: Freiburg im Breisgau, 278 m
FREIBURG = FeederLocation(48.0, 7.85, 278.0, "Europe/Berlin")
SYDNEY = FeederLocation(-33.87, 151.21, 50.0, "Australia/Sydney")
#: agreement with pvlib's own clear-sky call [W/m2]
PVLIB_TOL_W_M2 = 0.5
#: GHI of pvlib 0.16's Ineichen model (shipped Linke turbidity) at Freiburg,
#: 2024-06-21 13:30 CEST [W/m2]
FREIBURG_GHI_W_M2 = 884.80


def _one(text: str, tz: str = "Europe/Berlin") -> pd.DatetimeIndex:
    return pd.DatetimeIndex([pd.Timestamp(text, tz=tz)])


def _pv(
    location: FeederLocation,
    times: pd.DatetimeIndex,
    tilt: float,
    azimuth: float,
    cloud_cover_percent: np.ndarray | None = None,
) -> np.ndarray:
    return solar.pv_ac_power_mw(
        location, times, np.array([1.0]), np.array([tilt]), np.array([azimuth]),
        cloud_cover_percent=cloud_cover_percent,
    )[0]


def test_clear_sky_matches_pvlib_and_physics() -> None:
    times = _one("2024-06-21 13:30")
    ours = solar.clear_sky_irradiance(FREIBURG, times)
    theirs = Location(48.0, 7.85, tz="Europe/Berlin", altitude=278.0).get_clearsky(
        times, model="ineichen"
    )
    assert list(ours.columns) == ["ghi_w_m2", "dni_w_m2", "dhi_w_m2"]
    for ours_col, their_col in (("ghi_w_m2", "ghi"), ("dni_w_m2", "dni"), ("dhi_w_m2", "dhi")):
        assert ours[ours_col].iloc[0] == pytest.approx(theirs[their_col].iloc[0],
                                                       abs=PVLIB_TOL_W_M2)
    ghi = ours["ghi_w_m2"].iloc[0]
    assert 850.0 <= ghi <= 950.0  # midsummer early afternoon at 48 N, clear sky
    assert ghi == pytest.approx(FREIBURG_GHI_W_M2, abs=PVLIB_TOL_W_M2)
    # the same instant written in UTC is the same sun
    utc = solar.clear_sky_irradiance(FREIBURG, times.tz_convert("UTC"))
    assert utc["ghi_w_m2"].iloc[0] == pytest.approx(ghi, abs=1e-9)


def test_naive_times_are_refused() -> None:
    naive = pd.date_range("2024-06-21", periods=4, freq="h")
    with pytest.raises(ValueError, match="tz-aware"):
        solar.clear_sky_irradiance(FREIBURG, naive)
    with pytest.raises(ValueError, match="tz-aware"):
        solar.pv_ac_power_mw(FREIBURG, naive, np.ones(1), np.ones(1), np.ones(1))


def test_night_and_low_sun_give_exact_zero() -> None:
    times = pd.date_range("2024-12-21 00:00", periods=96, freq="15min", tz="Europe/Berlin")
    power = solar.pv_ac_power_mw(
        FREIBURG, times, np.array([1.0, 2.0, 0.5]), np.array([30.0, 90.0, 0.0]),
        np.array([180.0, 0.0, 90.0]),
    )
    assert not np.isnan(power).any()
    assert (power >= 0.0).all()
    night = (times.hour < 7) | (times.hour >= 18)
    assert (power[:, night] == 0.0).all()
    sky = solar.clear_sky_irradiance(FREIBURG, times)
    assert (sky[night] == 0.0).all().all()
    assert power[0, ~night].max() > 0.0


def test_output_never_exceeds_nameplate() -> None:
    times = pd.date_range("2024-04-15 11:00", periods=12, freq="15min", tz="Europe/Berlin")
    nameplate = np.array([1.0, 0.2, 0.0])
    power = solar.pv_ac_power_mw(
        FREIBURG, times, nameplate, np.full(3, 35.0), np.full(3, 180.0),
        dc_ac_ratio=1.6, air_temperature_c=-5.0,
    )
    assert (power <= nameplate[:, None]).all()
    assert power[0].max() == pytest.approx(1.0)  # an oversized cold array clips at the inverter
    assert (power[2] == 0.0).all()  # a zero rating is zero, without a division warning


def test_south_beats_north_at_june_noon_and_defaults() -> None:
    noon = _one("2024-06-21 13:30")
    south = _pv(FREIBURG, noon, solar.DEFAULT_TILT_DEG, 180.0)
    north = _pv(FREIBURG, noon, solar.DEFAULT_TILT_DEG, 0.0)
    assert south[0] > north[0] > 0.0
    assert solar.DEFAULT_TILT_DEG == 30.0
    assert solar.default_azimuth_deg(FREIBURG.latitude_deg) == 180.0
    assert solar.default_azimuth_deg(SYDNEY.latitude_deg) == 0.0
    # in Sydney's summer the default (north-facing) array beats a south-facing one
    sydney_noon = _one("2024-12-21 12:30", "Australia/Sydney")
    default = _pv(SYDNEY, sydney_noon, 30.0, solar.default_azimuth_deg(SYDNEY.latitude_deg))
    assert default[0] > _pv(SYDNEY, sydney_noon, 30.0, 180.0)[0]


def test_full_cloud_cover_leaves_35_percent_of_clear_ghi() -> None:
    times = pd.date_range("2024-06-21 10:00", periods=13, freq="30min", tz="Europe/Berlin")
    clear = solar.clear_sky_irradiance(FREIBURG, times)
    overcast = solar.cloud_cover_irradiance(FREIBURG, times, np.full(13, 100.0))
    np.testing.assert_allclose(overcast["ghi_w_m2"], 0.35 * clear["ghi_w_m2"], rtol=1e-12)
    none = solar.cloud_cover_irradiance(FREIBURG, times, np.zeros(13))
    np.testing.assert_allclose(none["ghi_w_m2"], clear["ghi_w_m2"], rtol=1e-12)
    # Erbs splits the overcast GHI into mostly diffuse light
    assert (overcast["dhi_w_m2"] > 0.8 * overcast["ghi_w_m2"]).all()
    power_clear = _pv(FREIBURG, times, 30.0, 180.0)
    power_overcast = _pv(FREIBURG, times, 30.0, 180.0, cloud_cover_percent=np.full(13, 100.0))
    ratio = power_overcast / power_clear
    assert ((ratio > 0.25) & (ratio < 0.40)).all()  # roughly 35 %, less on a tilted plane


def test_cloud_cover_is_validated_by_index() -> None:
    times = pd.date_range("2024-06-21 10:00", periods=5, freq="h", tz="Europe/Berlin")
    bad = np.array([0.0, 10.0, 20.0, np.nan, 50.0])
    with pytest.raises(ValueError, match=r"cloud_cover_percent\[3\]"):
        _pv(FREIBURG, times, 30.0, 180.0, cloud_cover_percent=bad)
    with pytest.raises(ValueError, match=r"cloud_cover_percent\[1\]"):
        solar.cloud_cover_irradiance(FREIBURG, times, np.array([0.0, 101.0, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        _pv(FREIBURG, times, 30.0, 180.0, cloud_cover_percent=np.zeros(4))
    with pytest.raises(ValueError, match=r"tilt_deg\[0\]"):
        _pv(FREIBURG, times, 95.0, 180.0)


def test_same_clock_time_same_value_whatever_the_series() -> None:
    nameplate = np.array([1.0, 0.3, 0.05])
    tilt = np.array([30.0, 15.0, 30.0])
    azimuth = np.array([180.0, 90.0, 180.0])
    at = pd.Timestamp("2024-06-21 12:00", tz="Europe/Berlin")
    series = [
        pd.DatetimeIndex([at]),
        pd.date_range("2024-06-21 09:00", periods=6, freq="h", tz="Europe/Berlin"),
        pd.date_range("2024-06-21 00:00", periods=96, freq="15min", tz="Europe/Berlin"),
    ]
    values = []
    for times in series:
        power = solar.pv_ac_power_mw(FREIBURG, times, nameplate, tilt, azimuth)
        values.append(power[:, times.get_loc(at)])
    for other in values[1:]:
        np.testing.assert_allclose(other, values[0], rtol=1e-12, atol=0.0)
    # identical systems get identical rows (irradiance is shared per orientation)
    assert values[0][0] == pytest.approx(values[0][2] / 0.05)


def test_zero_nameplate_raises_no_warning() -> None:
    times = pd.date_range("2024-06-21 06:00", periods=8, freq="2h", tz="Europe/Berlin")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        power = solar.pv_ac_power_mw(FREIBURG, times, np.zeros(2), np.full(2, 30.0),
                                     np.full(2, 180.0))
    assert (power == 0.0).all()


def test_source_label_names_the_site() -> None:
    assert solar.source_label(FeederLocation(48.4, 7.9)) == "pvlib clear-sky at 48.4 N 7.9 E"
