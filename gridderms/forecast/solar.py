"""PV available power from pvlib: clear sky (optionally scaled by cloud cover) at the feeder.

The chain, per PV system, is the PVWatts one:

1. **Sky irradiance** at the feeder's location: pvlib's Ineichen-Perez clear-sky model
   (``Location.get_clearsky(times, model="ineichen")``) with pvlib's shipped monthly Linke
   turbidity climatology, the site's altitude and the apparent (refraction-corrected) sun
   position. With a cloud cover, GHI follows the linear relation of pvlib's former forecast
   module (``ForecastModel.cloud_cover_to_ghi_linear``, removed in pvlib 0.10),
   ``ghi = (offset + (1 - offset) (1 - cc / 100)) ghi_clear`` with offset 35 %, and DNI / DHI
   are split from that GHI by the Erbs model (:func:`pvlib.irradiance.erbs`).
2. **Plane of array** for each system's tilt and azimuth: the Hay-Davies transposition
   (:func:`pvlib.irradiance.get_total_irradiance`, ``model="haydavies"``, with the
   extraterrestrial DNI of :func:`pvlib.irradiance.get_extra_radiation`) and ground reflection
   with albedo 0.25; the plane-of-array global irradiance is used as effective irradiance
   (no angle-of-incidence or spectral loss). It is computed once per distinct (tilt, azimuth).
3. **Cell temperature**: the Faiman model (:func:`pvlib.temperature.faiman`, u0 25, u1 6.84).
4. **DC power**: :func:`pvlib.pvsystem.pvwatts_dc` with ``gamma_pdc`` -0.0037 1/K and a DC
   rating of nameplate x :data:`DEFAULT_DC_AC_RATIO`, less the PVWatts system losses
   (:func:`pvlib.pvsystem.pvwatts_losses`, default 14.08 %).
5. **AC power**: the PVWatts inverter (:func:`pvlib.inverter.pvwatts`, ``eta_inv_nom`` 0.96)
   rated at the nameplate, so the output never exceeds ``p_nameplate_mw``.

Night and a sun below the horizon give exactly 0.0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pvlib import inverter, irradiance, pvsystem, temperature
from pvlib.location import Location

from network_models.location import FeederLocation

DEFAULT_TILT_DEG = 30.0
"""Array tilt from horizontal used when a PV system declares none [degrees]."""

NORTHERN_AZIMUTH_DEG = 180.0
"""Default azimuth north of the equator (and on it): facing south [degrees clockwise from N]."""

SOUTHERN_AZIMUTH_DEG = 0.0
"""Default azimuth south of the equator: facing north [degrees clockwise from north]."""

DEFAULT_DC_AC_RATIO = 1.1
"""DC (module) rating over AC (inverter, = nameplate) rating [-]."""

GAMMA_PDC_PER_K = -0.0037
"""PVWatts temperature coefficient of DC power [1/K]."""

ETA_INV_NOM = 0.96
"""PVWatts nominal inverter efficiency [-]."""

DEFAULT_LOSSES_PERCENT = float(pvsystem.pvwatts_losses())
"""PVWatts system losses with pvlib's default components (soiling, shading, ...) [%]."""

DEFAULT_ALBEDO = 0.25
"""Ground reflectance for the ground-reflected plane-of-array irradiance [-]."""

CLOUD_OFFSET_PERCENT = 35.0
"""Share of clear-sky GHI left under full cloud cover [%] (pvlib's former forecast module)."""

TRANSPOSITION_MODEL = "haydavies"
"""pvlib sky-diffuse transposition model."""

IRRADIANCE_COLUMNS = ("ghi_w_m2", "dni_w_m2", "dhi_w_m2")
"""Columns of the irradiance frames [W/m2]."""


def default_azimuth_deg(latitude_deg: float) -> float:
    """Equator-facing azimuth [degrees clockwise from north] at ``latitude_deg`` [degrees N].

    180 (south) in the northern hemisphere and on the equator, 0 (north) in the southern.
    """
    return NORTHERN_AZIMUTH_DEG if latitude_deg >= 0 else SOUTHERN_AZIMUTH_DEG


