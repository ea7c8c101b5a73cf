"""Hosting capacity: every figure checked against pandapower's own AC power flow (runpp).

The reference (:mod:`solvers.hosting_capacity.reference`) adds a real sgen/load to a copy of
the net and calls ``pandapower.runpp``; nothing of the fast path (components, compiled model,
LP, secant search) is used there.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridderms.cli import main
from gridderms.hosting import run_study, window_steps
from network_models.feeder import Feeder
from network_models.loaders import load_feeder
from solvers.hosting_capacity.ac_check import ComponentState
from solvers.hosting_capacity.components import compile_component, split_at_sources
from solvers.hosting_capacity.managed import curtailed_share, managed_hosting_capacity, pv_shape
from solvers.hosting_capacity.operating_point import profile_step, worst_case
from solvers.hosting_capacity.reference import BruteForce
from solvers.hosting_capacity.refine import Tolerance, refine
from solvers.hosting_capacity.static import HostingCapacityResult, hosting_capacity
from solvers.hosting_capacity.timeseries import timeseries_hosting_capacity
from solvers.limits import StudyLimits

#: 1 % or 1 kW: narrow enough that "2 % more" is beyond the bracket for every bus >= 50 kW
TIGHT = Tolerance(relative=0.01, absolute_mw=0.001)
JUNE_DAY = range(96 * 172, 96 * 173)


@pytest.fixture(scope="module")
def baran(cache_dir: Path) -> tuple[Feeder, HostingCapacityResult]:
    feeder = load_feeder("baran-wu-33", cache_dir=cache_dir)
    return feeder, hosting_capacity(feeder, tolerance=TIGHT)


@pytest.fixture(scope="module")
def cigre(cache_dir: Path) -> tuple[Feeder, HostingCapacityResult]:
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    return feeder, hosting_capacity(feeder, tolerance=TIGHT)


@pytest.fixture(scope="module")
def lv_rural(cache_dir: Path) -> Feeder:
    return load_feeder("1-LV-rural1--0-sw", cache_dir=cache_dir)


def _feasible_and_two_percent_more_not(feeder: Feeder, result: HostingCapacityResult) -> int:
    checked = 0
    for mode in ("gen", "load"):
        reference = BruteForce(feeder.net, worst_case(feeder, mode), StudyLimits(), mode, 1.0)
        for bus, row in result.table.iterrows():
            hc = row[f"hc_{mode}_mw"]
            if math.isnan(hc):
                assert bus in feeder.topology().source_buses
                continue
            at = reference.evaluate(int(bus), hc)
            assert at.margin <= 0.0, f"{mode} bus {bus}: {hc} MW violates {at.worst}"
            above = max(1.02 * hc, hc + TIGHT.width_mw(hc))
            beyond = reference.evaluate(int(bus), above)
            assert beyond.margin > 0.0, f"{mode} bus {bus}: {above} MW is still feasible"
            assert row[f"binding_{mode}"] in beyond.violated, (bus, mode, beyond.violated)
            checked += 1
    return checked


def test_baran_wu_capacities_are_runpp_feasible_and_2_percent_more_is_not(baran) -> None:
    feeder, result = baran
    assert _feasible_and_two_percent_more_not(feeder, result) == 64
    # the physics: the end of the main feeder (bus 18 in the paper, index 17) hosts least,
    # stopped by overvoltage there (generation) and undervoltage there (load)
    table = result.table
    assert table.hc_gen_mw.idxmin() == 17 and table.hc_load_mw.idxmin() == 17
    assert table.loc[17, "binding_gen"] == "overvoltage at bus 17"
    assert table.loc[17, "binding_load"] == "undervoltage at bus 17"
    assert table.loc[17, "hc_gen_mw"] == pytest.approx(1.98, rel=0.02)
    assert table.loc[1, "binding_gen"] == "thermal on line 0"  # next to the source: thermal


def test_cigre_mv_capacities_are_runpp_feasible_and_2_percent_more_is_not(cigre) -> None:
    feeder, result = cigre
    assert _feasible_and_two_percent_more_not(feeder, result) == 28
    # trafo 0 is overloaded at maximum load already: feeder 1 takes no new load
    assert any("trafo 0" in note for note in result.relaxed_limits["load"])
    assert (result.table.loc[result.table.feeder == "feeder-1", "hc_load_mw"] == 0.0).all()


def test_lp_and_refinement_agree_with_brute_force_bisection_on_every_bus(cache_dir) -> None:
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    tolerance = Tolerance()
    result = hosting_capacity(feeder, tolerance=tolerance)
    for mode in ("gen", "load"):
        brute = BruteForce(feeder.net, worst_case(feeder, mode), StudyLimits(), mode, 1.0)
        for bus in result.table.index.difference(list(feeder.topology().source_buses)):
            ours = result.table.loc[bus, f"hc_{mode}_mw"]
            reference = brute.search(int(bus), tolerance)
            assert abs(ours - reference.p_mw) <= tolerance.width_mw(max(ours, reference.p_mw))
            assert result.table.loc[bus, f"binding_{mode}"] == reference.binding
    # the LP is a real estimate, not a placeholder: within 15 % of the AC answer
    positive = result.table.hc_gen_mw > 0.1
    lp, ac = result.table.lp_gen_mw[positive], result.table.hc_gen_mw[positive]
    assert (abs(lp - ac) <= 0.15 * ac).all()


def test_power_factor_absorbing_reactive_power_raises_generation_capacity(baran) -> None:
    feeder, unity = baran
    absorbing = hosting_capacity(feeder, buses=[17], modes=("gen",), pf=0.9, tolerance=TIGHT)
    assert absorbing.table.loc[17, "hc_gen_mw"] > 1.2 * unity.table.loc[17, "hc_gen_mw"]


def test_split_at_sources_gives_the_separate_substations(cache_dir) -> None:
    feeder = load_feeder("lv-schutterwald", cache_dir=cache_dir)
    splits = split_at_sources(feeder.topology())
    assert len(splits) == 14 and all(len(s.source_bus_ids) == 1 for s in splits)
    energized = set(feeder.topology().energized_buses) - set(feeder.topology().source_buses)
    assert sum(len(s.bus_ids) for s in splits) == len(energized)


def test_timeseries_minimum_is_the_lowest_ac_capacity_over_the_day(lv_rural) -> None:
    buses = [3, 8]
    series = timeseries_hosting_capacity(lv_rural, JUNE_DAY, buses=buses, mode="gen")
    split = next(s for s in split_at_sources(lv_rural.topology()) if 3 in s.bus_ids)
    component = compile_component(lv_rural.net, split)
    for bus in buses:
        row = int(component.model.bus_lookup[bus])
        exhaustive = []
        for step in JUNE_DAY:  # AC refinement at every step, no screening
            state = ComponentState(
                component, profile_step(lv_rural, step), StudyLimits(), "gen", 1.0
            )
            found = refine(
                lambda p, s=state, r=row: s.check(r, p),
                0.05,
                Tolerance(),
                1e3,
                state.assess(state.v0),
            )
            exhaustive.append(found.p_mw)
        best = int(np.argmin(exhaustive))
        reported = series.minimum.loc[bus]
        assert reported.hc_min_mw == pytest.approx(min(exhaustive), abs=Tolerance().width_mw(0.1))
        assert abs(reported.step - JUNE_DAY[best]) <= 4 or (
            exhaustive[reported.step - JUNE_DAY.start] - min(exhaustive) <= 0.002
        )
        # and it is feasible in pandapower at that step, 2 % more is not
        brute = BruteForce(
            lv_rural.net, profile_step(lv_rural, int(reported.step)), StudyLimits(), "gen", 1.0
        )
        assert brute.evaluate(bus, reported.hc_min_mw).margin <= 0.0
        above = reported.hc_min_mw + Tolerance().width_mw(reported.hc_min_mw)
        assert brute.evaluate(bus, above).margin > 0.0
    # the per-step series never goes below the AC-exact minimum it is scaled to
    for bus in buses:
        assert series.per_step_mw[bus].min() == pytest.approx(series.minimum.loc[bus, "hc_min_mw"])


def test_managed_capacity_is_at_least_static_and_curtails_at_most_the_share(lv_rural) -> None:
    series = timeseries_hosting_capacity(lv_rural, JUNE_DAY, buses=[3, 8], mode="gen")
    shape = pv_shape(lv_rural, JUNE_DAY)
    managed = managed_hosting_capacity(series.per_step_mw, shape, 0.05)
    for bus, row in managed.iterrows():
        assert row.static_hc_mw == pytest.approx(series.minimum.loc[bus, "hc_min_mw"])
        assert row.managed_hc_mw > row.static_hc_mw
        hc = series.per_step_mw[bus].to_numpy()
        assert curtailed_share(row.managed_hc_mw, shape, hc) <= 0.05
        assert curtailed_share(row.managed_hc_mw * 1.01, shape, hc) > 0.05
        assert curtailed_share(row.static_hc_mw, shape, hc) == 0.0


def test_run_study_on_a_window_of_steps_equals_the_same_day_by_date(lv_rural, baran) -> None:
    # the service's form (a window of profile steps) and the command line's (a date)
    by_window = run_study(lv_rural, buses=[3, 8], modes=("gen",), timeseries=JUNE_DAY, jobs=1)
    by_date = run_study(lv_rural, buses=[3, 8], modes=("gen",), timeseries="2016-06-21")
    assert by_window.timeseries["gen"].steps == JUNE_DAY
    pd.testing.assert_frame_equal(
        by_window.timeseries["gen"].minimum, by_date.timeseries["gen"].minimum
    )
    assert by_window.managed is not None and by_date.managed is not None
    pd.testing.assert_frame_equal(by_window.managed, by_date.managed)
    night = range(JUNE_DAY.start, JUNE_DAY.start + 8)  # no PV shape, and none asked for
    assert run_study(lv_rural, buses=[3], timeseries=night, managed=False).managed is None
    with pytest.raises(ValueError, match=r"steps 35100\.\.35195 are outside the profiles"):
        window_steps(lv_rural, 35100, 96)
    with pytest.raises(ValueError, match="feeder 'baran-wu-33' has no profiles"):
        window_steps(baran[0], 0, 96)


def test_cli_hosting_capacity_end_to_end(cache_dir, tmp_path, capsys) -> None:
    out = tmp_path / "hc"
    assert main(["hosting-capacity", "cigre-mv-der", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "thermal on trafo 0" in text and "overvoltage at bus" in text
    assert (out / "hosting_capacity.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    rows = (out / "hosting_capacity.csv").read_text().splitlines()
    assert len(rows) == 16 and rows[0].startswith("bus,feeder,substation")
    data = json.loads((out / "hosting_capacity.json").read_text())
    assert len(data["buses"]) == 15 and data["counts"]["lp_solves"] == 28

    assert (
        main(
            [
                "hosting-capacity",
                "1-LV-rural1--0-sw",
                "--mode",
                "gen",
                "--timeseries",
                "2016-06-21",
                "--buses",
                "3,8",
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )
    study = json.loads(capsys.readouterr().out)
    assert study["timeseries"]["gen"]["n_steps"] == 96
    managed = study["managed"]["buses"]
    assert all(b["managed_hc_mw"] >= b["static_hc_mw"] for b in managed)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--buses", "5", "999"], "bus 999 is not a bus of feeder 'baran-wu-33'"),
        (["--buses", "five"], "bus id 'five' is not an integer"),
        (["--pf", "1.5"], "power factor must be within"),
        (["--timeseries", "day"], "feeder 'baran-wu-33' has no profiles"),
        (
            ["--min-load-share", "1.5"],
            "--min-load-share must be a finite number within [0, 1], got 1.5",
        ),
        (
            ["--min-load-share", "-0.1"],
            "--min-load-share must be a finite number within [0, 1], got -0.1",
        ),
        (
            ["--min-load-share", "nan"],
            "--min-load-share must be a finite number within [0, 1], got nan",
        ),
    ],
)
def test_cli_hosting_capacity_bad_input_exits_2(cache_dir, capsys, args, message) -> None:
    assert main(["hosting-capacity", "baran-wu-33", "--no-progress", *args]) == 2
    assert f"error: {message}" in capsys.readouterr().err


def test_managed_capacity_is_zero_where_the_bus_hosts_nothing_at_sunny_steps() -> None:
    shape = np.array([0.0, 0.5, 1.0, 0.5, 0.0])
    hc = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    managed = managed_hosting_capacity(pd.DataFrame(hc, columns=[1, 2]), shape, 0.05)
    assert managed.loc[2, "managed_hc_mw"] == pytest.approx(0.0, abs=1e-5)
    # bus 1: 1 MW firm; S * shape exceeds 1 MW only at the peak step: 5 % of 2 S
    assert managed.loc[1, "managed_hc_mw"] == pytest.approx(1.0 / 0.9, rel=2e-3)


#: a few Baran-Wu buses: next to the source (thermal), mid-feeder, the ends of the laterals
SHARE_BUSES = [1, 5, 17, 24, 32]


def test_min_load_share_1_raises_generation_capacity_and_is_runpp_exact(baran) -> None:
    feeder, default = baran
    full = hosting_capacity(feeder, buses=SHARE_BUSES, tolerance=TIGHT, min_load_share=1.0)
    assert full.min_load_share == 1.0 and default.min_load_share == 0.25
    assert full.operating_point == (
        "loads at 100 % of their set-points (generation HC), 100 % (load HC)"
    )
    assert default.operating_point == (
        "loads at 25 % of their set-points (generation HC), 100 % (load HC)"
    )
    point = worst_case(feeder, "gen", min_load_share=1.0)  # loads at their file values
    pd.testing.assert_series_equal(
        point.values[("load", "p_mw")], feeder.net.load.p_mw.astype(float)
    )
    reference = BruteForce(feeder.net, point, StudyLimits(), "gen", 1.0)
    for bus in SHARE_BUSES:
        hc = full.table.loc[bus, "hc_gen_mw"]
        # more load absorbs more of the new generation: a higher capacity everywhere
        assert hc > default.table.loc[bus, "hc_gen_mw"] + TIGHT.width_mw(hc), bus
        # load hosting capacity is at 100 % of the set-points either way (1 W: other buses,
        # other LP warm starts)
        load_mw = default.table.loc[bus, "hc_load_mw"]
        assert full.table.loc[bus, "hc_load_mw"] == pytest.approx(load_mw, abs=1e-6)
        # pandapower runpp at the reported capacity: feasible, and a limit at its bound
        assert reference.evaluate(bus, hc).margin <= 0.0, bus
        beyond = reference.evaluate(bus, max(1.02 * hc, hc + TIGHT.width_mw(hc)))
        assert beyond.margin > 0.0, bus
        assert full.table.loc[bus, "binding_gen"] in beyond.violated, (bus, beyond.violated)
    assert full.table.loc[17, "hc_gen_mw"] == pytest.approx(3.04, rel=0.02)


@pytest.mark.parametrize("share", [1.5, -0.1, math.nan, math.inf, True])
def test_min_load_share_outside_0_1_is_refused(baran, share) -> None:
    feeder, _ = baran
    with pytest.raises(ValueError, match=r"min_load_share must be a finite number within \[0, 1\]"):
        hosting_capacity(feeder, buses=[17], min_load_share=share)
    with pytest.raises(ValueError, match="min_load_share must be a finite number"):
        run_study(feeder, buses=[17], min_load_share=share)
    with pytest.raises(ValueError, match="min_load_share must be a finite number"):
        worst_case(feeder, "gen", min_load_share=share)


def test_min_load_share_does_not_apply_to_loads_with_profiles(lv_rural) -> None:
    low = hosting_capacity(lv_rural, buses=[3, 8], modes=("gen",), min_load_share=0.0)
    high = hosting_capacity(lv_rural, buses=[3, 8], modes=("gen",), min_load_share=1.0)
    pd.testing.assert_series_equal(low.table.hc_gen_mw, high.table.hc_gen_mw)
    assert high.operating_point == (
        "each load at its minimum (generation HC) over the profile steps 0..35135 "
        "(2016-01-01 00:00 .. 2016-12-31 23:45); min_load_share does not apply (the profiles "
        "give the operating point)"
    )


def test_cli_min_load_share_in_text_json_csv(cache_dir, tmp_path, capsys) -> None:
    out = tmp_path / "share"
    args = ["hosting-capacity", "baran-wu-33", "--buses", "5", "17", "--no-progress"]
    assert main([*args, "--min-load-share", "0.6", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    line = "loads at 60 % of their set-points (generation HC), 100 % (load HC)"
    assert f"operating point:        {line}" in text.splitlines()
    csv = pd.read_csv(out / "hosting_capacity.csv", index_col="bus")
    assert list(csv.columns[-2:]) == ["min_load_share", "operating_point"] and len(csv) == 2
    assert (csv.min_load_share == 0.6).all() and (csv.operating_point == line).all()
    written = json.loads((out / "hosting_capacity.json").read_text())
    assert written["min_load_share"] == 0.6 and written["operating_point"] == line
    assert main([*args, "--min-load-share", "0.6", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["min_load_share"] == 0.6 and printed["operating_point"] == line
    assert printed["buses"] == written["buses"]
    # the library's result at the same share
    feeder = load_feeder("baran-wu-33", cache_dir=cache_dir)
    study = run_study(feeder, buses=[5, 17], min_load_share=0.6)
    for row in printed["buses"]:
        assert row["hc_gen_mw"] == study.static.table.loc[row["bus"], "hc_gen_mw"]
    # the default: 25 %; load mode alone says the share is for generation only
    assert main([*args, "--mode", "load"]) == 0
    assert (
        "operating point:        loads at 100 % of their set-points (load HC); min_load_share "
        "(25 %) applies to generation HC only"
    ) in capsys.readouterr().out.splitlines()


def test_cli_operating_point_of_a_time_series_names_the_steps_and_dates(cache_dir, capsys) -> None:
    argv = ["hosting-capacity", "1-LV-rural1--0-sw", "--mode", "gen", "--buses", "3"]
    argv += ["--timeseries", "2016-06-21", "--min-load-share", "0.5", "--json", "--no-progress"]
    assert main(argv) == 0
    study = json.loads(capsys.readouterr().out)
    assert study["min_load_share"] == 0.5
    assert study["operating_point"].endswith(
        "min_load_share does not apply (the profiles give the operating point); time series: "
        "every element at its profile value at each of the profile steps 16512..16607 "
        "(2016-06-21 00:00 .. 2016-06-21 23:45)"
    )
