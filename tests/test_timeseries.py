"""Time-series power flow: the compiled fast path against plain ``pandapower.runpp``."""

from __future__ import annotations

import numpy as np
import pytest

from network_models.loaders import load_feeder
from network_models.profiles import daily_load_profiles
from solvers.acmodel import (
    AC_MODEL_CACHE_KEY,
    FastPathUnsupportedError,
    cached_ac_model,
    compile_ac_model,
)
from solvers.limits import OperatingLimits
from solvers.timeseries import run_timeseries

VM_TOL_PU = 1e-6
LOADING_TOL_PERCENT = 1e-3
POWER_TOL_MW = 1e-6


@pytest.mark.parametrize(
    ("name", "start"), [("1-LV-rural1--0-sw", 17_000), ("1-MV-rural--0-sw", 4_000)]
)
def test_compiled_path_matches_runpp_at_every_step(cache_dir, name, start) -> None:
    feeder = load_feeder(name, cache_dir=cache_dir)
    assert feeder.profiles is not None
    fast = run_timeseries(feeder.net, feeder.profiles, steps=12, start=start)
    peer = run_timeseries(feeder.net, feeder.profiles, steps=12, start=start, method="runpp")
    columns = fast.vm_pu.columns
    assert set(columns) == set(peer.vm_pu.columns)
    assert np.abs(fast.vm_pu.to_numpy() - peer.vm_pu[columns].to_numpy()).max() < VM_TOL_PU
    for table in ("line_loading_percent", "trafo_loading_percent"):
        a, b = getattr(fast, table), getattr(peer, table)
        assert np.abs(a.to_numpy() - b[a.columns].to_numpy()).max() < LOADING_TOL_PERCENT
    assert np.abs(fast.losses_mw - peer.losses_mw).max() < POWER_TOL_MW
    assert np.abs(fast.feeder_head_p_mw - peer.feeder_head_p_mw).max() < POWER_TOL_MW
    assert np.abs(fast.feeder_head_q_mvar - peer.feeder_head_q_mvar).max() < POWER_TOL_MW
    # the profiles really change the operating point from step to step
    assert fast.feeder_head_p_mw.std() > 1e-4


def test_time_series_power_balance_per_step(cache_dir) -> None:
    feeder = load_feeder("1-MV-rural--0-sw", cache_dir=cache_dir)
    profiles = feeder.profiles
    assert profiles is not None
    start, steps = 20_000, 24
    result = run_timeseries(feeder.net, profiles, steps=steps, start=start)
    net = feeder.net
    load = profiles.values[("load", "p_mw")].iloc[start : start + steps]
    sgen = profiles.values[("sgen", "p_mw")].iloc[start : start + steps]
    load_weight = (net.load.scaling * net.load.in_service)[load.columns].to_numpy()
    sgen_weight = (net.sgen.scaling * net.sgen.in_service)[sgen.columns].to_numpy()
    load_mw = load.to_numpy() @ load_weight
    sgen_mw = sgen.to_numpy() @ sgen_weight
    balance = result.feeder_head_p_mw.to_numpy() + sgen_mw - load_mw - result.losses_mw.to_numpy()
    assert np.abs(balance).max() < 1e-5


def test_violations_follow_the_limits(cache_dir) -> None:
    feeder = load_feeder("1-LV-rural1--0-sw", cache_dir=cache_dir)
    assert feeder.profiles is not None
    tight = OperatingLimits(vm_min_pu=0.99, vm_max_pu=1.01, max_loading_percent=20.0)
    result = run_timeseries(feeder.net, feeder.profiles, steps=96, start=17_000, limits=tight)
    violations = result.violations()
    over = result.vm_pu.to_numpy() > tight.vm_max_pu
    assert sum(v.kind == "overvoltage" for v in violations) == int(over.sum()) > 0
    worst = result.worst_violations()
    assert len({(v.kind, v.element, v.element_id) for v in worst}) == len(worst)