def source_label(location: FeederLocation) -> str:
    """Where the PV forecast comes from, e.g. ``"pvlib clear-sky at 48.4 N 7.9 E"``."""
    return f"pvlib clear-sky at {location.label()}"


def cloudy_ghi_w_m2(
    ghi_clear_w_m2: np.ndarray,
    cloud_cover_percent: np.ndarray,
    offset_percent: float = CLOUD_OFFSET_PERCENT,
) -> np.ndarray:
    """GHI under a cloud cover [W/m2] by the linear relation of pvlib's former forecast module.

    ``ghi = (offset + (1 - offset) (1 - cc / 100)) ghi_clear`` (pvlib <= 0.9
    ``ForecastModel.cloud_cover_to_ghi_linear``, offset 35 % there and here).

    Parameters
    ----------
    ghi_clear_w_m2 : numpy.ndarray
        Clear-sky GHI [W/m2].
    cloud_cover_percent : numpy.ndarray
        Total cloud cover [%], 0 .. 100, the same shape.
    offset_percent : float
        GHI share left under full cover [%].
    """
    offset = offset_percent / 100.0
    cover = np.asarray(cloud_cover_percent, dtype=float) / 100.0
    return (offset + (1.0 - offset) * (1.0 - cover)) * np.asarray(ghi_clear_w_m2, dtype=float)


def clear_sky_irradiance(location: FeederLocation, times: pd.DatetimeIndex) -> pd.DataFrame:
    """Ineichen clear-sky irradiance at ``location`` [W/m2].

    Returns a frame indexed by ``times`` (tz-aware, any zone) with columns ``ghi_w_m2``,
    ``dni_w_m2`` and ``dhi_w_m2`` [W/m2], >= 0; raises ValueError for naive times.
    """
    times = _checked_times(times)
    _, sky = _sky(location, times, None)
    return sky


def cloud_cover_irradiance(
    location: FeederLocation, times: pd.DatetimeIndex, cloud_cover_percent: np.ndarray
) -> pd.DataFrame:
    """Irradiance under a cloud cover [W/m2]: scaled clear-sky GHI, Erbs DNI / DHI split.

    ``cloud_cover_percent`` [%] has one value in 0 .. 100 per time; the frame is as in
    :func:`clear_sky_irradiance`. Raises ValueError for naive times or a cover of the wrong
    shape, NaN or out of range (index named).
    """
    times = _checked_times(times)
    cover = _checked_cloud_cover(cloud_cover_percent, len(times))
    _, sky = _sky(location, times, cover)
    return sky


def plane_of_array_w_m2(
    location: FeederLocation,
    times: pd.DatetimeIndex,
    tilt_deg: np.ndarray,
    azimuth_deg: np.ndarray,
    *,
    cloud_cover_percent: np.ndarray | None = None,
    albedo: float = DEFAULT_ALBEDO,
) -> np.ndarray:
    """Plane-of-array global irradiance [W/m2], shape ``(len(tilt_deg), len(times))``.

    Hay-Davies transposition of the clear-sky (or cloud-scaled) irradiance for each
    orientation; 0.0 where the sun is below the horizon.
    """
    times = _checked_times(times)
    tilt, azimuth = _checked_orientation(np.asarray(tilt_deg), np.asarray(azimuth_deg))
    cover = None if cloud_cover_percent is None else _checked_cloud_cover(
        cloud_cover_percent, len(times)
    )
    if len(times) == 0 or len(tilt) == 0:
        return np.zeros((len(tilt), len(times)))
    position, sky = _sky(location, times, cover)
    return _poa(position, sky, tilt, azimuth, albedo)


