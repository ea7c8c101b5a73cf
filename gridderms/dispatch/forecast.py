"""What the dispatch expects over its horizon: load set-points and the available power of every
generating DER, each with where it came from.

Three modes, by what the feeder has and what the caller asks for:

``snapshot``
    Every period uses the model as given: loads at their ``p_mw`` / ``q_mvar``, each sgen's
    ``p_mw`` is its available power. What a planner means by "dispatch this case".
``profiles``
    A feeder with profiles (SimBench) uses the profile step at the horizon's clock time
    (:func:`profile_step`): loads and sgens from the profiles.
``standard``
    Otherwise loads follow a standard load profile by local time of day, weekday and season
    (:mod:`gridderms.forecast.load`), scaled so that a load's ``p_mw`` is its value at the
    profile's yearly peak, and PV follows the pvlib clear-sky forecast at the feeder's location
    for each system's tilt and azimuth (:mod:`gridderms.forecast.solar`). Other generators are
    available at their ``p_available_mw``.

Forecasts depend on the clock time of each period only: the same hour gives the same forecast
whatever the horizon's start or length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd

from gridderms.ders.records import DerRecord, DistributedGenerator, PvSystem
from gridderms.dispatch.horizon import Horizon
from network_models.feeder import Feeder
from network_models.location import zone
from network_models.profiles import FeederProfiles

ForecastMode = Literal["snapshot", "profiles", "standard"]


@dataclass(frozen=True)
class DispatchForecast:
    """Loads and DER availability per period, with issue time and sources.

    Attributes
    ----------
    profiles : FeederProfiles
        Load set-points (and, on feeders with profiles, sgen outputs) per period [MW, MVAr].
    available_mw : numpy.ndarray
        DER x period: available active power of PV systems and generators [MW] (NaN for
        other DERs).
    der_source : list of str
        Per DER: where its available power came from (empty for other DERs).
    load_source : str
        Where the loads came from.
    mode : {"snapshot", "profiles", "standard"}
    issued_at : pandas.Timestamp
        When the forecast was made (UTC).
    start : pandas.Timestamp
        Start of the first period (UTC).
    step_minutes : int
    profile_step : int or None
        First profile step (feeders with profiles).
    """

    profiles: FeederProfiles
    available_mw: np.ndarray
    der_source: list[str]
    load_source: str
    mode: ForecastMode
    issued_at: pd.Timestamp
    start: pd.Timestamp
    step_minutes: int
    profile_step: int | None = None

    @property
    def n_periods(self) -> int:
        """Number of periods."""
        return self.profiles.n_steps

    def summary(self) -> dict[str, object]:
        """JSON-ready summary: issue time, horizon, sources and available DER power per
        period [MW]."""
        sources = Counter(source for source in self.der_source if source)
        available = np.nan_to_num(self.available_mw, nan=0.0)
        return {
            "mode": self.mode,
            "issued_at": self.issued_at.isoformat(),
            "start": self.start.isoformat(),
            "horizon_h": self.n_periods * self.step_minutes / 60.0,
            "step_minutes": self.step_minutes,
            "profile_step": self.profile_step,
            "load_source": self.load_source,
            "der_sources": dict(sources),
            "available_der_mw": [round(float(v), 6) for v in available.sum(axis=0)],
        }


def utc(timestamp: pd.Timestamp) -> pd.Timestamp:
    """``timestamp`` in UTC (a naive time stamp is read as UTC)."""
    return timestamp.tz_localize("UTC") if timestamp.tzinfo is None else timestamp.tz_convert("UTC")


def profile_clock_utc(start: pd.Timestamp, tz: str) -> pd.Timestamp:
    """A naive profile time stamp in UTC, read as the local *standard* time of ``tz``.

    Profile steps are uniform in real time: SimBench's 35,136 steps start at 2016-01-01
    00:00 CET and its stamps follow the legal clock (they skip an hour in March and repeat one
    in October; :mod:`gridderms.forecast.load`). A naive start computed as ``2016-01-01 +
    k x 15 min`` therefore counts in standard time (UTC+1 for Europe/Berlin all year).
    """
    standard = zone(tz).utcoffset(datetime(start.year, 1, 1))
    assert standard is not None
    return (start - pd.Timedelta(standard)).tz_localize("UTC")


def profile_times(profiles: FeederProfiles, tz: str) -> pd.DatetimeIndex:
    """UTC time stamps of every profile step (naive stamps: :func:`profile_clock_utc`)."""
    start = profiles.start
    if start.tzinfo is None:
        start = profile_clock_utc(start, tz)
    return pd.date_range(
        utc(start), periods=profiles.n_steps, freq=f"{profiles.step_minutes}min"
    )


def profile_step(feeder: Feeder, start: pd.Timestamp, n_periods: int) -> int:
    """The profile step at clock time ``start`` on a feeder with profiles.

    Raises
    ------
    ValueError
        For a start between steps or a horizon outside the profiles (the range named).
    """
    profiles = feeder.profiles
    assert profiles is not None
    times = profile_times(profiles, feeder.location.tz)
    offset = (utc(start) - times[0]) / pd.Timedelta(minutes=profiles.step_minutes)
    step = round(offset)
    local = feeder.location.tz
    first, last = times[0].tz_convert(local), times[-1].tz_convert(local)
    if abs(offset - step) > 1e-9:
        raise ValueError(
            f"start {utc(start).isoformat()} is not on a {profiles.step_minutes}-min step of "
            f"feeder '{feeder.name}''s profiles (steps from {first.isoformat()})"
        )
    if step < 0 or step + n_periods > profiles.n_steps:
        raise ValueError(
            f"feeder '{feeder.name}' has profiles from {first.isoformat()} to "
            f"{last.isoformat()} ({local}, steps 0..{profiles.n_steps - 1}); a {n_periods}-period "
            f"horizon from {utc(start).tz_convert(local).isoformat()} (step {step}) is outside "
            f"them"
        )
    return step


def _profile_window(feeder: Feeder, step: int, n: int) -> FeederProfiles:
    profiles = feeder.profiles
    assert profiles is not None
    window = {
        key: frame.iloc[step : step + n].reset_index(drop=True)
        for key, frame in profiles.values.items()
    }
    start = profiles.start + pd.Timedelta(minutes=profiles.step_minutes * step)
    return FeederProfiles(values=window, step_minutes=profiles.step_minutes, start=start)


def _constant_loads(feeder: Feeder, n: int, horizon: Horizon) -> FeederProfiles:
    load = feeder.net.load
    return FeederProfiles(
        values={
            ("load", column): pd.DataFrame(
                np.tile(load[column].to_numpy(dtype=float), (n, 1)), columns=load.index
            )
            for column in ("p_mw", "q_mvar")
        },
        step_minutes=horizon.step_minutes,
        start=horizon.start,
    )


def _standard_loads(feeder: Feeder, horizon: Horizon) -> tuple[FeederProfiles, str]:
    """Loads scaled by their standard profile at each period's mid-point (local time)."""
    from gridderms.forecast import load as load_profiles  # demandlib loads its tables on use

    load = feeder.net.load
    mid = horizon.period_midpoints()
    tz = feeder.location.tz
    blank = [None] * len(load)
    kinds = [
        load_profiles.profile_for_load(_text(name), _text(kind))
        for name, kind in zip(load.get("name", blank), load.get("type", blank), strict=True)
    ]
    p = np.zeros((len(mid), len(load)))
    q = np.zeros((len(mid), len(load)))
    for kind in sorted(set(kinds)):
        columns = np.array([k == kind for k in kinds])
        p_factor, q_factor = load_profiles.standard_load_factors(kind, mid, tz)
        p[:, columns] = np.outer(p_factor, load.p_mw.to_numpy(dtype=float)[columns])
        # BDEW gives active power only: q_factor = p_factor, each load keeps its power factor
        q[:, columns] = np.outer(q_factor, load.q_mvar.to_numpy(dtype=float)[columns])
    used = ", ".join(sorted(set(kinds)))
    label = (
        f"{load_profiles.source_label(used)} by local time ({tz}), loads' p_mw at the "
        f"profile's yearly peak"
    )
    values = {
        ("load", "p_mw"): pd.DataFrame(p, columns=load.index),
        ("load", "q_mvar"): pd.DataFrame(q, columns=load.index),
    }
    return FeederProfiles(values, horizon.step_minutes, horizon.start), label


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _sgen_values(
    profiles: FeederProfiles, element: tuple[str, int]
) -> np.ndarray | None:
    frame = profiles.values.get(("sgen", "p_mw"))
    if element[0] == "sgen" and frame is not None and element[1] in frame.columns:
        return frame[element[1]].to_numpy(dtype=float)
    return None


