"""Tests of the DER importers and exporters: from a pandapower network, JSON and CSV."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandapower.networks as pn
import pytest
from der_builders import (
    DATA,
    all_types,
    capability,
    ev_record,
    pv_json,
    pv_row,
    write_csv,
)

from gridderms.ders import (
    DER_RECORD_CLASSES,
    BatteryStorage,
    DerImportError,
    DerRegistry,
    DistributedGenerator,
    FlexibleLoad,
    PvSystem,
    ders_from_csv,
    ders_from_json,
    ders_from_net,
    ders_to_csv,
    ders_to_json,
)
from gridderms.ders.csv_format import (
    ALL_COLUMNS,
    COMMON_COLUMNS,
    TYPE_COLUMNS,
    TYPE_OPTIONAL_COLUMNS,
)

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
        **capability(1.5, 0.9, "B").model_dump(),
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
    assert load.reactive == capability(0.75, 0.95, "A").model_copy(update={"defaulted": True})
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
# JSON / CSV
# --------------------------------------------------------------------------------------------


def test_json_round_trip(tmp_path: Path) -> None:
    records = all_types()
    path = tmp_path / "ders.json"
    text = ders_to_json(records, path)

    assert ders_from_json(path) == records
    assert ders_from_json(str(path)) == records
    assert ders_from_json(text) == records
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload[0]["tags"] == ["feeder-a", "rooftop"]
    assert payload[2]["arrival"] == "2024-06-03T18:00:00+01:00"


def test_csv_round_trip(tmp_path: Path) -> None:
    records = all_types()
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
        pv_row(der_id="pv-1"),
        pv_row(der_id="pv-2"),
        pv_row(der_id="pv-7", p_available_mw="0.6"),
    ]
    path = write_csv(tmp_path / "ders.csv", rows)
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value) == (
        f"{path} row 3 (der_id 'pv-7'): field 'p_available_mw' = 0.6 exceeds p_nameplate_mw = 0.5"
    )


def test_duplicate_der_id_in_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ders.csv", [pv_row(), pv_row(name="again")])
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value) == (
        f"{path} row 2 (der_id 'pv-1'): duplicate der_id (first defined at {path} row 1)"
    )
    with pytest.raises(DerImportError, match=r"item 2 \(der_id 'pv-1'\): duplicate der_id"):
        ders_from_json(json.dumps([pv_json(), pv_json()]))


def test_unknown_der_type(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ders.csv", [pv_row(), pv_row(der_id="x-2", der_type="wind")])
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value).startswith(f"{path} row 2 (der_id 'x-2'): unknown der_type 'wind'")
    assert "expected one of pv, battery, ev_charger, flexible_load, generator" in str(info.value)
    with pytest.raises(DerImportError, match=r"item 1 \(der_id 'pv-1'\): unknown der_type 'solar'"):
        ders_from_json(json.dumps([pv_json(der_type="solar")]))
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
        ders_from_json(json.dumps([pv_json(), 3]))
    with pytest.raises(DerImportError, match="unknown field 'colour'"):
        ders_from_json(json.dumps([pv_json(colour="red")]))


def test_missing_file(tmp_path: Path) -> None:
    for reader, name in ((ders_from_csv, "nope.csv"), (ders_from_json, "nope.json")):
        path = tmp_path / name
        with pytest.raises(DerImportError) as info:
            reader(path)
        assert str(info.value) == f"DER file '{path}' does not exist"


def test_missing_csv_column(tmp_path: Path) -> None:
    common_without_pf = [c for c in ALL_COLUMNS if c != "pf_min"]
    path = write_csv(tmp_path / "a.csv", [pv_row()], common_without_pf)
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value).startswith(f"{path}: missing column 'pf_min' (required: der_id, ")

    pv_only = [*COMMON_COLUMNS, "p_nameplate_mw", "p_available_mw", "curtailable"]
    assert ders_from_csv(write_csv(tmp_path / "b.csv", [pv_row()], pv_only))[0].der_id == "pv-1"
    battery_row = {**pv_row(der_id="bat-2", der_type="battery"), "p_nameplate_mw": ""}
    path = write_csv(tmp_path / "c.csv", [pv_row(), battery_row], pv_only)
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value) == (
        f"{path} row 2 (der_id 'bat-2'): missing column 'p_charge_max_mw' required for "
        "der_type 'battery'"
    )


def test_csv_cell_errors(tmp_path: Path) -> None:
    cases = [
        (pv_row(p_nameplate_mw="abc"), "field 'p_nameplate_mw' = 'abc' is not a number"),
        (pv_row(bus="3.5"), "field 'bus' = '3.5' is not an integer"),
        (pv_row(curtailable="yes"), "field 'curtailable' = 'yes' is not a boolean"),
        (pv_row(pf_min=""), "field 'pf_min' is missing"),
        (pv_row(pf_min="1.5"), "field 'pf_min' = 1.5: Input should be less than or equal to 1"),
        (pv_row(e_capacity_mwh="1"), "field 'e_capacity_mwh' = '1' does not apply to der_type"),
        (pv_row(status="broken"), "field 'status' = 'broken': Input should be 'available'"),
    ]
    for number, (row, expected) in enumerate(cases):
        path = write_csv(tmp_path / f"bad{number}.csv", [row])
        with pytest.raises(DerImportError) as info:
            ders_from_csv(path)
        assert str(info.value).startswith(f"{path} row 1 (der_id 'pv-1'): {expected}"), str(
            info.value
        )


def test_csv_naive_datetime_rejected(tmp_path: Path) -> None:
    path = tmp_path / "ders.csv"
    ders_to_csv([ev_record()], path)
    text = path.read_text(encoding="utf-8").replace("2024-06-03T18:00:00+01:00", "2024-06-03T18:00")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert "row 1 (der_id 'ev-1'): field 'arrival' = 2024-06-03T18:00:00: Input should have" in (
        str(info.value)
    )
