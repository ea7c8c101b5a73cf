"""Tests of the DER registry: records, reactive capability and groups."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from der_builders import (
    T0,
    all_types,
    battery_record,
    capability,
    ev_record,
    flex_record,
    gen_record,
    pv_json,
    pv_record,
    pv_row,
    write_csv,
)
from pydantic import ValidationError

from gridderms.ders import (
    BatteryStorage,
    CapabilityError,
    DerBusError,
    DerError,
    DerGroup,
    DerGroupError,
    DerImportError,
    DerRegistry,
    DuplicateDerError,
    DuplicateGroupError,
    UnknownDerError,
    UnknownGroupError,
    ders_from_csv,
    ders_from_json,
    q_limits_mvar,
)

# --------------------------------------------------------------------------------------------
# reactive capability
# --------------------------------------------------------------------------------------------


def test_q_limits_power_factor_binds() -> None:
    # circle sqrt(0.1^2 - 0.08^2) = 0.06, pf 0.08 * tan(acos 0.9) = 0.03875, Cat B 0.044
    q_min, q_max = q_limits_mvar(0.08, capability(0.1, 0.9, "B"))
    assert q_max == pytest.approx(0.08 * math.tan(math.acos(0.9)))
    assert q_max == pytest.approx(0.03875, abs=1e-5)
    assert q_min == pytest.approx(-0.03875, abs=1e-5)


def test_q_limits_circle_binds_and_sign_of_p_does_not_matter() -> None:
    # circle sqrt(0.01 - 0.009025) = 0.031225 < pf 0.095 * tan(acos 0.3) = 0.302 < Cat B 0.044
    assert q_limits_mvar(0.095, capability(0.1, 0.3)) == pytest.approx(
        (-0.031225, 0.031225), abs=1e-6
    )
    assert q_limits_mvar(-0.095, capability(0.1, 0.3)) == q_limits_mvar(0.095, capability(0.1, 0.3))


def test_q_limits_category_a_absorption_limit() -> None:
    # pf 0.05 * 0.75 = 0.0375 < circle 0.0866; Cat A absorption 0.25 * 0.1 = 0.025 binds q_min
    cap_a = capability(0.1, 0.8, "A")
    assert cap_a.q_inject_max_mvar == pytest.approx(0.044)
    assert cap_a.q_absorb_max_mvar == pytest.approx(0.025)
    assert q_limits_mvar(0.05, cap_a) == pytest.approx((-0.025, 0.0375))
    assert q_limits_mvar(0.05, capability(0.1, 0.8, "B")) == pytest.approx((-0.0375, 0.0375))
    # at low power factor the category limits bind both ways: 0.44 / 0.25 of S_rated
    assert q_limits_mvar(0.02, capability(0.1, 0.1, "A")) == pytest.approx((-0.025, 0.044))


def test_q_limits_edge_cases() -> None:
    assert q_limits_mvar(0.0, capability(0.1)) == (0.0, 0.0)  # pf limit: no P, no Q
    assert q_limits_mvar(0.12, capability(0.1, 0.1)) == (0.0, 0.0)  # beyond the circle
    assert q_limits_mvar(0.05, capability(0.1, 1.0)) == (0.0, 0.0)  # unity power factor only
    with pytest.raises(CapabilityError, match="p_mw must be a finite number"):
        q_limits_mvar(float("nan"), capability())


def test_reactive_capability_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match="pf_min"):
        capability(0.1, 1.2)
    with pytest.raises(ValidationError, match="s_rated_mva"):
        capability(0.0)
    with pytest.raises(ValidationError, match="ieee1547_category"):
        capability(0.1, 0.9, "C")


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


def test_record_properties_and_immutability() -> None:
    battery = battery_record()
    assert battery.e_initial_mwh == pytest.approx(0.8 * 0.555)
    assert (battery.e_min_mwh, battery.e_max_mwh) == pytest.approx((0.08, 0.72))
    ev = ev_record()
    assert ev.connection_hours == pytest.approx(12.0)
    assert ev.energy_deliverable_mwh == pytest.approx(0.264)
    assert pv_record(tags=["a", "b"]).tags == frozenset({"a", "b"})
    with pytest.raises(ValidationError, match="frozen"):
        battery.soc_initial_percent = 20.0


def test_nan_rejected_naming_field_and_der_id() -> None:
    with pytest.raises(ValidationError) as info:
        pv_record(der_id="pv-9", p_available_mw=float("nan"))
    assert "field 'p_available_mw' must be a finite number, got nan (der_id 'pv-9')" in str(
        info.value
    )
    with pytest.raises(ValidationError) as info:
        pv_record(reactive={"s_rated_mva": math.inf, "pf_min": 0.9, "ieee1547_category": "B"})
    assert "field 'reactive.s_rated_mva' must be a finite number, got inf (der_id 'pv-1')" in str(
        info.value
    )


def test_nan_rejected_in_csv_and_json(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ders.csv", [pv_row(p_available_mw="nan")])
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    assert str(info.value) == (
        f"{path} row 1 (der_id 'pv-1'): field 'p_available_mw' must be a finite number, got nan"
    )
    with pytest.raises(DerImportError) as info:
        ders_from_json(json.dumps([pv_json(p_nameplate_mw=math.inf)]))
    assert "item 1 (der_id 'pv-1'): field 'p_nameplate_mw' must be a finite number, got inf" in (
        str(info.value)
    )


def test_bool_as_number_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        ev_record(p_max_mw=True)
    assert "field 'p_max_mw' must be a number, got boolean True (der_id 'ev-1')" in str(info.value)
    with pytest.raises(ValidationError, match="field 'bus' must be a number, got boolean"):
        pv_record(bus=False)
    with pytest.raises(DerImportError) as json_info:
        ders_from_json(json.dumps([pv_json(p_available_mw=True)]))
    assert "item 1 (der_id 'pv-1'): field 'p_available_mw' must be a number, got boolean" in str(
        json_info.value
    )


def test_strings_are_not_numbers() -> None:
    with pytest.raises(DerImportError) as info:
        ders_from_json(json.dumps([pv_json(p_available_mw="0.4")]))
    assert "field 'p_available_mw' = '0.4': Input should be a valid number" in str(info.value)


def test_soc_bounds_inverted() -> None:
    with pytest.raises(ValidationError) as info:
        battery_record(soc_min_percent=90.0, soc_max_percent=10.0, soc_initial_percent=50.0)
    assert "field 'soc_min_percent' = 90 must be below soc_max_percent = 10" in str(info.value)
    with pytest.raises(ValidationError) as info:
        battery_record(soc_initial_percent=95.0)
    assert "field 'soc_initial_percent' = 95 is outside" in str(info.value)
    assert "[soc_min_percent, soc_max_percent] = [10, 90]" in str(info.value)


def test_ev_energy_not_deliverable_names_shortfall() -> None:
    # 0.011 MW over 4 h delivers 0.044 MWh; need 0.1 MWh -> shortfall 0.056 MWh
    with pytest.raises(ValidationError) as info:
        ev_record(p_max_mw=0.011, energy_need_mwh=0.1, departure=T0 + timedelta(hours=4))
    message = str(info.value)
    assert "field 'energy_need_mwh' = 0.1 cannot be delivered" in message
    assert "delivers at most 0.044 MWh, shortfall 0.056 MWh" in message
    # exactly deliverable is fine
    assert ev_record(p_max_mw=0.011, energy_need_mwh=0.044, departure=T0 + timedelta(hours=4))


def test_ev_and_flexible_load_time_checks() -> None:
    with pytest.raises(ValidationError, match=r"field 'departure' = .* must be after arrival"):
        ev_record(departure=T0)
    with pytest.raises(ValidationError, match="timezone"):
        ev_record(arrival=datetime(2024, 6, 3, 18, 0))
    with pytest.raises(ValidationError, match=r"field 'window_end' = .* must be after"):
        flex_record(window_end=datetime(2024, 6, 2, tzinfo=UTC))
    with pytest.raises(ValidationError) as info:
        flex_record(p_baseline_mw=0.05)
    assert "field 'p_baseline_mw' = 0.05 must lie within [p_min_mw, p_max_mw] = [0, 0.04]" in str(
        info.value
    )


def test_record_field_checks() -> None:
    with pytest.raises(ValidationError, match="der_id"):
        pv_record(der_id="")
    with pytest.raises(ValidationError, match="leading or trailing whitespace"):
        pv_record(der_id=" pv-1")
    with pytest.raises(ValidationError, match="bus"):
        pv_record(bus=-1)
    with pytest.raises(ValidationError, match="status"):
        pv_record(status="broken")
    with pytest.raises(ValidationError, match="must not contain ';'"):
        pv_record(tags=frozenset({"a;b"}))
    with pytest.raises(ValidationError, match="extra"):
        pv_record(colour="red")
    with pytest.raises(ValidationError) as info:
        gen_record(p_max_mw=0.05, p_available_mw=0.06)
    assert "field 'p_available_mw' = 0.06 exceeds p_max_mw = 0.05" in str(info.value)


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------


def test_registry_crud() -> None:
    registry = DerRegistry()
    registry.add(pv_record())
    registry.add_many([battery_record(), gen_record(), pv_record("pv-2", bus=9)])

    assert len(registry) == 4
    assert [r.der_id for r in registry] == ["pv-1", "bat-1", "chp-1", "pv-2"]
    assert [r.der_id for r in registry.by_type("pv")] == ["pv-1", "pv-2"]
    assert [r.der_id for r in registry.at_bus(9)] == ["chp-1", "pv-2"]
    assert registry.at_bus(99) == []
    assert "bat-1" in registry

    updated = battery_record(soc_initial_percent=20.0)
    old = registry.replace(updated)
    assert isinstance(old, BatteryStorage) and old.soc_initial_percent == 55.5
    assert registry.get("bat-1") == updated
    assert [r.der_id for r in registry][1] == "bat-1"  # position kept

    removed = registry.remove("chp-1")
    assert removed.der_id == "chp-1" and len(registry) == 3
    with pytest.raises(DerError, match="unknown der_type 'solar'"):
        registry.by_type("solar")


def test_registry_duplicate_id() -> None:
    registry = DerRegistry([pv_record()])
    with pytest.raises(DuplicateDerError) as info:
        registry.add(pv_record(name="other"))
    assert str(info.value) == "DER 'pv-1' is already registered"
    with pytest.raises(DuplicateDerError, match="DER 'bat-1' is already registered"):
        registry.add_many([battery_record(), gen_record(), battery_record()])
    assert [r.der_id for r in registry] == ["pv-1"]  # nothing of the batch was added


def test_registry_unknown_id() -> None:
    registry = DerRegistry([pv_record()])
    for action in (registry.get, registry.remove):
        with pytest.raises(UnknownDerError) as info:
            action("pv-404")
        assert str(info.value) == "unknown DER 'pv-404'"
        assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownDerError, match="unknown DER 'ev-1'"):
        registry.replace(ev_record())


def test_validate_buses_lists_missing() -> None:
    registry = DerRegistry([pv_record(bus=3), battery_record(bus=40), gen_record(bus=41)])
    registry.validate_buses(range(50))
    with pytest.raises(DerBusError) as info:
        registry.validate_buses(range(40))
    assert str(info.value) == (
        "2 DERs reference a bus that does not exist in the feeder: 'bat-1' (bus 40), "
        "'chp-1' (bus 41)"
    )
    assert info.value.missing == (("bat-1", 40), ("chp-1", 41))


def test_groups_by_type_and_tag_follow_the_registry() -> None:
    registry = DerRegistry(all_types())
    group = registry.create_group("all-pv", by="type", value="pv")
    assert group == DerGroup(name="all-pv", by="type", value="pv", member_ids=("pv-1",))
    registry.create_group("fleet", by="tag", value="fleet")
    registry.create_group("feeder-a", by="tag", value="feeder-a")

    registry.add(pv_record("pv-2", tags=frozenset({"fleet"})))
    assert [r.der_id for r in registry.group_members("all-pv")] == ["pv-1", "pv-2"]
    assert [r.der_id for r in registry.group_members("fleet")] == ["ev-1", "pv-2"]
    registry.replace(pv_record(tags=frozenset()))
    assert registry.group_members("feeder-a") == []
    assert [g.name for g in registry.list_groups()] == ["all-pv", "fleet", "feeder-a"]

    with pytest.raises(DerGroupError, match="group 'x': unknown der_type 'wind'"):
        registry.create_group("x", by="type", value="wind")
    with pytest.raises(DerGroupError, match="group 'y': by='tag' needs a value"):
        registry.create_group("y", by="tag")


def test_groups_by_feeder() -> None:
    registry = DerRegistry(
        [pv_record(bus=3), battery_record(bus=5), gen_record(bus=12), ev_record(bus=99)]
    )
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
    registry = DerRegistry(all_types())
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
    registry.add(battery_record())
    assert registry.get_group("vpp").member_ids == ("chp-1",)  # removal is final


def test_group_name_errors() -> None:
    registry = DerRegistry(all_types())
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
