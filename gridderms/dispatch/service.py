"""Dispatch a loaded feeder: its DER registry, a forecast, limits and an objective in; a schedule
verified by AC power flow (or a diagnosis) out."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridderms.ders.inventory import feeder_names
from gridderms.ders.records import DerRecord
from gridderms.dispatch.fleet import attach_elements, build_fleet
from gridderms.dispatch.forecast import load_forecast
from gridderms.dispatch.horizon import Horizon
from network_models.feeder import Feeder
from solvers.acmodel import cached_ac_model, compile_ac_model
from solvers.limits import OperatingLimits
from solvers.opf.dispatch import DispatchRequest, DispatchResult, run_dispatch
from solvers.opf.problem import DispatchLimits, HostingCapacityLimit, Objective


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


@dataclass(frozen=True)
class HeadLimits:
    """Feeder-head exchange limits from the ADMS [MW] (None: no limit)."""

    import_max_mw: float | None = None
    export_max_mw: float | None = None


def dispatch_feeder(
    feeder: Feeder,
    ders: Sequence[DerRecord],
    horizon: Horizon,
    *,
    objective: Objective | None = None,
    limits: OperatingLimits | None = None,
    head: HeadLimits | None = None,
    start_step: int = 0,
    overrides: dict[str, tuple[float, float]] | None = None,
    formulation: str = "lindistflow",
    bus_hosting_capacity_mw: dict[int, float] | None = None,
    feeder_hosting_capacity_mw: dict[str, float] | None = None,
    backend: str = "highspy",
) -> DispatchResult:
    """Dispatch ``ders`` on ``feeder`` over ``horizon``.

    DERs without a pandapower element are added to a working copy of the net; the feeder
    itself is not changed.
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
    forecast = load_forecast(feeder, horizon, start_step)
    fleet = build_fleet(ders, elements, forecast, horizon, overrides)
    n_t = horizon.n_periods
    request = DispatchRequest(
        fleet=fleet,
        forecast=forecast,
        limits=DispatchLimits(
            vm_min_pu=limits.vm_min_pu,
            vm_max_pu=limits.vm_max_pu,
            max_loading_percent=limits.max_loading_percent,
            head_import_max_mw=np.full(
                n_t, np.inf if head.import_max_mw is None else head.import_max_mw
            ),
            head_export_max_mw=np.full(
                n_t, np.inf if head.export_max_mw is None else head.export_max_mw
            ),
            hosting_capacity=caps,
        ),
        objective=objective or Objective(),
        dt_h=horizon.dt_h,
        formulation=formulation,
        backend=backend,
    )
    return run_dispatch(net, model, request)