def pv_ac_power_mw(
    location: FeederLocation,
    times: pd.DatetimeIndex,
    p_nameplate_mw: np.ndarray,
    tilt_deg: np.ndarray,
    azimuth_deg: np.ndarray,
    *,
    cloud_cover_percent: np.ndarray | None = None,
    air_temperature_c: float = 20.0,
    wind_speed_m_s: float = 1.0,
    dc_ac_ratio: float = DEFAULT_DC_AC_RATIO,
    losses_percent: float = DEFAULT_LOSSES_PERCENT,
    albedo: float = DEFAULT_ALBEDO,
) -> np.ndarray:
    """Available AC power of PV systems [MW], shape ``(n_der, len(times))``.

    Parameters
    ----------
    location : FeederLocation
        Where the feeder is (sun path, altitude).
    times : pandas.DatetimeIndex
        Tz-aware instants at which the power is wanted.
    p_nameplate_mw : numpy.ndarray
        AC (inverter) rating of each system [MW], >= 0, shape ``(n_der,)``.
    tilt_deg, azimuth_deg : numpy.ndarray
        Tilt from horizontal [degrees], 0 .. 90, and azimuth clockwise from north [degrees],
        0 .. 360, of each system, shape ``(n_der,)``.
    cloud_cover_percent : numpy.ndarray, optional
        Total cloud cover per time [%], shape ``(len(times),)``; default clear sky.
    air_temperature_c : float
        Ambient air temperature [degC].
    wind_speed_m_s : float
        Wind speed [m/s].
    dc_ac_ratio : float
        DC rating over nameplate [-], > 0.
    losses_percent : float
        PVWatts system losses [%], 0 .. 100.
    albedo : float
        Ground reflectance [-].

    Returns
    -------
    numpy.ndarray
        ``0 <= p <= p_nameplate_mw`` [MW]; exactly 0.0 at night.

    Raises
    ------
    ValueError
        For naive times, arrays of mismatched shape, or values out of range (index named).
    """
    times = _checked_times(times)
    nameplate = np.asarray(p_nameplate_mw, dtype=float)
    if nameplate.ndim != 1:
        raise ValueError(f"p_nameplate_mw must be 1-D, got shape {nameplate.shape}")
    _check_range("p_nameplate_mw", nameplate, 0.0, np.inf)
    tilt, azimuth = _checked_orientation(
        np.broadcast_to(np.asarray(tilt_deg, dtype=float), nameplate.shape),
        np.broadcast_to(np.asarray(azimuth_deg, dtype=float), nameplate.shape),
    )
    if not dc_ac_ratio > 0:
        raise ValueError(f"dc_ac_ratio must be > 0, got {dc_ac_ratio}")
    if not 0.0 <= losses_percent <= 100.0:
        raise ValueError(f"losses_percent must be in [0, 100], got {losses_percent}")
    if len(times) == 0 or len(nameplate) == 0:
        return np.zeros((len(nameplate), len(times)))
    pairs, inverse = np.unique(np.column_stack([tilt, azimuth]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    poa = plane_of_array_w_m2(
        location, times, pairs[:, 0], pairs[:, 1],
        cloud_cover_percent=cloud_cover_percent, albedo=albedo,
    )
    cell_c = temperature.faiman(poa, air_temperature_c, wind_speed_m_s)
    p_dc = pvsystem.pvwatts_dc(
        poa[inverse], cell_c[inverse], nameplate[:, None] * dc_ac_ratio, GAMMA_PDC_PER_K
    ) * (1.0 - losses_percent / 100.0)
    rated = nameplate > 0
    # a zero rating would divide by zero in the inverter model: rate it 1 MW, zero it after
    inverter_dc_mw = np.where(rated, nameplate, 1.0)[:, None] / ETA_INV_NOM
    p_ac = inverter.pvwatts(np.maximum(p_dc, 0.0), inverter_dc_mw, eta_inv_nom=ETA_INV_NOM)
    p_ac = np.where(rated[:, None] & (poa[inverse] > 0), np.nan_to_num(p_ac, nan=0.0), 0.0)
    return np.clip(p_ac, 0.0, nameplate[:, None])


def _sky(
    location: FeederLocation, times: pd.DatetimeIndex, cover: np.ndarray | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Solar position and sky irradiance (clear or cloud-scaled) [W/m2] at ``times``."""
    site = Location(
        location.latitude_deg, location.longitude_deg, tz=location.tz,
        altitude=location.altitude_m,
    )
    position = site.get_solarposition(times)
    clear = site.get_clearsky(times, model="ineichen", solar_position=position)
    ghi = clear["ghi"].to_numpy(dtype=float)
    dni = clear["dni"].to_numpy(dtype=float)
    dhi = clear["dhi"].to_numpy(dtype=float)
    if cover is not None:
        ghi = cloudy_ghi_w_m2(ghi, cover)
        split = irradiance.erbs(pd.Series(ghi, index=times), position["zenith"], times)
        dni = np.asarray(split["dni"], dtype=float)
        dhi = np.asarray(split["dhi"], dtype=float)
    up = position["apparent_zenith"].to_numpy(dtype=float) < 90.0
    columns = {
        name: np.where(up, np.clip(np.nan_to_num(values, nan=0.0), 0.0, None), 0.0)
        for name, values in zip(IRRADIANCE_COLUMNS, (ghi, dni, dhi), strict=True)
    }
    return position, pd.DataFrame(columns, index=times)


def _poa(
    position: pd.DataFrame,
    sky: pd.DataFrame,
    tilt: np.ndarray,
    azimuth: np.ndarray,
    albedo: float,
) -> np.ndarray:
    """Hay-Davies plane-of-array global irradiance [W/m2] (orientation x time)."""
    zenith = position["apparent_zenith"].to_numpy(dtype=float)
    total = irradiance.get_total_irradiance(
        tilt[:, None], azimuth[:, None], zenith, position["azimuth"].to_numpy(dtype=float),
        sky["dni_w_m2"].to_numpy(), sky["ghi_w_m2"].to_numpy(), sky["dhi_w_m2"].to_numpy(),
        dni_extra=irradiance.get_extra_radiation(position.index).to_numpy(dtype=float),
        albedo=albedo, model=TRANSPOSITION_MODEL,
    )
    poa = np.clip(np.nan_to_num(np.asarray(total["poa_global"], dtype=float), nan=0.0), 0, None)
    return np.where((zenith < 90.0)[None, :], poa, 0.0)


def _checked_times(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    if not isinstance(times, pd.DatetimeIndex) or times.tz is None:
        raise ValueError(
            "times must be a tz-aware pandas DatetimeIndex (e.g. localised to "
            "'Europe/Berlin'): the sun's position needs the instant, not a clock reading"
        )
    return times


def _checked_cloud_cover(cloud_cover_percent: np.ndarray, n_times: int) -> np.ndarray:
    cover = np.asarray(cloud_cover_percent, dtype=float)
    if cover.shape != (n_times,):
        raise ValueError(f"cloud_cover_percent must have shape ({n_times},), got {cover.shape}")
    _check_range("cloud_cover_percent", cover, 0.0, 100.0)
    return cover


def _checked_orientation(tilt: np.ndarray, azimuth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tilt, azimuth = np.asarray(tilt, dtype=float), np.asarray(azimuth, dtype=float)
    if tilt.ndim != 1 or tilt.shape != azimuth.shape:
        raise ValueError(f"tilt_deg and azimuth_deg must be 1-D of one length: {tilt.shape}, "
                         f"{azimuth.shape}")
    _check_range("tilt_deg", tilt, 0.0, 90.0)
    _check_range("azimuth_deg", azimuth, 0.0, 360.0)
    return tilt, azimuth


def _check_range(name: str, values: np.ndarray, low: float, high: float) -> None:
    """Raise ValueError naming the first index of ``values`` that is NaN or out of range."""
    bad = ~((values >= low) & (values <= high))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{index}] = {values[index]} is not in [{low:g}, {high:g}]")