def _pv_clear_sky(
    feeder: Feeder,
    ders: Sequence[DerRecord],
    positions: list[int],
    horizon: Horizon,
    cloud_cover_percent: np.ndarray | None = None,
) -> np.ndarray:
    """Clear-sky AC power of the PV systems at ``positions`` [MW] (position x period),
    scaled by a cloud-cover series [%] (one value per period) when given."""
    from gridderms.forecast import solar
    location = feeder.location
    mid = horizon.period_midpoints()
    systems = [ders[i] for i in positions]
    assert all(isinstance(der, PvSystem) for der in systems)
    nameplate = np.array([der.p_nameplate_mw for der in systems])  # type: ignore[union-attr]
    tilt = np.array(
        [
            solar.DEFAULT_TILT_DEG if der.tilt_deg is None else der.tilt_deg  # type: ignore[union-attr]
            for der in systems
        ]
    )
    default_azimuth = solar.default_azimuth_deg(location.latitude_deg)
    azimuth = np.array(
        [
            default_azimuth if der.azimuth_deg is None else der.azimuth_deg  # type: ignore[union-attr]
            for der in systems
        ]
    )
    return solar.pv_ac_power_mw(
        location, mid, nameplate, tilt, azimuth, cloud_cover_percent=cloud_cover_percent
    )


