"""Dispatch a loaded feeder: its DER registry, a forecast, limits and an objective in; a schedule
verified by AC power flow (or a diagnosis) out."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from gridderms.ders.inventory import default_capability_note, feeder_names
from gridderms.ders.records import DerRecord, PvSystem
from gridderms.dispatch.fleet import attach_elements, build_fleet
from gridderms.dispatch.forecast import DispatchForecast, build_forecast
from gridderms.dispatch.horizon import Horizon
from network_models.feeder import Feeder
from network_models.location import default_location_note
from solvers.acmodel import cached_ac_model, compile_ac_model
from solvers.cancel import StopCheck, checkpoint, stop_when
from solvers.limits import DispatchLimits, HeadLimits, HostingCapacityLimit, OperatingLimits
from solvers.opf.objective import Objective
from solvers.opf.pipeline import run_dispatch
from solvers.opf.request import DispatchRequest, DispatchResult


def hosting_capacity_limits(
    feeder: Feeder,
    ders: Sequence[DerRecord],
    per_bus_mw: dict[int, float],
    per_feeder_mw: dict[str, float],
) -> tuple[HostingCapacityLimit, ...]:
    """Hosting-capacity caps on the DERs at a bus or on a feeder (``feeder-<head bus>``).

    Raises
    ------
    ValueError
        For a bus or feeder the feeder does not have, or a negative or non-finite cap.
    """
    bus_of = np.array([der.bus for der in ders], dtype=np.int64)
    names = feeder_names(feeder)
    feeder_of = np.array([names.get(int(b), "de-energized") for b in bus_of])
    caps = []
    for kind, limits, where in (("bus", per_bus_mw, bus_of), ("feeder", per_feeder_mw, feeder_of)):
        known = set(feeder.net.bus.index) if kind == "bus" else set(names.values())
        for key, p_max_mw in limits.items():
            if key not in known:
                raise ValueError(f"hosting capacity given for unknown {kind} {key!r}")
            if not (np.isfinite(p_max_mw) and p_max_mw >= 0):
                raise ValueError(
                    f"hosting capacity of {kind} {key!r} must be a finite "
                    f"non-negative power [MW], got {p_max_mw}"
                )
            members = np.flatnonzero(where == key)
            caps.append(HostingCapacityLimit(f"{kind} {key}", members, float(p_max_mw)))
    return tuple(caps)


def dispatch_feeder(
    feeder: Feeder,
    ders: Sequence[DerRecord],
    horizon: Horizon,
    *,
    objective: Objective | None = None,
    limits: OperatingLimits | None = None,
    head: HeadLimits | None = None,
    start_step: int | None = None,
    snapshot: bool = False,
    forecast: DispatchForecast | None = None,
    cloud_cover_percent: Sequence[float] | None = None,
    overrides: dict[str, tuple[float, float]] | None = None,
    formulation: str = "lindistflow",
    bus_hosting_capacity_mw: dict[int, float] | None = None,
    feeder_hosting_capacity_mw: dict[str, float] | None = None,
    backend: str = "highspy",
    should_stop: StopCheck | None = None,
) -> DispatchResult:
    """Dispatch ``ders`` on ``feeder`` over ``horizon``.

    DERs without a pandapower element are added to a working copy of the net; the feeder
    itself is not changed. The forecast is :func:`~gridderms.dispatch.forecast.build_forecast`
    (``snapshot`` and ``start_step`` as there) unless the caller passes its own ``forecast``
    (one row of ``available_mw`` per DER of ``ders``).

    ``should_stop`` (cheap, see :mod:`solvers.cancel`) is asked after the forecast and all
    through :func:`~solvers.opf.pipeline.run_dispatch`; when it answers true the dispatch
    raises :class:`~solvers.cancel.SolveCancelled`.
    """
    limits = limits or OperatingLimits()
    head = head or HeadLimits()
    if any(der.source_element is None for der in ders):
        net = copy.deepcopy(feeder.net)
        elements = attach_elements(net, ders)
        model = compile_ac_model(net)
    else:
        net = feeder.net
        elements = attach_elements(net, ders)
        model = cached_ac_model(feeder)
    caps = hosting_capacity_limits(
        feeder, ders, bus_hosting_capacity_mw or {}, feeder_hosting_capacity_mw or {}
    )
    if forecast is None:
        forecast = build_forecast(
            feeder,
            ders,
            elements,
            horizon,
            snapshot=snapshot,
            start_step=start_step,
            cloud_cover_percent=cloud_cover_percent,
        )
    elif forecast.available_mw.shape != (len(ders), horizon.n_periods):
        raise ValueError(
            f"the given forecast covers {forecast.available_mw.shape} DERs x periods; the "
            f"dispatch has {len(ders)} DERs and {horizon.n_periods} periods"
        )
    fleet = build_fleet(ders, elements, forecast, horizon, overrides)
    request = DispatchRequest(
        fleet=fleet,
        forecast=forecast.profiles,
        limits=DispatchLimits.of(limits, head, horizon.n_periods, caps),
        objective=objective or Objective(),
        dt_h=horizon.dt_h,
        formulation=formulation,
        backend=backend,
    )
    with stop_when(should_stop):
        checkpoint("after the forecast")
        result = run_dispatch(net, model, request)
    notes = (*input_notes(feeder, ders, forecast), *result.notes)
    return replace(result, notes=notes, forecast=forecast.summary())


def input_notes(
    feeder: Feeder, ders: Sequence[DerRecord], forecast: DispatchForecast
) -> tuple[str, ...]:
    """What a dispatch assumed: a default location, IEEE 1547 default reactive ranges, and PV
    with nothing available (night)."""
    notes: list[str] = []
    if feeder.location.source == "default" and forecast.mode == "standard":
        notes.append(default_location_note(feeder.name))
    capability = default_capability_note(ders)
    if capability is not None:
        notes.append(capability)
    pv = [i for i, der in enumerate(ders) if isinstance(der, PvSystem)]
    if pv and not np.nan_to_num(forecast.available_mw[pv]).any():
        local = forecast.start.tz_convert(feeder.location.tz)
        notes.append(
            f"no PV power is available in any period ({len(pv)} PV systems at 0 MW from "
            f"{local:%Y-%m-%d %H:%M} {feeder.location.tz}, {forecast.der_source[pv[0]]}): "
            f"the sun is down or the forecast is zero, so there is nothing to curtail"
        )
    return tuple(notes)
