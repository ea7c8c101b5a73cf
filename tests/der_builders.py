"""DER records, CSV rows and JSON items to build the DER registry tests from (used by
``test_der_registry.py`` and ``test_der_import.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gridderms.ders import (
    BatteryStorage,
    DerRecord,
    DistributedGenerator,
    EvCharger,
    FlexibleLoad,
    PvSystem,
    ReactiveCapability,
    ders_to_json,
)
from gridderms.ders.csv_format import (
    ALL_COLUMNS,
)

DATA = Path(__file__).parent / "data" / "ders"
CET = timezone(timedelta(hours=1))
T0 = datetime(2024, 6, 3, 18, 0, tzinfo=CET)


def capability(s: float = 0.1, pf: float = 0.9, cat: Any = "B") -> ReactiveCapability:
    return ReactiveCapability(s_rated_mva=s, pf_min=pf, ieee1547_category=cat)


def pv_record(der_id: str = "pv-1", bus: int = 3, **changes: Any) -> PvSystem:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "Rooftop PV",
        "bus": bus,
        "reactive": capability(0.05),
        "p_nameplate_mw": 0.05,
        "p_available_mw": 0.04,
        "curtailable": True,
        "tags": frozenset({"rooftop", "feeder-a"}),
    }
    fields.update(changes)
    return PvSystem(**fields)


def battery_record(der_id: str = "bat-1", bus: int = 5, **changes: Any) -> BatteryStorage:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "Community battery",
        "bus": bus,
        "reactive": capability(0.25, 0.95),
        "p_charge_max_mw": 0.2,
        "p_discharge_max_mw": 0.25,
        "e_capacity_mwh": 0.8,
        "soc_min_percent": 10.0,
        "soc_max_percent": 90.0,
        "soc_initial_percent": 55.5,
        "charge_efficiency": 0.96,
        "discharge_efficiency": 0.94,
        "source_element": ("storage", 0),
    }
    fields.update(changes)
    return BatteryStorage(**fields)


def ev_record(der_id: str = "ev-1", bus: int = 11, **changes: Any) -> EvCharger:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "Depot charger",
        "bus": bus,
        "reactive": capability(0.022, 0.95, "A"),
        "p_max_mw": 0.022,
        "energy_need_mwh": 0.06,
        "arrival": T0,
        "departure": T0 + timedelta(hours=12),
        "tags": frozenset({"fleet"}),
    }
    fields.update(changes)
    return EvCharger(**fields)


def flex_record(der_id: str = "hp-1", bus: int = 9, **changes: Any) -> FlexibleLoad:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "Heat pumps",
        "bus": bus,
        "status": "locked_out",
        "reactive": capability(0.05, 0.9, "A"),
        "p_min_mw": 0.0,
        "p_baseline_mw": 0.02,
        "p_max_mw": 0.04,
        "window_start": datetime(2024, 6, 3, tzinfo=UTC),
        "window_end": datetime(2024, 6, 4, tzinfo=UTC),
    }
    fields.update(changes)
    return FlexibleLoad(**fields)


def gen_record(der_id: str = "chp-1", bus: int = 9, **changes: Any) -> DistributedGenerator:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "CHP diesel",
        "bus": bus,
        "status": "offline",
        "reactive": capability(0.31, 0.85),
        "p_max_mw": 0.31,
        "p_available_mw": 0.25,
        "curtailable": False,
        "technology": "CHP diesel",
        "tags": frozenset({"feeder-b"}),
    }
    fields.update(changes)
    return DistributedGenerator(**fields)


def all_types() -> list[DerRecord]:
    return [pv_record(), battery_record(), ev_record(), flex_record(), gen_record()]


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    header = columns or list(ALL_COLUMNS)
    lines = [",".join(header)]
    lines += [",".join(row.get(column, "") for column in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pv_row(**changes: str) -> dict[str, str]:
    row = {
        "der_id": "pv-1",
        "der_type": "pv",
        "bus": "3",
        "name": "PV",
        "status": "available",
        "s_rated_mva": "0.5",
        "pf_min": "0.9",
        "ieee1547_category": "B",
        "tags": "",
        "p_nameplate_mw": "0.5",
        "p_available_mw": "0.4",
        "curtailable": "true",
    }
    row.update(changes)
    return row


def pv_json(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(ders_to_json([pv_record()]))[0]
    item.update(changes)
    return item
