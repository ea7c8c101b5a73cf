"""Requests shared by the tests and benchmarks: HTTP bodies (DER records, a one-hour dispatch
request; also used by ``benchmarks/api_load.py``), the command line of a dispatch of Baran & Wu,
and DER records for dispatch in-process (:func:`pv_system`, :func:`battery_storage`, also
used by ``benchmarks/dispatch.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gridderms.ders import BatteryStorage, PvSystem, ReactiveCapability

#: the PV scenario of Baran & Wu shipped in ``scenarios/``
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "baran_wu_pv.csv"
#: ``gridderms dispatch`` of Baran & Wu with that scenario (command-line arguments)
CLI_DISPATCH = ("dispatch", "baran-wu-33", "--der-file", str(SCENARIO))
#: a small reactive capability (50 kVA, power factor 0.9, IEEE 1547 category B)
REACTIVE = {"s_rated_mva": 0.05, "pf_min": 0.9, "ieee1547_category": "B"}
#: one hour at 15 min from 2024-06-21 10:00 UTC in a 0.9-1.1 pu band
DISPATCH_1H = {
    "start": "2024-06-21T10:00:00Z",
    "horizon_h": 1.0,
    "step_minutes": 15,
    "vm_min_pu": 0.9,
    "vm_max_pu": 1.1,
}
#: :data:`DISPATCH_1H` with room on the branches (200 %): optimal on CIGRE MV with DERs
FEASIBLE = {**DISPATCH_1H, "max_loading_percent": 200.0}


def pv_body(der_id: str, bus: int = 5) -> dict[str, Any]:
    """A valid PV record (50 kW nameplate, 40 kW available, curtailable) at ``bus``."""
    return {
        "der_type": "pv",
        "der_id": der_id,
        "name": "roof",
        "bus": bus,
        "reactive": REACTIVE,
        "p_nameplate_mw": 0.05,
        "p_available_mw": 0.04,
        "curtailable": True,
    }


def ev_body(der_id: str) -> dict[str, Any]:
    """A valid EV charger record (10 kW, 10 kWh needed between 08:00 and 18:00 +02:00)."""
    return {
        "der_type": "ev_charger",
        "der_id": der_id,
        "name": "car",
        "bus": 7,
        "reactive": REACTIVE,
        "p_max_mw": 0.01,
        "energy_need_mwh": 0.01,
        "arrival": "2024-06-21T08:00:00+02:00",
        "departure": "2024-06-21T18:00:00+02:00",
    }


def pv_system(
    der_id: str,
    bus: int,
    p_mw: float,
    s_factor: float = 1.1,
    category: str = "B",
    pf_min: float = 0.9,
) -> PvSystem:
    """A curtailable PV system of ``p_mw`` [MW] (all of it available) at ``bus``, rated
    ``s_factor * p_mw`` [MVA], with a reactive capability down to ``pf_min``."""
    return PvSystem(
        der_id=der_id,
        name=der_id,
        bus=bus,
        der_type="pv",
        reactive=ReactiveCapability(
            s_rated_mva=s_factor * p_mw, pf_min=pf_min, ieee1547_category=category
        ),
        p_nameplate_mw=p_mw,
        p_available_mw=p_mw,
        curtailable=True,
    )


def battery_storage(der_id: str, bus: int, scale_mw: float = 0.25) -> BatteryStorage:
    """A battery of ``scale_mw`` [MW] each way and four hours of it [MWh], rated 1.2 times its
    power [MVA], efficiencies 0.95, state of charge 10-90 %, starting at 50 %."""
    return BatteryStorage(
        der_id=der_id,
        name=der_id,
        bus=bus,
        der_type="battery",
        reactive=ReactiveCapability(s_rated_mva=1.2 * scale_mw, pf_min=0.9, ieee1547_category="B"),
        p_charge_max_mw=scale_mw,
        p_discharge_max_mw=scale_mw,
        e_capacity_mwh=4 * scale_mw,
        soc_min_percent=10,
        soc_max_percent=90,
        soc_initial_percent=50,
        charge_efficiency=0.95,
        discharge_efficiency=0.95,
    )