def test_warm_start_needs_fewer_iterations_than_a_flat_start(cache_dir) -> None:
    feeder = load_feeder("1-MV-rural--0-sw", cache_dir=cache_dir)
    assert feeder.profiles is not None
    result = run_timeseries(feeder.net, feeder.profiles, steps=48, start=4_000)
    peer = run_timeseries(feeder.net, feeder.profiles, steps=8, start=4_000, method="runpp")
    assert result.iterations[1:].mean() < peer.iterations.mean()


def test_steps_outside_the_profiles_are_refused(cache_dir) -> None:
    feeder = load_feeder("1-LV-rural1--0-sw", cache_dir=cache_dir)
    assert feeder.profiles is not None
    with pytest.raises(ValueError, match=r"outside the profiles, which have 35136 steps"):
        run_timeseries(feeder.net, feeder.profiles, steps=10, start=35_130)


def test_runpp_method_leaves_the_net_unchanged(cache_dir) -> None:
    feeder = load_feeder("1-LV-rural1--0-sw", cache_dir=cache_dir)
    assert feeder.profiles is not None
    before = feeder.net.load.p_mw.copy()
    run_timeseries(feeder.net, feeder.profiles, steps=3, start=100, method="runpp")
    assert feeder.net.load.p_mw.equals(before)


def test_voltage_dependent_loads_are_not_silently_approximated(cache_dir) -> None:
    net = load_feeder("cigre-lv", cache_dir=cache_dir).net
    net.load.loc[net.load.index[0], "const_z_p_percent"] = 50.0
    with pytest.raises(FastPathUnsupportedError, match="voltage-dependent loads"):
        compile_ac_model(net)


def test_switching_invalidates_the_cached_model(cache_dir) -> None:
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    radial = cached_ac_model(feeder)
    assert cached_ac_model(feeder) is radial  # kept while the topology stands
    version = feeder.version
    topology = feeder.close_switch(4)  # tie switch S1
    assert feeder.version == version + 1
    assert AC_MODEL_CACHE_KEY not in feeder.model_cache
    assert not topology.is_radial
    meshed = cached_ac_model(feeder)
    assert meshed is not radial
    # pandapower ends a line at an open switch on an auxiliary bus; closing S1 removes it
    assert meshed.n_bus == radial.n_bus - 1


def test_compiled_path_on_a_1000_plus_bus_feeder_with_14_slack_buses(cache_dir) -> None:
    feeder = load_feeder("lv-schutterwald", cache_dir=cache_dir)
    profiles = daily_load_profiles(feeder.net.load, 8)
    fast = run_timeseries(feeder.net, profiles, steps=8)
    peer = run_timeseries(feeder.net, profiles, steps=3, method="runpp")
    assert "instead of lightsim2grid" in peer.solver  # pandapower refuses 14 ext_grids there
    columns = fast.vm_pu.columns
    assert len(columns) == 2940
    assert np.abs(fast.vm_pu.iloc[:3].to_numpy() - peer.vm_pu[columns].to_numpy()).max() < VM_TOL_PU
    lines = fast.line_loading_percent.columns
    assert (
        np.nanmax(
            np.abs(
                fast.line_loading_percent.iloc[:3].to_numpy()
                - peer.line_loading_percent[lines].to_numpy()
            )
        )
        < LOADING_TOL_PERCENT
    )
    assert (
        np.abs(fast.feeder_head_p_mw.iloc[:3].to_numpy() - peer.feeder_head_p_mw.to_numpy()).max()
        < POWER_TOL_MW
    )


def test_summary_reports_energy_losses_in_mwh(cache_dir) -> None:
    feeder = load_feeder("1-MV-rural--0-sw", cache_dir=cache_dir)
    assert feeder.profiles is not None and feeder.profiles.step_minutes == 15
    result = run_timeseries(feeder.net, feeder.profiles, steps=8, start=4_000)
    summary = result.summary()
    # 15-min steps: the energy is a quarter of the sum of the per-step powers
    assert summary["energy_losses_mwh"] == pytest.approx(result.losses_mw.sum() / 4, rel=1e-12)
    assert summary["energy_losses_mwh"] > 0
