"""The model's own DER capability is honoured: pandapower's ``min_p_mw`` / ``max_p_mw``,
``min_q_mvar`` / ``max_q_mvar``, ``controllable`` and reactive capability curves; the IEEE 1547
default applies only where the model declares nothing, and a note names those DERs; a DER file
entry takes precedence over the model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandapower as pp
import pandas as pd
import pytest

from gridderms.ders import ders_from_net
from gridderms.ders.inventory import feeder_inventory
from gridderms.dispatch.feeder_dispatch import dispatch_feeder
from gridderms.dispatch.horizon import Horizon
from network_models.feeder import Feeder
from network_models.loaders import load_feeder
from solvers.limits import OperatingLimits

ONE_PERIOD = Horizon(pd.Timestamp("2026-06-21 12:00", tz="UTC"), 1, 60)
#: a band that forces the PV at the end of Baran-Wu to curtail or absorb
TIGHT = OperatingLimits(0.90, 1.03, 100.0)
ROUND_OFF = 1e-7


def _baran_wu_with(cache_dir, **columns: object) -> Feeder:
    net = copy.deepcopy(load_feeder("baran-wu-33", cache_dir=cache_dir).net)
    for bus in (17, 32):
        pp.create_sgen(net, bus, p_mw=3.0, type="PV", sn_mva=3.3, **columns)  # type: ignore[arg-type]
    return Feeder("bw", "test", net)


def _dispatch(feeder: Feeder):
    ders = ders_from_net(feeder.net)
    return ders, dispatch_feeder(feeder, ders, ONE_PERIOD, limits=TIGHT, snapshot=True)


def test_declared_unity_power_factor_is_never_left(cache_dir) -> None:
    feeder = _baran_wu_with(cache_dir, controllable=True, min_q_mvar=0.0, max_q_mvar=0.0)
    ders, result = _dispatch(feeder)
    assert all(der.reactive.declared for der in ders)
    assert result.status == "optimal" and result.ac_feasible
    assert result.schedule.q_mvar.abs().max() <= ROUND_OFF
    assert result.curtailed_mwh > 0.1  # with no Q, only curtailment helps
    assert not any("IEEE 1547" in note for note in result.notes)


def test_declared_q_box_and_p_range_bound_the_schedule(cache_dir) -> None:
    feeder = _baran_wu_with(
        cache_dir, controllable=True, min_q_mvar=-0.3, max_q_mvar=0.1, min_p_mw=1.2, max_p_mw=2.5
    )
    _, result = _dispatch(feeder)
    assert result.status == "optimal"
    schedule = result.schedule
    assert schedule.q_mvar.min() >= -0.3 - ROUND_OFF
    assert schedule.q_mvar.max() <= 0.1 + ROUND_OFF
    assert schedule.p_mw.min() >= 1.2 - ROUND_OFF
    assert schedule.p_mw.max() <= 2.5 + ROUND_OFF  # max_p_mw caps the 3 MW available
    assert schedule.q_mvar.min() < -0.29  # absorbs to its declared bound, not the default's


def test_controllable_false_is_held_at_its_set_points(cache_dir) -> None:
    feeder = _baran_wu_with(cache_dir, controllable=False, q_mvar=0.05)
    ders, result = _dispatch(feeder)
    schedule = result.schedule
    if result.status == "optimal":
        assert schedule.p_mw.tolist() == pytest.approx([3.0, 3.0], abs=ROUND_OFF)
        assert schedule.q_mvar.tolist() == pytest.approx([0.05, 0.05], abs=ROUND_OFF)
    else:  # held DERs cannot relieve the overvoltage: a diagnosis, not a dispatch
        assert result.diagnosis[0].limit == "voltage_max"
    assert all(not der.curtailable for der in ders)


def test_capability_curve_is_honoured_conservatively(cache_dir) -> None:
    feeder = _baran_wu_with(cache_dir, controllable=True)
    net = feeder.net
    net["q_capability_curve_table"] = pd.DataFrame(
        {
            "id_q_capability_curve": [0, 0, 0],
            "p_mw": [0.0, 1.5, 3.0],
            "q_min_mvar": [-0.2, -0.5, -0.4],
            "q_max_mvar": [0.2, 0.5, 0.4],
        }
    )
    net.sgen["reactive_capability_curve"] = True
    net.sgen["id_q_capability_characteristic"] = 0
    ders, result = _dispatch(feeder)
    for der in ders:
        # the tightest range over 0..3 MW: -0.2 .. 0.2 MVAr
        assert (der.reactive.q_min_mvar, der.reactive.q_max_mvar) == pytest.approx((-0.2, 0.2))
    assert result.schedule.q_mvar.min() >= -0.2 - ROUND_OFF


def test_ieee_default_is_noted_where_the_model_declares_nothing(cache_dir) -> None:
    feeder = _baran_wu_with(cache_dir, controllable=True)
    ders, result = _dispatch(feeder)
    assert not any(der.reactive.declared for der in ders)
    notes = [note for note in result.notes if "IEEE 1547" in note]
    assert len(notes) == 1 and "sgen-0, sgen-1" in notes[0]


def test_a_der_file_entry_takes_precedence_over_the_model(cache_dir, tmp_path: Path) -> None:
    feeder = _baran_wu_with(cache_dir, controllable=True, min_q_mvar=0.0, max_q_mvar=0.0)
    entry = {
        "der_id": "sgen-0",
        "der_type": "pv",
        "name": "PV from the registry",
        "bus": 17,
        "reactive": {"s_rated_mva": 3.3, "pf_min": 0.9, "ieee1547_category": "B"},
        "p_nameplate_mw": 3.0,
        "p_available_mw": 3.0,
        "curtailable": True,
        "source_element": ["sgen", 0],
    }
    path = tmp_path / "ders.json"
    path.write_text(json.dumps([entry]))
    registry = feeder_inventory(feeder, [path])
    record = registry.get("sgen-0")
    assert record.name == "PV from the registry" and not record.reactive.declared
    assert registry.get("sgen-1").reactive.declared
    assert len(registry) == 2
