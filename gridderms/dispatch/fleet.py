"""From DER records and forecasts to the arrays the optimiser reads (:class:`DerFleet`).

Each DER maps onto a pandapower element for the AC verification: DERs imported from the net
keep theirs; DERs from files are added to a working copy of the net (PV and generators as
``sgen``, batteries and EV chargers as ``storage``), at zero output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandapower as pp

from gridderms.ders.records import (
    BatteryStorage,
    DerRecord,
    DistributedGenerator,
    EvCharger,
    FlexibleLoad,
    PvSystem,
)
from gridderms.dispatch.forecast import DispatchForecast
from gridderms.dispatch.horizon import Horizon
from solvers.opf.fleet import DerFleet


class UnsupportedDerError(ValueError):
    """A DER type the dispatch cannot model yet (named, never silently dropped)."""


def attach_elements(net: pp.pandapowerNet, ders: Sequence[DerRecord]) -> list[tuple[str, int]]:
    """The pandapower element of each DER, adding elements to ``net`` for DERs without one.

    New elements are created in bulk (one call per table), at zero output.
    """
    elements: list[tuple[str, int] | None] = [
        (der.source_element[0], int(der.source_element[1])) if der.source_element else None
        for der in ders
    ]
    for table, kinds in (
        ("sgen", (PvSystem, DistributedGenerator)),
        ("storage", (BatteryStorage, EvCharger)),
        ("load", (FlexibleLoad,)),
    ):
        new = [
            i
            for i, (der, element) in enumerate(zip(ders, elements, strict=True))
            if element is None and isinstance(der, kinds)
        ]
        if not new:
            continue
        buses = [ders[i].bus for i in new]
        names = [ders[i].der_id for i in new]
        if table == "sgen":
            created = pp.create_sgens(
                net,
                buses,
                p_mw=0.0,
                q_mvar=0.0,
                name=names,
                sn_mva=[ders[i].reactive.s_rated_mva for i in new],
            )
        elif table == "storage":
            created = pp.create_storages(
                net, buses, p_mw=0.0, max_e_mwh=1.0, q_mvar=0.0, name=names
            )
        else:
            created = pp.create_loads(net, buses, p_mw=0.0, q_mvar=0.0, name=names)
        for i, index in zip(new, created, strict=True):
            elements[i] = (table, int(index))
    missing = [der.der_id for der, element in zip(ders, elements, strict=True) if element is None]
    if missing:
        raise UnsupportedDerError(f"DERs {missing[:5]} have no element type to attach to")
    return [element for element in elements if element is not None]


def build_fleet(
    ders: Sequence[DerRecord],
    elements: Sequence[tuple[str, int]],
    forecast: DispatchForecast,
    horizon: Horizon,
    overrides: dict[str, tuple[float, float]] | None = None,
) -> DerFleet:
    """Arrays over DER x period for ``ders``.

    Parameters
    ----------
    ders : sequence of DerRecord
    elements : sequence of (table, id)
        From :func:`attach_elements`.
    forecast : DispatchForecast
        Its ``available_mw`` rows are the available power of the PV systems and generators.
    horizon : Horizon
    overrides : dict, optional
        ``der_id -> (p_mw, q_mvar)`` operator set-points, held fixed in every period.
    """
    overrides = overrides or {}
    n, n_t = len(ders), horizon.n_periods
    nan = np.full(n, np.nan)
    a = {name: np.zeros((n, n_t)) for name in ("p_min", "p_max", "p_av", "p_fix", "q_fix")}
    e = {name: nan.copy() for name in ("min", "max", "init", "final", "eta_c", "eta_d")}
    curtailable = np.zeros(n, dtype=bool)
    window = np.zeros((n, n_t), dtype=bool)
    baseline = np.zeros(n)
    storage = np.zeros(n, dtype=bool)
    fixed = np.zeros(n, dtype=bool)
    starts = horizon.period_starts()
    for i, der in enumerate(ders):
        if isinstance(der, PvSystem | DistributedGenerator):
            available = forecast.available_mw[i]
            a["p_max"][i] = available
            a["p_av"][i] = available if der.curtailable else 0.0
            a["p_min"][i] = np.minimum(der.p_min_mw, available) if der.curtailable else available
            curtailable[i] = der.curtailable
        elif isinstance(der, BatteryStorage):
            storage[i] = True
            a["p_min"][i] = -der.p_charge_max_mw
            a["p_max"][i] = der.p_discharge_max_mw
            e["min"][i], e["max"][i] = der.e_min_mwh, der.e_max_mwh
            e["init"][i] = e["final"][i] = der.e_initial_mwh  # back to the start by the end
            e["eta_c"][i], e["eta_d"][i] = der.charge_efficiency, der.discharge_efficiency
        elif isinstance(der, EvCharger):
            storage[i] = True
            connected = (starts >= der.arrival) & (starts < der.departure)
            a["p_min"][i] = np.where(connected, -der.p_max_mw, 0.0)
            end = starts[-1] + (starts[1] - starts[0] if n_t > 1 else np.timedelta64(0))
            after_h = max((der.departure - end).total_seconds() / 3600.0, 0.0)
            e["min"][i], e["max"][i], e["init"][i] = 0.0, der.energy_need_mwh, 0.0
            e["final"][i] = max(der.energy_need_mwh - der.p_max_mw * after_h, 0.0)
            e["eta_c"][i] = e["eta_d"][i] = 1.0
        elif isinstance(der, FlexibleLoad):  # consumption as negative generation
            inside = (starts >= der.window_start) & (starts < der.window_end)
            a["p_min"][i] = np.where(inside, -der.p_max_mw, -der.p_baseline_mw)
            a["p_max"][i] = np.where(inside, -der.p_min_mw, -der.p_baseline_mw)
            window[i] = inside
            baseline[i] = der.p_baseline_mw
        if der.status != "available" or der.der_id in overrides:
            # an operator set-point wins; a locked-out DER keeps running as it does now (PV
            # and generators at their available power, storage idle); offline means zero
            fixed[i] = True
            running = der.status == "locked_out" and not storage[i]
            default = a["p_max"][i] if running else np.zeros(n_t)
            if isinstance(der, FlexibleLoad) and der.status == "locked_out":
                default = np.full(n_t, -der.p_baseline_mw)  # keeps its baseline
            p_set, q_set = overrides.get(der.der_id, (default, 0.0))
            a["p_fix"][i], a["q_fix"][i] = p_set, q_set
            a["p_av"][i] = 0.0
            curtailable[i] = False
    tan = np.array(
        [
            math.inf if der.reactive.declared else math.tan(math.acos(der.reactive.pf_min))
            for der in ders
        ]
    )
    return DerFleet(
        der_ids=[der.der_id for der in ders],
        element=list(elements),
        bus=np.array([der.bus for der in ders], dtype=np.int64),
        p_min_mw=a["p_min"],
        p_max_mw=a["p_max"],
        p_available_mw=a["p_av"],
        curtailable=curtailable,
        q_min_mvar=-np.array([der.reactive.q_absorb_max_mvar for der in ders]),
        q_max_mvar=np.array([der.reactive.q_inject_max_mvar for der in ders]),
        s_rated_mva=np.array([der.reactive.s_rated_mva for der in ders]),
        tan_phi_max=tan,
        is_storage=storage,
        e_min_mwh=e["min"],
        e_max_mwh=e["max"],
        e_initial_mwh=e["init"],
        e_final_min_mwh=e["final"],
        charge_efficiency=e["eta_c"],
        discharge_efficiency=e["eta_d"],
        ramp_mw_per_period=np.full(n, np.inf),
        fixed=fixed,
        p_fixed_mw=a["p_fix"],
        q_fixed_mvar=a["q_fix"],
        neutral_window=window,
        p_baseline_mw=baseline,
    )
