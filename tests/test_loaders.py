"""Loading feeders from built-in names, pandapower JSON and MATPOWER files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandapower as pp
import pytest
from pandapower.converter.matpower import to_mpc

from network_models.builtin import BARAN_WU_LINE_RATING_KA, BUILTIN_FEEDERS
from network_models.errors import FeederNotFoundError
from network_models.loaders import load_feeder
from solvers.powerflow import run_powerflow

DATA = Path(__file__).parent / "data"


def test_builtin_registry_has_the_required_feeders() -> None:
    names = set(BUILTIN_FEEDERS)
    assert {"baran-wu-33", "cigre-mv-der", "cigre-lv"} <= names
    assert {n for n in names if n.startswith("1-LV-")} and {n for n in names if "-MV-" in n}


@pytest.mark.parametrize(
    ("name", "buses", "lines", "ders", "profile_steps"),
    [
        ("baran-wu-33", 33, 37, 0, 0),
        ("cigre-mv-der", 15, 15, 15, 0),
        ("cigre-lv", 44, 37, 0, 0),
        ("lv-schutterwald", 2940, 3000, 0, 0),
        ("1-LV-rural1--0-sw", 15, 13, 4, 35136),
        ("1-MV-rural--0-sw", 97, 99, 102, 35136),
    ],
)
def test_builtin_feeder_sizes(cache_dir, name, buses, lines, ders, profile_steps) -> None:
    feeder = load_feeder(name, cache_dir=cache_dir)
    counts = feeder.counts()
    assert (counts["buses"], counts["lines"], counts["ders"]) == (buses, lines, ders)
    assert (feeder.profiles.n_steps if feeder.profiles else 0) == profile_steps


def test_large_feeder_has_over_1000_buses(cache_dir) -> None:
    assert (
        max(load_feeder(n, cache_dir=cache_dir).counts()["buses"] for n in ("lv-schutterwald",))
        >= 1000
    )


def test_builtin_cache_round_trip_preserves_the_model(tmp_path) -> None:
    first = load_feeder("cigre-mv-der", cache_dir=tmp_path)
    assert any(tmp_path.glob("cigre-mv-der-*.json"))
    second = load_feeder("cigre-mv-der", cache_dir=tmp_path)  # from the cache
    assert first.net.line.equals(second.net.line) or np.allclose(
        first.net.line.r_ohm_per_km, second.net.line.r_ohm_per_km
    )
    a, b = run_powerflow(first.net), run_powerflow(second.net)
    assert a.losses_mw == pytest.approx(b.losses_mw, abs=1e-12)


def test_corrupt_cache_is_rebuilt(tmp_path) -> None:
    load_feeder("baran-wu-33", cache_dir=tmp_path)
    for cached in tmp_path.glob("baran-wu-33-*.json"):
        if not cached.name.endswith(".meta.json"):
            cached.write_text("{truncated")
    feeder = load_feeder("baran-wu-33", cache_dir=tmp_path)
    assert len(feeder.net.bus) == 33


def test_baran_wu_notes_record_the_assigned_ratings(cache_dir) -> None:
    feeder = load_feeder("baran-wu-33", cache_dir=cache_dir)
    assert (feeder.net.line.max_i_ka == BARAN_WU_LINE_RATING_KA).all()
    assert any("assigned" in note for note in feeder.notes)


def test_pandapower_json_file(tmp_path, cache_dir) -> None:
    path = tmp_path / "feeder.json"
    pp.to_json(load_feeder("cigre-mv-der", cache_dir=cache_dir).net, str(path))
    feeder = load_feeder(path)
    assert feeder.name == "feeder" and feeder.source == str(path)
    assert len(feeder.net.sgen) == 13


def test_matpower_m_file_losses_match_the_series_loss_formula() -> None:
    feeder = load_feeder(DATA / "case4_radial.m")
    assert (len(feeder.net.bus), len(feeder.net.line), len(feeder.net.load)) == (4, 3, 3)
    # RATE_A = 10 MVA at 12.66 kV
    assert feeder.net.line.max_i_ka.to_numpy() == pytest.approx(10 / (3**0.5 * 12.66))
    result = run_powerflow(feeder.net)
    # independent estimate: sum of |S|^2 / V^2 * R along the radial paths at 1 pu
    r_ohm = feeder.net.line.r_ohm_per_km.to_numpy()
    s2 = np.array([(2.3**2 + 1.0**2), (0.8**2 + 0.3**2), (0.5**2 + 0.2**2)])
    estimate_mw = float(np.sum(s2 / 12.66**2 * r_ohm))
    assert result.losses_mw == pytest.approx(estimate_mw, rel=0.01)
    assert result.feeder_head_p_mw == pytest.approx(2.3 + result.losses_mw, abs=1e-6)


def test_matpower_mat_round_trip_reproduces_baran_wu(tmp_path, cache_dir) -> None:
    net = load_feeder("baran-wu-33", cache_dir=cache_dir).net
    net.line = net.line[net.line.in_service]  # the .mat case keeps only the closed branches
    path = tmp_path / "case33.mat"
    to_mpc(net, str(path), init="flat")
    result = run_powerflow(load_feeder(path).net)
    assert result.losses_mw == pytest.approx(0.2027, abs=5e-4)
    assert result.min_vm_pu == pytest.approx(0.9131, abs=5e-4)


def test_unknown_source_names_the_builtins() -> None:
    with pytest.raises(FeederNotFoundError, match="'no-such-feeder' is neither a built-in"):
        load_feeder("no-such-feeder")
    with pytest.raises(FeederNotFoundError, match="baran-wu-33"):
        load_feeder("missing.json")


def test_simbench_prefix_reports_an_unknown_code(tmp_path) -> None:
    with pytest.raises(FeederNotFoundError, match="SimBench grid 'not-a-code'"):
        load_feeder("simbench:not-a-code", cache_dir=tmp_path)