def _pv_label(feeder: Feeder, cloudy: bool = False) -> str:
    from gridderms.forecast import solar

    label = solar.source_label(feeder.location)
    return f"{label}, scaled by the given cloud cover" if cloudy else label


def build_forecast(
    feeder: Feeder,
    ders: Sequence[DerRecord],
    elements: Sequence[tuple[str, int]],
    horizon: Horizon,
    *,
    snapshot: bool = False,
    start_step: int | None = None,
    issued_at: pd.Timestamp | None = None,
    cloud_cover_percent: Sequence[float] | None = None,
) -> DispatchForecast:
    """The forecast of a dispatch of ``ders`` on ``feeder`` over ``horizon``.

    Parameters
    ----------
    feeder : Feeder
    ders : sequence of DerRecord
    elements : sequence of (table, id)
        The pandapower element of each DER.
    horizon : Horizon
    snapshot : bool
        Use the model's own values in every period (see the module docstring).
    start_step : int, optional
        First profile step on a feeder with profiles; default: the step at
        ``horizon.start`` (:func:`profile_step`).
    issued_at : pandas.Timestamp, optional
        Issue time; default now.
    cloud_cover_percent : sequence of float, optional
        Cloud cover per period [%] (0 clear .. 100 overcast) for the pvlib PV forecast
        (pvlib's linear cloud-cover relation, :func:`gridderms.forecast.solar.cloudy_ghi_w_m2`).

    Raises
    ------
    ValueError
        For a horizon outside a feeder's profiles or with another step length, or a cloud
        cover series of another length or outside 0..100 %.
    """
    n = horizon.n_periods
    cloud = None
    if cloud_cover_percent is not None:
        cloud = np.asarray(cloud_cover_percent, dtype=float)
        if cloud.shape != (n,):
            raise ValueError(
                f"cloud_cover_percent has {cloud.size} values; the horizon has {n} periods"
            )
    issued = utc(issued_at) if issued_at is not None else pd.Timestamp.now(tz="UTC")
    start = utc(horizon.start)
    available = np.full((len(ders), n), np.nan)
    source = [""] * len(ders)
    step: int | None = None
    generating = [
        i for i, der in enumerate(ders) if isinstance(der, PvSystem | DistributedGenerator)
    ]
    if snapshot:
        mode: ForecastMode = "snapshot"
        profiles = _constant_loads(feeder, n, horizon)
        load_source = "snapshot: the model's load p_mw / q_mvar"
        for i in generating:
            der = ders[i]
            assert isinstance(der, PvSystem | DistributedGenerator)
            available[i] = der.p_available_mw
            source[i] = "snapshot: the model's p_mw"
    elif feeder.profiles is not None:
        mode = "profiles"
        if horizon.step_minutes != feeder.profiles.step_minutes:
            raise ValueError(
                f"feeder '{feeder.name}' has {feeder.profiles.step_minutes}-min profiles; "
                f"dispatch it with --step-min {feeder.profiles.step_minutes}"
            )
        step = start_step if start_step is not None else profile_step(feeder, start, n)
        if step < 0 or step + n > feeder.profiles.n_steps:
            raise ValueError(
                f"periods {step}..{step + n - 1} are outside the profiles "
                f"(0..{feeder.profiles.n_steps - 1})"
            )
        profiles = _profile_window(feeder, step, n)
        load_source = f"profile steps {step}..{step + n - 1} of feeder '{feeder.name}'"
        pv_missing: list[int] = []
        for i in generating:
            values = _sgen_values(profiles, elements[i])
            if values is not None:
                available[i] = values
                source[i] = f"profile step {step}"
            elif isinstance(ders[i], PvSystem):
                pv_missing.append(i)
            else:
                available[i] = ders[i].p_available_mw  # type: ignore[union-attr]
                source[i] = "registry p_available_mw"
        if pv_missing:
            available[pv_missing] = _pv_clear_sky(feeder, ders, pv_missing, horizon, cloud)
            for i in pv_missing:
                source[i] = _pv_label(feeder, cloud is not None)
    else:
        mode = "standard"
        profiles, load_source = _standard_loads(feeder, horizon)
        pv = [i for i in generating if isinstance(ders[i], PvSystem)]
        if pv:
            available[pv] = _pv_clear_sky(feeder, ders, pv, horizon, cloud)
        label = _pv_label(feeder, cloud is not None)
        for i in generating:
            if isinstance(ders[i], PvSystem):
                source[i] = label
            else:
                available[i] = ders[i].p_available_mw  # type: ignore[union-attr]
                source[i] = "registry p_available_mw (constant)"
    for i in generating:  # a declared limit caps what is available
        limit = ders[i].p_limit_mw  # type: ignore[union-attr]
        if limit is not None:
            available[i] = np.minimum(available[i], limit)
    window = FeederProfiles(profiles.values, horizon.step_minutes, start)
    # in field order: profiles, available_mw, der_source, load_source, mode, issued_at, start,
    # step_minutes, profile_step
    return DispatchForecast(
        window, available, source, load_source, mode, issued, start, horizon.step_minutes, step
    )


def forecast_profiles(
    feeder: Feeder, ders: Sequence[DerRecord], horizon: Horizon
) -> tuple[FeederProfiles, DispatchForecast]:
    """Profiles for an (undispatched) time-series power flow of the forecast: loads as
    :func:`build_forecast` gives them and every sgen-backed PV system or generator at its
    available power [MW]."""
    elements = [der.source_element or ("", -1) for der in ders]
    forecast = build_forecast(feeder, ders, elements, horizon)
    values = dict(forecast.profiles.values)
    sgens = [
        (i, element[1])
        for i, element in enumerate(elements)
        if element[0] == "sgen" and np.isfinite(forecast.available_mw[i]).all()
    ]
    if sgens:
        frame = pd.DataFrame(
            forecast.available_mw[[i for i, _ in sgens]].T, columns=[sgen for _, sgen in sgens]
        )
        old = values.get(("sgen", "p_mw"))
        if old is not None:
            frame = pd.concat([old.drop(columns=frame.columns, errors="ignore"), frame], axis=1)
        values[("sgen", "p_mw")] = frame
    profiles = FeederProfiles(values, horizon.step_minutes, forecast.start)
    return profiles, forecast
