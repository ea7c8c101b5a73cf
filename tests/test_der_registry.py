"""Tests of the DER registry: records, reactive capability, importers/exporters and groups."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandapower.networks as pn
import pytest
from pydantic import ValidationError

from gridderms.ders import (
    DER_RECORD_CLASSES,
    BatteryStorage,
    CapabilityError,
    DerBusError,
    DerError,
    DerGroup,
    DerGroupError,
    DerImportError,
    DerRecord,
    DerRegistry,
    DistributedGenerator,
    DuplicateDerError,
    DuplicateGroupError,
    EvCharger,
    FlexibleLoad,
    PvSystem,
    ReactiveCapability,
    UnknownDerError,
    UnknownGroupError,
    ders_from_csv,
    ders_from_json,
    ders_from_net,
    ders_to_csv,
    ders_to_json,
    q_limits_mvar,
)
from gridderms.ders.csv_format import (
    ALL_COLUMNS,
    COMMON_COLUMNS,
    TYPE_COLUMNS,
    TYPE_OPTIONAL_COLUMNS,
)

DATA = Path(__file__).parent / "data" / "ders"
CET = timezone(timedelta(hours=1))
T0 = datetime(2024, 6, 3, 18, 0, tzinfo=CET)


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def _cap(s: float = 0.1, pf: float = 0.9, cat: Any = "B") -> ReactiveCapability:
    return ReactiveCapability(s_rated_mva=s, pf_min=pf, ieee1547_category=cat)


def _pv(der_id: str = "pv-1", bus: int = 3, **changes: Any) -> PvSystem:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "Rooftop PV",
        "bus": bus,
        "reactive": _cap(0.05),
        "p_nameplate_mw": 0.05,
        "p_available_mw": 0.04,
        "curtailable": True,
        "tags": frozenset({"rooftop", "feeder-a"}),
    }
    fields.update(changes)
    return PvSystem(**fields)


def _battery(der_id: str = "bat-1", bus: int = 5, **changes: Any) -> BatteryStorage:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "Community battery",
        "bus": bus,
        "reactive": _cap(0.25, 0.95),
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


def _ev(der_id: str = "ev-1", bus: int = 11, **changes: Any) -> EvCharger:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "Depot charger",
        "bus": bus,
        "reactive": _cap(0.022, 0.95, "A"),
        "p_max_mw": 0.022,
        "energy_need_mwh": 0.06,
        "arrival": T0,
        "departure": T0 + timedelta(hours=12),
        "tags": frozenset({"fleet"}),
    }
    fields.update(changes)
    return EvCharger(**fields)


def _flex(der_id: str = "hp-1", bus: int = 9, **changes: Any) -> FlexibleLoad:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "Heat pumps",
        "bus": bus,
        "status": "locked_out",
        "reactive": _cap(0.05, 0.9, "A"),
        "p_min_mw": 0.0,
        "p_baseline_mw": 0.02,
        "p_max_mw": 0.04,
        "window_start": datetime(2024, 6, 3, tzinfo=UTC),
        "window_end": datetime(2024, 6, 4, tzinfo=UTC),
    }
    fields.update(changes)
    return FlexibleLoad(**fields)


def _gen(der_id: str = "chp-1", bus: int = 9, **changes: Any) -> DistributedGenerator:
    fields: dict[str, Any] = {
        "der_id": der_id,
        "name": "CHP diesel",
        "bus": bus,
        "status": "offline",
        "reactive": _cap(0.31, 0.85),
        "p_max_mw": 0.31,
        "p_available_mw": 0.25,
        "curtailable": False,
        "technology": "CHP diesel",
        "tags": frozenset({"feeder-b"}),
    }
    fields.update(changes)
    return DistributedGenerator(**fields)


def _all_types() -> list[DerRecord]:
    return [_pv(), _battery(), _ev(), _flex(), _gen()]


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    header = columns or list(ALL_COLUMNS)
    lines = [",".join(header)]
    lines += [",".join(row.get(column, "") for column in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pv_row(**changes: str) -> dict[str, str]:
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


def _pv_json(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(ders_to_json([_pv()]))[0]
    item.update(changes)
    return item


# --------------------------------------------------------------------------------------------
# pandapower import
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simbench_net() -> Any:
    simbench = pytest.importorskip("simbench")
    # Scenario 2 of the LV rural 1 feeder: same grid as "1-LV-rural1--0-sw" plus the
    # PV home storages of that scenario, so one load covers the sgen and storage tables.
    return simbench.get_simbench_net("1-LV-rural1--2-sw")


def test_cigre_mv_import_counts_types_and_values() -> None:
    net = pn.create_cigre_network_mv(with_der="all")
    records = ders_from_net(net, storage_duration_h=4.0)

    assert Counter(record.der_type for record in records) == {
        "pv": 8,
        "generator": 5,
        "battery": 2,
    }
    assert [record.der_id for record in records[:2]] == ["sgen-0", "sgen-1"]
    generators = [record for record in records if isinstance(record, DistributedGenerator)]
    assert Counter(g.technology for g in generators) == {
        "WP": 1,
        "Residential fuel cell": 2,
        "CHP diesel": 1,
        "Fuel cell": 1,
    }
    wind = next(g for g in generators if g.technology == "WP")
    assert (wind.der_id, wind.name, wind.bus, wind.p_max_mw) == ("sgen-8", "WKA 7", 7, 1.5)
    # pandapower writes controllable=False for every sgen: held at its p_mw and q_mvar (0)
    assert wind.reactive.model_dump() == {
        **_cap(1.5, 0.9, "B").model_dump(),
        "q_min_mvar": 0.0,
        "q_max_mvar": 0.0,
    }
    assert not wind.curtailable
    assert wind.source_element == ("sgen", 8)

    battery = next(r for r in records if r.der_id == "storage-0")
    assert isinstance(battery, BatteryStorage)
    # CIGRE: max_p_mw = 0.6 (charging), min_p_mw = -0.6 (discharging), sn_mva = 0.2,
    # max_e_mwh = NaN -> capacity from the 4 h duration, soc_percent = NaN -> band middle.
    assert battery.p_charge_max_mw == pytest.approx(0.6)
    assert battery.p_discharge_max_mw == pytest.approx(0.6)
    assert battery.e_capacity_mwh == pytest.approx(2.4)
    assert battery.reactive.s_rated_mva == pytest.approx(0.2)
    assert (battery.soc_min_percent, battery.soc_max_percent) == (0.0, 100.0)
    assert battery.soc_initial_percent == pytest.approx(50.0)
    assert battery.charge_efficiency == battery.discharge_efficiency == 0.95
    assert all(record.status == "available" for record in records)


def test_cigre_storage_without_capacity_is_refused() -> None:
    net = pn.create_cigre_network_mv(with_der="all")
    with pytest.raises(DerImportError) as info:
        ders_from_net(net)
    message = str(info.value)
    assert "storage 0 (der_id 'storage-0')" in message
    assert "field 'max_e_mwh' = nan" in message
    assert "storage_duration_h" in message


def test_net_import_status_controllable_load_and_categories() -> None:
    net = pn.create_cigre_network_mv(with_der="pv_wind")
    net.sgen.loc[8, "in_service"] = False
    net.sgen.loc[0, "controllable"] = True
    net.load["controllable"] = False
    net.load.loc[3, ["controllable", "min_p_mw", "max_p_mw"]] = [True, 0.5, 0.9]
    window = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 12, tzinfo=UTC))

    records = ders_from_net(net, default_pf_min=0.95, default_category="A", flex_window=window)

    by_id = {record.der_id: record for record in records}
    assert len(records) == 9 + 1  # 8 PV + 1 wind turbine + 1 controllable load
    assert by_id["sgen-8"].status == "offline"
    assert by_id["sgen-1"].status == "available"
    pv0 = by_id["sgen-0"]
    assert isinstance(pv0, PvSystem) and pv0.curtailable is True
    assert isinstance(by_id["sgen-1"], PvSystem) and not by_id["sgen-1"].curtailable
    load = by_id["load-3"]
    assert isinstance(load, FlexibleLoad)
    assert (load.p_min_mw, load.p_max_mw) == (0.5, 0.9)
    assert load.p_baseline_mw == pytest.approx(0.72750)
    # sn_mva of "Load R5"; the model declares no reactive range: the defaults, marked so
    assert load.reactive == _cap(0.75, 0.95, "A").model_copy(update={"defaulted": True})
    assert (load.window_start, load.window_end) == window
    assert load.baseline_energy_mwh == pytest.approx(0.7275 * 12)


def test_net_sgen_above_nameplate_is_refused() -> None:
    net = pn.create_cigre_network_mv(with_der="pv_wind")
    net.sgen.loc[2, "p_mw"] = 0.05  # sn_mva = 0.03
    with pytest.raises(DerImportError) as info:
        ders_from_net(net)
    assert "sgen 2 (der_id 'sgen-2'): field 'p_available_mw' = 0.05 exceeds " in str(info.value)
    assert "p_nameplate_mw = 0.03" in str(info.value)


def test_simbench_import_pv_and_storage_semantics(simbench_net: Any) -> None:
    records = ders_from_net(simbench_net)

    assert Counter(record.der_type for record in records) == {"pv": 8, "battery": 5}
    pv = next(r for r in records if r.der_id == "sgen-1")
    assert isinstance(pv, PvSystem)
    assert pv.p_nameplate_mw == pytest.approx(0.0784)
    assert pv.reactive.s_rated_mva == pytest.approx(0.0784)
    battery = next(r for r in records if r.der_id == "storage-0")
    assert isinstance(battery, BatteryStorage)
    # SimBench stores max_p_mw = 0 and min_p_mw = -sR: the zero limit falls back to sn_mva.
    assert battery.p_charge_max_mw == pytest.approx(0.0734)
    assert battery.p_discharge_max_mw == pytest.approx(0.0734)
    assert battery.e_capacity_mwh == pytest.approx(0.1467)
    assert battery.soc_initial_percent == 0.0
    assert battery.charge_efficiency == pytest.approx(0.95)  # efficiency_percent = 0.95

    registry = DerRegistry(records)
    registry.validate_buses(simbench_net.bus.index)
    feeders = {int(bus): str(subnet) for bus, subnet in simbench_net.bus.subnet.items()}
    group = registry.create_group("lv1", by="feeder", value="LV1.101", bus_to_feeder=feeders)
    assert len(group.member_ids) == 13


# --------------------------------------------------------------------------------------------
# reactive capability
# --------------------------------------------------------------------------------------------


def test_q_limits_power_factor_binds() -> None:
    # circle sqrt(0.1^2 - 0.08^2) = 0.06, pf 0.08 * tan(acos 0.9) = 0.03875, Cat B 0.044
    q_min, q_max = q_limits_mvar(0.08, _cap(0.1, 0.9, "B"))
    assert q_max == pytest.approx(0.08 * math.tan(math.acos(0.9)))
    assert q_max == pytest.approx(0.03875, abs=1e-5)
    assert q_min == pytest.approx(-0.03875, abs=1e-5)


def test_q_limits_circle_binds_and_sign_of_p_does_not_matter() -> None:
    # circle sqrt(0.01 - 0.009025) = 0.031225 < pf 0.095 * tan(acos 0.3) = 0.302 < Cat B 0.044
    assert q_limits_mvar(0.095, _cap(0.1, 0.3)) == pytest.approx((-0.031225, 0.031225), abs=1e-6)
    assert q_limits_mvar(-0.095, _cap(0.1, 0.3)) == q_limits_mvar(0.095, _cap(0.1, 0.3))


def test_q_limits_category_a_absorption_limit() -> None:
    # pf 0.05 * 0.75 = 0.0375 < circle 0.0866; Cat A absorption 0.25 * 0.1 = 0.025 binds q_min
    cap_a = _cap(0.1, 0.8, "A")
    assert cap_a.q_inject_max_mvar == pytest.approx(0.044)
    assert cap_a.q_absorb_max_mvar == pytest.approx(0.025)
    assert q_limits_mvar(0.05, cap_a) == pytest.approx((-0.025, 0.0375))
    assert q_limits_mvar(0.05, _cap(0.1, 0.8, "B")) == pytest.approx((-0.0375, 0.0375))
    # at low power factor the category limits bind both ways: 0.44 / 0.25 of S_rated
    assert q_limits_mvar(0.02, _cap(0.1, 0.1, "A")) == pytest.approx((-0.025, 0.044))


def test_q_limits_edge_cases() -> None:
    assert q_limits_mvar(0.0, _cap(0.1)) == (0.0, 0.0)  # pf limit: no P, no Q
    assert q_limits_mvar(0.12, _cap(0.1, 0.1)) == (0.0, 0.0)  # beyond the circle
    assert q_limits_mvar(0.05, _cap(0.1, 1.0)) == (0.0, 0.0)  # unity power factor only
    with pytest.raises(CapabilityError, match="p_mw must be a finite number"):
        q_limits_mvar(float("nan"), _cap())


def test_reactive_capability_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match="pf_min"):
        _cap(0.1, 1.2)
    with pytest.raises(ValidationError, match="s_rated_mva"):
        _cap(0.0)
    with pytest.raises(ValidationError, match="ieee1547_category"):
        _cap(0.1, 0.9, "C")


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


def test_record_properties_and_immutability() -> None:
    battery = _battery()
    assert battery.e_initial_mwh == pytest.approx(0.8 * 0.555)
    assert (battery.e_min_mwh, battery.e_max_mwh) == pytest.approx((0.08, 0.72))
    ev = _ev()
    assert ev.connection_hours == pytest.approx(12.0)
    assert ev.energy_deliverable_mwh == pytest.approx(0.264)
    assert _pv(tags=["a", "b"]).tags == frozenset({"a", "b"})
    with pytest.raises(ValidationError, match="frozen"):
        battery.soc_initial_percent = 20.0


def test_nan_rejected_naming_field_and_der_id() -> None:
    with pytest.raises(ValidationError) as info:
        _pv(der_id="pv-9", p_available_mw=float("nan"))
    assert "field 'p_available_mw' must be a finite number, got nan (der_id 'pv-9')" in str(
        info.value
    )
    with pytest.raises(ValidationError) as info:
        _pv(reactive={"s_rated_mva": math.inf, "pf_min": 0.9, "ieee1547_category": "B"})
    assert "field 'reactive.s_rated_mva' must be a finite number, got inf (der_id 'pv-1')" in str(
        info.value
    )


def test_nan_rejected_in_csv_and_json(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "ders.csv", [_pv_row(p_available_mw="nan")])
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value) == (
        f"{path} row 1 (der_id 'pv-1'): field 'p_available_mw' must be a finite number, got nan"
    )
    with pytest.raises(DerImportError) as info:
        ders_from_json(json.dumps([_pv_json(p_nameplate_mw=math.inf)]))
    assert "item 1 (der_id 'pv-1'): field 'p_nameplate_mw' must be a finite number, got inf" in (
        str(info.value)
    )


def test_bool_as_number_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        _ev(p_max_mw=True)
    assert "field 'p_max_mw' must be a number, got boolean True (der_id 'ev-1')" in str(info.value)
    with pytest.raises(ValidationError, match="field 'bus' must be a number, got boolean"):
        _pv(bus=False)
    with pytest.raises(DerImportError) as json_info:
        ders_from_json(json.dumps([_pv_json(p_available_mw=True)]))
    assert "item 1 (der_id 'pv-1'): field 'p_available_mw' must be a number, got boolean" in str(
        json_info.value
    )


def test_strings_are_not_numbers() -> None:
    with pytest.raises(DerImportError) as info:
        ders_from_json(json.dumps([_pv_json(p_available_mw="0.4")]))
    assert "field 'p_available_mw' = '0.4': Input should be a valid number" in str(info.value)


def test_soc_bounds_inverted() -> None:
    with pytest.raises(ValidationError) as info:
        _battery(soc_min_percent=90.0, soc_max_percent=10.0, soc_initial_percent=50.0)
    assert "field 'soc_min_percent' = 90 must be below soc_max_percent = 10" in str(info.value)
    with pytest.raises(ValidationError) as info:
        _battery(soc_initial_percent=95.0)
    assert "field 'soc_initial_percent' = 95 is outside" in str(info.value)
    assert "[soc_min_percent, soc_max_percent] = [10, 90]" in str(info.value)


def test_ev_energy_not_deliverable_names_shortfall() -> None:
    # 0.011 MW over 4 h delivers 0.044 MWh; need 0.1 MWh -> shortfall 0.056 MWh
    with pytest.raises(ValidationError) as info:
        _ev(p_max_mw=0.011, energy_need_mwh=0.1, departure=T0 + timedelta(hours=4))
    message = str(info.value)
    assert "field 'energy_need_mwh' = 0.1 cannot be delivered" in message
    assert "delivers at most 0.044 MWh, shortfall 0.056 MWh" in message
    # exactly deliverable is fine
    assert _ev(p_max_mw=0.011, energy_need_mwh=0.044, departure=T0 + timedelta(hours=4))


def test_ev_and_flexible_load_time_checks() -> None:
    with pytest.raises(ValidationError, match=r"field 'departure' = .* must be after arrival"):
        _ev(departure=T0)
    with pytest.raises(ValidationError, match="timezone"):
        _ev(arrival=datetime(2024, 6, 3, 18, 0))
    with pytest.raises(ValidationError, match=r"field 'window_end' = .* must be after"):
        _flex(window_end=datetime(2024, 6, 2, tzinfo=UTC))
    with pytest.raises(ValidationError) as info:
        _flex(p_baseline_mw=0.05)
    assert "field 'p_baseline_mw' = 0.05 must lie within [p_min_mw, p_max_mw] = [0, 0.04]" in str(
        info.value
    )


def test_record_field_checks() -> None:
    with pytest.raises(ValidationError, match="der_id"):
        _pv(der_id="")
    with pytest.raises(ValidationError, match="leading or trailing whitespace"):
        _pv(der_id=" pv-1")
    with pytest.raises(ValidationError, match="bus"):
        _pv(bus=-1)
    with pytest.raises(ValidationError, match="status"):
        _pv(status="broken")
    with pytest.raises(ValidationError, match="must not contain ';'"):
        _pv(tags=frozenset({"a;b"}))
    with pytest.raises(ValidationError, match="extra"):
        _pv(colour="red")
    with pytest.raises(ValidationError) as info:
        _gen(p_max_mw=0.05, p_available_mw=0.06)
    assert "field 'p_available_mw' = 0.06 exceeds p_max_mw = 0.05" in str(info.value)


# --------------------------------------------------------------------------------------------
# JSON / CSV
# --------------------------------------------------------------------------------------------


def test_json_round_trip(tmp_path: Path) -> None:
    records = _all_types()
    path = tmp_path / "ders.json"
    text = ders_to_json(records, path)

    assert ders_from_json(path) == records
    assert ders_from_json(str(path)) == records
    assert ders_from_json(text) == records
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload[0]["tags"] == ["feeder-a", "rooftop"]
    assert payload[2]["arrival"] == "2024-06-03T18:00:00+01:00"


def test_csv_round_trip(tmp_path: Path) -> None:
    records = _all_types()
    path = tmp_path / "ders.csv"
    ders_to_csv(records, path)

    assert ders_from_csv(path) == records
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == list(ALL_COLUMNS)
    pv_cells = dict(zip(ALL_COLUMNS, lines[1].split(","), strict=True))
    assert pv_cells["tags"] == "feeder-a;rooftop"
    assert pv_cells["e_capacity_mwh"] == ""
    battery_cells = dict(zip(ALL_COLUMNS, lines[2].split(","), strict=True))
    assert battery_cells["source_element"] == "storage:0"


def test_csv_columns_cover_every_record_field() -> None:
    for der_type, cls in DER_RECORD_CLASSES.items():
        specific = set(cls.model_fields) - set(COMMON_COLUMNS) - {"reactive", "source_element"}
        specific -= {"s_rated_mva", "pf_min", "ieee1547_category"}
        assert specific == set(TYPE_COLUMNS[der_type]) | set(TYPE_OPTIONAL_COLUMNS[der_type]), (
            der_type
        )


def test_example_csv_file() -> None:
    records = ders_from_csv(DATA / "example_ders.csv")
    assert [r.der_type for r in records] == list(DER_RECORD_CLASSES)
    registry = DerRegistry(records)
    assert [r.der_id for r in registry.at_bus(9)] == ["hp-9", "chp-9"]
    assert registry.get("hp-9").status == "locked_out"
    assert registry.get("pv-3").tags == frozenset({"feeder-a", "rooftop"})


def test_csv_value_exceeding_limit_message(tmp_path: Path) -> None:
    rows = [
        _pv_row(der_id="pv-1"),
        _pv_row(der_id="pv-2"),
        _pv_row(der_id="pv-7", p_available_mw="0.6"),
    ]
    path = _write_csv(tmp_path / "ders.csv", rows)
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value) == (
        f"{path} row 3 (der_id 'pv-7'): field 'p_available_mw' = 0.6 exceeds p_nameplate_mw = 0.5"
    )


def test_duplicate_der_id_in_file(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "ders.csv", [_pv_row(), _pv_row(name="again")])
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value) == (
        f"{path} row 2 (der_id 'pv-1'): duplicate der_id (first defined at {path} row 1)"
    )
    with pytest.raises(DerImportError, match=r"item 2 \(der_id 'pv-1'\): duplicate der_id"):
        ders_from_json(json.dumps([_pv_json(), _pv_json()]))


def test_unknown_der_type(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "ders.csv", [_pv_row(), _pv_row(der_id="x-2", der_type="wind")])
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value).startswith(f"{path} row 2 (der_id 'x-2'): unknown der_type 'wind'")
    assert "expected one of pv, battery, ev_charger, flexible_load, generator" in str(info.value)
    with pytest.raises(DerImportError, match=r"item 1 \(der_id 'pv-1'\): unknown der_type 'solar'"):
        ders_from_json(json.dumps([_pv_json(der_type="solar")]))
    with pytest.raises(DerImportError, match="item 1: field 'der_type' is missing"):
        ders_from_json('[{"der_id_typo": "x"}]')


def test_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "ders.json"
    path.write_text('[\n  {"der_type": "pv",\n   "der_id": }\n]\n', encoding="utf-8")
    with pytest.raises(DerImportError) as info:
        ders_from_json(path)
    assert str(info.value).startswith(f"{path}: malformed JSON at line 3 column")
    with pytest.raises(DerImportError, match="expected a JSON list of DER objects, got dict"):
        ders_from_json('{"der_type": "pv"}')
    with pytest.raises(DerImportError, match="item 2: expected a JSON object, got int"):
        ders_from_json(json.dumps([_pv_json(), 3]))
    with pytest.raises(DerImportError, match="unknown field 'colour'"):
        ders_from_json(json.dumps([_pv_json(colour="red")]))


def test_missing_file(tmp_path: Path) -> None:
    for reader, name in ((ders_from_csv, "nope.csv"), (ders_from_json, "nope.json")):
        path = tmp_path / name
        with pytest.raises(DerImportError) as info:
            reader(path)
        assert str(info.value) == f"DER file '{path}' does not exist"


def test_missing_csv_column(tmp_path: Path) -> None:
    common_without_pf = [c for c in ALL_COLUMNS if c != "pf_min"]
    path = _write_csv(tmp_path / "a.csv", [_pv_row()], common_without_pf)
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value).startswith(f"{path}: missing column 'pf_min' (required: der_id, ")

    pv_only = [*COMMON_COLUMNS, "p_nameplate_mw", "p_available_mw", "curtailable"]
    assert ders_from_csv(_write_csv(tmp_path / "b.csv", [_pv_row()], pv_only))[0].der_id == "pv-1"
    battery_row = {**_pv_row(der_id="bat-2", der_type="battery"), "p_nameplate_mw": ""}
    path = _write_csv(tmp_path / "c.csv", [_pv_row(), battery_row], pv_only)
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value) == (
        f"{path} row 2 (der_id 'bat-2'): missing column 'p_charge_max_mw' required for "
        "der_type 'battery'"
    )


def test_csv_cell_errors(tmp_path: Path) -> None:
    cases = [
        (_pv_row(p_nameplate_mw="abc"), "field 'p_nameplate_mw' = 'abc' is not a number"),
        (_pv_row(bus="3.5"), "field 'bus' = '3.5' is not an integer"),
        (_pv_row(curtailable="yes"), "field 'curtailable' = 'yes' is not a boolean"),
        (_pv_row(pf_min=""), "field 'pf_min' is missing"),
        (_pv_row(pf_min="1.5"), "field 'pf_min' = 1.5: Input should be less than or equal to 1"),
        (_pv_row(e_capacity_mwh="1"), "field 'e_capacity_mwh' = '1' does not apply to der_type"),
        (_pv_row(status="broken"), "field 'status' = 'broken': Input should be 'available'"),
    ]
    for number, (row, expected) in enumerate(cases):
        path = _write_csv(tmp_path / f"bad{number}.csv", [row])
        with pytest.raises(DerImportError) as info:
            ders_from_csv(path)
        assert str(info.value).startswith(f"{path} row 1 (der_id 'pv-1'): {expected}"), str(
            info.value
        )


def test_csv_naive_datetime_rejected(tmp_path: Path) -> None:
    path = tmp_path / "ders.csv"
    ders_to_csv([_ev()], path)
    text = path.read_text(encoding="utf-8").replace("2024-06-03T18:00:00+01:00", "2024-06-03T18:00")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert "row 1 (der_id 'ev-1'): field 'arrival' = 2024-06-03T18:00:00: Input should have" in (
        str(info.value)
    )


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------


def test_registry_crud() -> None:
    registry = DerRegistry()
    registry.add(_pv())
    registry.add_many([_battery(), _gen(), _pv("pv-2", bus=9)])

    assert len(registry) == 4
    assert [r.der_id for r in registry] == ["pv-1", "bat-1", "chp-1", "pv-2"]
    assert [r.der_id for r in registry.by_type("pv")] == ["pv-1", "pv-2"]
    assert [r.der_id for r in registry.at_bus(9)] == ["chp-1", "pv-2"]
    assert registry.at_bus(99) == []
    assert "bat-1" in registry

    updated = _battery(soc_initial_percent=20.0)
    old = registry.replace(updated)
    assert isinstance(old, BatteryStorage) and old.soc_initial_percent == 55.5
    assert registry.get("bat-1") == updated
    assert [r.der_id for r in registry][1] == "bat-1"  # position kept

    removed = registry.remove("chp-1")
    assert removed.der_id == "chp-1" and len(registry) == 3
    with pytest.raises(DerError, match="unknown der_type 'solar'"):
        registry.by_type("solar")


def test_registry_duplicate_id() -> None:
    registry = DerRegistry([_pv()])
    with pytest.raises(DuplicateDerError) as info:
        registry.add(_pv(name="other"))
    assert str(info.value) == "DER 'pv-1' is already registered"
    with pytest.raises(DuplicateDerError, match="DER 'bat-1' is already registered"):
        registry.add_many([_battery(), _gen(), _battery()])
    assert [r.der_id for r in registry] == ["pv-1"]  # nothing of the batch was added


def test_registry_unknown_id() -> None:
    registry = DerRegistry([_pv()])
    for action in (registry.get, registry.remove):
        with pytest.raises(UnknownDerError) as info:
            action("pv-404")
        assert str(info.value) == "unknown DER 'pv-404'"
        assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownDerError, match="unknown DER 'ev-1'"):
        registry.replace(_ev())


def test_validate_buses_lists_missing() -> None:
    registry = DerRegistry([_pv(bus=3), _battery(bus=40), _gen(bus=41)])
    registry.validate_buses(range(50))
    with pytest.raises(DerBusError) as info:
        registry.validate_buses(range(40))
    assert str(info.value) == (
        "2 DERs reference a bus that does not exist in the feeder: 'bat-1' (bus 40), "
        "'chp-1' (bus 41)"
    )
    assert info.value.missing == (("bat-1", 40), ("chp-1", 41))


def test_groups_by_type_and_tag_follow_the_registry() -> None:
    registry = DerRegistry(_all_types())
    group = registry.create_group("all-pv", by="type", value="pv")
    assert group == DerGroup(name="all-pv", by="type", value="pv", member_ids=("pv-1",))
    registry.create_group("fleet", by="tag", value="fleet")
    registry.create_group("feeder-a", by="tag", value="feeder-a")

    registry.add(_pv("pv-2", tags=frozenset({"fleet"})))
    assert [r.der_id for r in registry.group_members("all-pv")] == ["pv-1", "pv-2"]
    assert [r.der_id for r in registry.group_members("fleet")] == ["ev-1", "pv-2"]
    registry.replace(_pv(tags=frozenset()))
    assert registry.group_members("feeder-a") == []
    assert [g.name for g in registry.list_groups()] == ["all-pv", "fleet", "feeder-a"]

    with pytest.raises(DerGroupError, match="group 'x': unknown der_type 'wind'"):
        registry.create_group("x", by="type", value="wind")
    with pytest.raises(DerGroupError, match="group 'y': by='tag' needs a value"):
        registry.create_group("y", by="tag")


def test_groups_by_feeder() -> None:
    registry = DerRegistry([_pv(bus=3), _battery(bus=5), _gen(bus=12), _ev(bus=99)])
    bus_to_feeder = {3: "F1", 5: "F1", 12: "F2"}
    group = registry.create_group("f1", by="feeder", value="F1", bus_to_feeder=bus_to_feeder)
    assert group.member_ids == ("pv-1", "bat-1")
    bus_to_feeder[12] = "F1"  # the registry keeps its own copy of the mapping
    assert [r.der_id for r in registry.group_members("f1")] == ["pv-1", "bat-1"]

    with pytest.raises(DerGroupError, match="group 'f2': by='feeder' needs bus_to_feeder"):
        registry.create_group("f2", by="feeder", value="F2")
    with pytest.raises(DerGroupError, match="feeder 'F9' does not appear in bus_to_feeder"):
        registry.create_group("f9", by="feeder", value="F9", bus_to_feeder={3: "F1"})


def test_groups_custom() -> None:
    registry = DerRegistry(_all_types())
    group = registry.create_group("vpp", by="custom", members=["chp-1", "bat-1", "chp-1"])
    assert group.member_ids == ("bat-1", "chp-1")  # registry order, repeats dropped
    with pytest.raises(UnknownDerError) as info:
        registry.create_group("bad", by="custom", members=["bat-1", "ghost"])
    assert str(info.value) == "group 'bad': unknown DER 'ghost'"
    assert "bad" not in [g.name for g in registry.list_groups()]
    with pytest.raises(DerGroupError, match="members are only allowed with by='custom'"):
        registry.create_group("t", by="type", value="pv", members=["pv-1"])

    registry.remove("bat-1")
    assert registry.get_group("vpp").member_ids == ("chp-1",)
    registry.add(_battery())
    assert registry.get_group("vpp").member_ids == ("chp-1",)  # removal is final


def test_group_name_errors() -> None:
    registry = DerRegistry(_all_types())
    registry.create_group("g", by="type", value="battery")
    with pytest.raises(DuplicateGroupError) as dup:
        registry.create_group("g", by="tag", value="fleet")
    assert str(dup.value) == "DER group 'g' already exists"
    registry.delete_group("g")
    for action in (registry.group_members, registry.delete_group, registry.get_group):
        with pytest.raises(UnknownGroupError) as info:
            action("g")
        assert str(info.value) == "unknown DER group 'g'"
        assert isinstance(info.value, KeyError)
