"""Network-constrained dispatch (LinDistFlow + HiGHS), verified by an independent AC power flow.

Cases on Baran & Wu 33-bus with added PV at the lateral ends and a community battery
(scenarios/baran_wu_pv.csv), on CIGRE MV with DER and on SimBench MV rural.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from payloads import pv_system

from gridderms.ders.capability import ReactiveCapability
from gridderms.ders.inventory import feeder_inventory, read_der_file
from gridderms.ders.records import DerRecord, EvCharger, PvSystem
from gridderms.dispatch import feeder_dispatch as service
from gridderms.dispatch.forecast import DispatchForecast
from gridderms.dispatch.horizon import Horizon
from network_models.loaders import load_feeder
from network_models.profiles import FeederProfiles
from solvers.limits import HeadLimits, OperatingLimits
from solvers.opf.objective import Objective
from solvers.powerflow import run_powerflow

SCENARIO = Path(__file__).parents[1] / "scenarios" / "baran_wu_pv.csv"
VM_TOL_PU = 1e-3  # the dispatch's AC tolerance
NOON = Horizon(pd.Timestamp("2026-06-21 12:00"), 1, 60)
DAY = Horizon(pd.Timestamp("2026-06-21 00:00"), 24, 60)
BARAN_WU_BAND = OperatingLimits(0.90, 1.05, 100.0)  # Baran-Wu sits at 0.913 pu unloaded by DER


def _big_pv(ders: list[DerRecord], p_mw: float = 3.5) -> list[DerRecord]:
    """The scenario with 3.5 MW PV at the ends of laterals 1 and 3 (overvoltage at noon)."""
    bigger = {
        "p_nameplate_mw": p_mw,
        "p_available_mw": p_mw,
        "reactive": ReactiveCapability(s_rated_mva=1.1 * p_mw, pf_min=0.9, ieee1547_category="B"),
    }
    return [d.model_copy(update=bigger) if d.der_id in ("pv-17", "pv-32") else d for d in ders]


def synthetic_forecast(feeder, ders, horizon: Horizon) -> DispatchForecast:
    """The fixed forecast these optimiser tests were written on (not the clock-aware one,
    which tests/test_forecast_*.py and test_dispatch_forecast.py check): every load scaled by
    ``0.6 + 0.6 sin(pi t)`` over the horizon (0.6 x in a one-period horizon), PV available at
    ``max(0, sin(pi (h - 6) / 12))`` of its p_available_mw at each period's mid-point (UTC),
    other generators at their p_available_mw."""
    n = horizon.n_periods
    shape = 0.6 + 0.6 * np.sin(np.linspace(0.0, np.pi, n))
    load = feeder.net.load
    values = {
        ("load", column): pd.DataFrame(
            np.outer(shape, load[column].to_numpy(dtype=float)), columns=load.index
        )
        for column in ("p_mw", "q_mvar")
    }
    mid = horizon.period_midpoints()
    hours = np.asarray(mid.hour + mid.minute / 60.0)
    bell = np.clip(np.sin(np.pi * (hours - 6.0) / 12.0), 0.0, None)
    available = np.full((len(ders), n), np.nan)
    for i, der in enumerate(ders):
        if der.der_type == "pv":
            available[i] = der.p_available_mw * bell
        elif der.der_type == "generator":
            available[i] = der.p_available_mw
    start = horizon.period_starts()[0]
    return DispatchForecast(
        profiles=FeederProfiles(values, horizon.step_minutes, start),
        available_mw=available,
        der_source=["synthetic" if np.isfinite(a).all() else "" for a in available],
        load_source="synthetic",
        mode="standard",
        issued_at=start,
        start=start,
        step_minutes=horizon.step_minutes,
    )


def dispatch_feeder(feeder, ders, horizon, **kwargs):
    """The dispatch on :func:`synthetic_forecast` (feeders without profiles)."""
    if feeder.profiles is None and not kwargs.get("snapshot"):
        kwargs["forecast"] = synthetic_forecast(feeder, ders, horizon)
    return service.dispatch_feeder(feeder, ders, horizon, **kwargs)


def _load_share(feeder, horizon: Horizon, period: int = 0) -> float:
    """The synthetic forecast's load in ``period`` as a share of the file's loads."""
    forecast = synthetic_forecast(feeder, [], horizon)
    return float(forecast.profiles.values[("load", "p_mw")].iloc[period].sum()) / float(
        feeder.net.load.p_mw.sum()
    )


def _ac_check(feeder, ders, result, period: int, load_scaling: float):
    """Independent check: pandapower.runpp with the schedule written into the net's tables."""
    net = copy.deepcopy(feeder.net)
    net.load["scaling"] = load_scaling
    rows = result.schedule[result.schedule.period == period].set_index("der_id")
    for der in ders:
        p_mw, q_mvar = rows.loc[der.der_id, ["p_mw", "q_mvar"]]
        if der.der_type == "battery":
            pp.create_storage(net, der.bus, p_mw=-p_mw, q_mvar=-q_mvar, max_e_mwh=1.0)
        else:
            pp.create_sgen(net, der.bus, p_mw=p_mw, q_mvar=q_mvar)
    return run_powerflow(net, limits=BARAN_WU_BAND)


@pytest.fixture(scope="module")
def baran_wu(cache_dir):
    return load_feeder("baran-wu-33", cache_dir=cache_dir)


def test_overvoltage_is_removed_with_little_curtailment(baran_wu) -> None:
    ders = _big_pv(read_der_file(SCENARIO))
    result = dispatch_feeder(baran_wu, ders, NOON, limits=BARAN_WU_BAND)
    assert result.status == "optimal" and result.ac_feasible
    # without dispatch the same PV drives the feeder end to ~1.18 pu
    uncontrolled = result.schedule.assign(p_mw=result.schedule.p_available_mw, q_mvar=0.0)
    before = _ac_check(
        baran_wu,
        ders,
        result.__class__(**{**result.__dict__, "schedule": uncontrolled}),
        0,
        _load_share(baran_wu, NOON),
    )
    assert before.max_vm_pu > 1.10
    after = _ac_check(baran_wu, ders, result, 0, _load_share(baran_wu, NOON))
    assert after.max_vm_pu <= BARAN_WU_BAND.vm_max_pu + VM_TOL_PU
    assert after.max_vm_pu == pytest.approx(result.network.max_vm_pu.iloc[0], abs=1e-6)
    # least curtailment: the limit binds, and reactive absorption alone suffices here
    assert after.max_vm_pu > BARAN_WU_BAND.vm_max_pu - VM_TOL_PU
    assert result.curtailed_mwh == pytest.approx(0.0, abs=1e-6)
    pv = result.schedule[result.schedule.der_id.isin(["pv-17", "pv-32"])]
    assert (pv.q_mvar < -0.5).all()


def test_tighter_band_needs_curtailment_and_ac_confirms_it(baran_wu) -> None:
    ders = _big_pv(read_der_file(SCENARIO))
    limits = OperatingLimits(0.90, 1.03, 100.0)
    result = dispatch_feeder(baran_wu, ders, NOON, limits=limits)
    assert result.status == "optimal" and result.ac_feasible
    after = _ac_check(baran_wu, ders, result, 0, _load_share(baran_wu, NOON))
    assert limits.vm_max_pu - VM_TOL_PU < after.max_vm_pu <= limits.vm_max_pu + VM_TOL_PU
    available = result.schedule.p_available_mw.sum()
    assert 0.0 < result.curtailed_mwh < 0.05 * available


def test_sharing_curtailment_costs_more_than_least_curtailment(baran_wu) -> None:
    ders = _big_pv(read_der_file(SCENARIO))
    limits = OperatingLimits(0.90, 1.03, 100.0)
    least = dispatch_feeder(baran_wu, ders, NOON, limits=limits)
    shared = dispatch_feeder(
        baran_wu, ders, NOON, limits=limits, objective=Objective(share_curtailment=True)
    )
    assert least.ac_feasible and shared.ac_feasible
    assert shared.curtailed_mwh >= least.curtailed_mwh - 1e-6
    pv = shared.schedule[shared.schedule.p_available_mw > 0]
    fractions = (pv.curtailed_mw / pv.p_available_mw).to_numpy()
    assert np.ptp(fractions) < 1e-6 and fractions[0] > 0  # the same share everywhere


def test_battery_state_of_charge_stays_in_bounds_and_returns_to_target(baran_wu) -> None:
    ders = read_der_file(SCENARIO)
    # peak shaving gives the battery a reason to move: charge off-peak, discharge at the peak
    objective = Objective(weights={"curtailment": 1.0, "peak": 1.0})
    result = dispatch_feeder(baran_wu, ders, DAY, limits=BARAN_WU_BAND, objective=objective)
    assert result.status == "optimal" and result.ac_feasible
    battery = next(d for d in ders if d.der_id == "bat-14")
    energy = result.storage_energy_mwh["bat-14"].to_numpy()
    assert energy.min() >= battery.e_min_mwh - 1e-6
    assert energy.max() <= battery.e_max_mwh + 1e-6
    assert energy[-1] >= battery.e_initial_mwh - 1e-6
    assert energy.max() - energy.min() > 0.1  # it is used (charged from midday PV)
    # the trajectory follows the dispatched power and the efficiencies
    p_mw = result.schedule[result.schedule.der_id == "bat-14"].p_mw.to_numpy()
    charge, discharge = np.maximum(-p_mw, 0), np.maximum(p_mw, 0)
    change = charge * battery.charge_efficiency - discharge / battery.discharge_efficiency
    expected = battery.e_initial_mwh + np.cumsum(change * DAY.dt_h)
    assert energy == pytest.approx(expected, abs=1e-6)


def test_ev_energy_is_delivered_by_departure(baran_wu) -> None:
    ev = EvCharger(
        der_id="ev-depot",
        name="Depot",
        bus=20,
        der_type="ev_charger",
        reactive=ReactiveCapability(s_rated_mva=0.2, pf_min=0.95, ieee1547_category="A"),
        p_max_mw=0.15,
        energy_need_mwh=0.9,
        arrival=datetime(2026, 6, 21, 1, tzinfo=UTC),
        departure=datetime(2026, 6, 21, 9, tzinfo=UTC),
    )
    ders = [*read_der_file(SCENARIO), ev]
    result = dispatch_feeder(baran_wu, ders, DAY, limits=BARAN_WU_BAND)
    assert result.status == "optimal" and result.ac_feasible
    p_mw = result.schedule[result.schedule.der_id == "ev-depot"].p_mw.to_numpy()
    assert (p_mw <= 1e-9).all()  # charging only
    assert np.abs(p_mw[:1]).max() < 1e-9 and np.abs(p_mw[9:]).max() < 1e-9  # only when parked
    assert -p_mw[1:9].sum() * DAY.dt_h == pytest.approx(0.9, abs=1e-6)


def test_locked_out_der_keeps_its_setpoint_and_others_curtail(baran_wu) -> None:
    ders = _big_pv(read_der_file(SCENARIO))
    ders = [
        d.model_copy(update={"status": "locked_out"}) if d.der_id == "pv-24" else d for d in ders
    ]
    free = dispatch_feeder(
        baran_wu, _big_pv(read_der_file(SCENARIO)), NOON, limits=OperatingLimits(0.90, 1.03, 100.0)
    )
    result = dispatch_feeder(baran_wu, ders, NOON, limits=OperatingLimits(0.90, 1.03, 100.0))
    assert result.status == "optimal" and result.ac_feasible
    rows = result.schedule.set_index("der_id")
    locked = next(d for d in ders if d.der_id == "pv-24")
    assert isinstance(locked, PvSystem)
    assert rows.loc["pv-24", "mode"] == "fixed"
    assert rows.loc["pv-24", "q_mvar"] == 0.0
    noon_share = float(np.sin(np.pi * 6.5 / 12.0))  # clear-sky bell at 12:30
    assert rows.loc["pv-24", "p_mw"] == pytest.approx(locked.p_available_mw * noon_share)
    # the others make up for the reactive support pv-24 no longer gives
    assert result.curtailed_mwh >= free.curtailed_mwh - 1e-6


def test_locked_out_der_that_alone_breaks_a_limit_is_diagnosed(baran_wu) -> None:
    ders = [
        d.model_copy(update={"status": "locked_out"}) if d.der_id == "pv-17" else d
        for d in _big_pv(read_der_file(SCENARIO))
    ]
    result = dispatch_feeder(baran_wu, ders, NOON, limits=BARAN_WU_BAND)
    assert result.status == "infeasible"
    worst = result.diagnosis[0]
    assert (worst.limit, worst.element, worst.element_id) == ("voltage_max", "bus", 17)
    assert worst.amount > 0.05


def test_operator_override_is_held(baran_wu) -> None:
    from gridderms.dispatch.fleet import attach_elements, build_fleet  # noqa: F401

    ders = read_der_file(SCENARIO)
    horizon = Horizon(pd.Timestamp("2026-06-21 10:00"), 3, 60)
    result = dispatch_feeder(
        baran_wu, ders, horizon, limits=BARAN_WU_BAND, overrides={"bat-14": (0.3, 0.05)}
    )
    rows = result.schedule[result.schedule.der_id == "bat-14"]
    assert rows.p_mw.to_numpy() == pytest.approx([0.3, 0.3, 0.3])
    assert rows.q_mvar.to_numpy() == pytest.approx([0.05, 0.05, 0.05])


def test_infeasible_request_returns_a_diagnosis_not_a_schedule(baran_wu) -> None:
    result = dispatch_feeder(baran_wu, read_der_file(SCENARIO), DAY)  # 0.95 pu floor at night
    assert result.status == "infeasible" and not result.ac_feasible
    assert result.schedule.empty
    limits = {(d.limit, d.element) for d in result.diagnosis}
    assert limits == {("voltage_min", "bus")}
    night = {d.period for d in result.diagnosis}
    assert {1, 2, 3, 4, 5} <= night and not night & {10, 11, 12, 13}
    worst = result.diagnosis[0]
    # Baran-Wu's weakest bus (index 32 at the end of lateral 3 or 17 on lateral 1)
    assert worst.element_id in (17, 32) and 0.005 < worst.amount < 0.05


def test_feeder_head_import_limit_is_diagnosed(baran_wu) -> None:
    result = dispatch_feeder(
        baran_wu,
        read_der_file(SCENARIO),
        DAY,
        limits=BARAN_WU_BAND,
        head=HeadLimits(import_max_mw=1.0),
    )
    assert result.status == "infeasible"
    assert {d.limit for d in result.diagnosis} == {"feeder_head_import"}
    assert all(d.unit == "MW" and d.amount > 0 for d in result.diagnosis)


def test_thermal_limit_is_respected_by_ac(cache_dir) -> None:
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    ders = list(feeder_inventory(feeder))
    ders = [
        d.model_copy(update={"curtailable": True}) if d.der_type in ("pv", "generator") else d
        for d in ders
    ]
    # a 6 MW wind park at bus 7 overloads the lines towards the substation
    wind = ders[8].model_copy(
        update={
            "p_max_mw": 6.0,
            "p_available_mw": 6.0,
            "reactive": ReactiveCapability(s_rated_mva=6.6, pf_min=0.9, ieee1547_category="B"),
        }
    )
    ders[8] = wind
    horizon = Horizon(pd.Timestamp("2026-06-21 03:00"), 1, 60)  # night: light load
    limits = OperatingLimits(0.95, 1.05, 60.0)
    result = dispatch_feeder(feeder, ders, horizon, limits=limits)
    assert result.status == "optimal" and result.ac_feasible
    assert result.network.max_loading_percent.iloc[0] <= 60.0 + 0.5
    assert result.curtailed_mwh > 0.0


def test_simbench_mv_rural_day_dispatch_has_no_ac_violations(cache_dir) -> None:
    feeder = load_feeder("1-MV-rural--0-sw", cache_dir=cache_dir)
    ders = [
        d.model_copy(update={"curtailable": True}) if d.der_type in ("pv", "generator") else d
        for d in feeder_inventory(feeder)
    ]
    horizon = Horizon(pd.Timestamp("2016-06-21"), 24, 15)
    result = dispatch_feeder(
        feeder, ders, horizon, limits=OperatingLimits(0.95, 1.04, 80.0), start_step=96 * 172
    )
    assert result.status == "optimal" and result.ac_feasible, result.ac_violations[:3]
    assert result.network.max_vm_pu.max() <= 1.04 + VM_TOL_PU
    assert result.network.max_loading_percent.max() <= 80.0 + 0.5


@pytest.mark.parametrize("formulation", ["lindistflow", "linearized-ac"])
def test_simbench_mv_rural_noon_dispatch_is_optimal(cache_dir, formulation) -> None:
    """A single period, solved from the crash basis (HiGHS once gave up from it on
    LinDistFlow with status 'Unknown'; a cold re-start must then finish the solve)."""
    feeder = load_feeder("1-MV-rural--0-sw", cache_dir=cache_dir)
    ders = [d.model_copy(update={"curtailable": True}) for d in feeder_inventory(feeder)]
    horizon = Horizon(pd.Timestamp("2016-06-21 12:00"), 0.25, 15)
    result = dispatch_feeder(
        feeder,
        ders,
        horizon,
        limits=OperatingLimits(0.95, 1.03, 80.0),
        start_step=96 * 172 + 48,
        formulation=formulation,
    )
    assert result.status == "optimal" and result.ac_feasible, result.diagnosis[:3]
    assert result.network.max_vm_pu.max() <= 1.03 + VM_TOL_PU


@pytest.mark.parametrize("limit_pu", [1.05, 1.03])
def test_linearized_ac_meets_the_limit_and_curtails_no_more_than_lindistflow(
    baran_wu, limit_pu
) -> None:
    ders = _big_pv(read_der_file(SCENARIO))
    limits = OperatingLimits(0.90, limit_pu, 100.0)
    lin_ac = dispatch_feeder(baran_wu, ders, NOON, limits=limits, formulation="linearized-ac")
    ldf = dispatch_feeder(baran_wu, ders, NOON, limits=limits, formulation="lindistflow")
    assert lin_ac.status == "optimal" and lin_ac.ac_feasible
    after = _ac_check(baran_wu, ders, lin_ac, 0, _load_share(baran_wu, NOON))
    assert after.max_vm_pu <= limit_pu + VM_TOL_PU
    # re-linearising at each AC point finds at least as good a schedule (tolerance: 1 kWh)
    assert lin_ac.curtailed_mwh <= ldf.curtailed_mwh + 1e-3


def test_lindistflow_refuses_a_meshed_feeder_and_names_the_alternative(cache_dir) -> None:
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    feeder.close_switch(4)  # tie switch S1 meshes the two feeders
    with pytest.raises(ValueError, match="use the 'linearized-ac' formulation"):
        dispatch_feeder(feeder, list(feeder_inventory(feeder)), NOON)


@pytest.mark.parametrize("name", ["lv-schutterwald", "mv-oberrhein"])
def test_linearized_ac_dispatches_meshed_multi_source_feeders(cache_dir, name) -> None:
    feeder = load_feeder(name, cache_dir=cache_dir)
    ders = [
        d.model_copy(update={"curtailable": True})
        for d in feeder_inventory(feeder)
        if d.der_type == "pv"
    ]
    if not ders:  # Schutterwald has no DER: 2 kW rooftop PV at every tenth load bus
        buses = feeder.net.load.bus.to_numpy()[::10]
        ders = [
            PvSystem(
                der_id=f"pv-{bus}",
                name=f"PV {bus}",
                bus=int(bus),
                der_type="pv",
                reactive=ReactiveCapability(s_rated_mva=0.0022, pf_min=0.9, ieee1547_category="B"),
                p_nameplate_mw=0.002,
                p_available_mw=0.002,
                curtailable=True,
            )
            for bus in buses
        ]
    limits = OperatingLimits(0.90, 1.05, 100.0)
    result = dispatch_feeder(feeder, ders, NOON, limits=limits, formulation="linearized-ac")
    assert result.status == "optimal" and result.ac_feasible, result.ac_violations[:3]
    assert result.network.max_vm_pu.iloc[0] <= 1.05 + VM_TOL_PU
    assert result.network.max_loading_percent.iloc[0] <= 100.0 + 0.5


def test_a_der_that_cannot_meet_its_own_rating_is_named() -> None:
    from solvers.opf.fleet import DerFleet

    one = np.ones((1, 1))
    with pytest.raises(ValueError, match=r"DER 'wt-1' must deliver 1\.6000 MW/MVA in period 0"):
        DerFleet(
            der_ids=["wt-1"],
            element=[("sgen", 0)],
            bus=np.array([1]),
            p_min_mw=1.6 * one,
            p_max_mw=1.6 * one,
            p_available_mw=0 * one,
            curtailable=np.array([False]),
            q_min_mvar=np.array([-0.5]),
            q_max_mvar=np.array([0.5]),
            s_rated_mva=np.array([1.5]),
            tan_phi_max=np.array([0.48]),
            is_storage=np.array([False]),
            e_min_mwh=np.array([np.nan]),
            e_max_mwh=np.array([np.nan]),
            e_initial_mwh=np.array([np.nan]),
            e_final_min_mwh=np.array([np.nan]),
            charge_efficiency=np.array([np.nan]),
            discharge_efficiency=np.array([np.nan]),
            ramp_mw_per_period=np.array([np.inf]),
            fixed=np.array([False]),
            p_fixed_mw=0 * one,
            q_fixed_mvar=0 * one,
        )


def test_der_at_its_rating_is_feasible_and_the_overloaded_transformer_is_diagnosed(
    cache_dir,
) -> None:
    # CIGRE MV: the 1.5 MW wind turbine runs at P = S = 1.5 MVA (not curtailable); at the
    # synthetic midday peak the load alone overloads the 25 MVA transformer 0
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    result = dispatch_feeder(
        feeder,
        list(feeder_inventory(feeder)),
        DAY,
        limits=BARAN_WU_BAND,
        formulation="linearized-ac",
    )
    assert result.status == "infeasible"
    worst = result.diagnosis[0]
    assert (worst.limit, worst.element, worst.element_id, worst.unit) == (
        "thermal",
        "trafo",
        0,
        "%",
    )
    assert 10 <= worst.period <= 13 and worst.amount > 1.0


@pytest.mark.parametrize("der_id", ["pv-32", "pv-24"])
def test_operating_envelope_edge_is_where_the_ac_limit_binds(baran_wu, der_id) -> None:
    ders = read_der_file(SCENARIO)
    limits = OperatingLimits(0.90, 1.05, 100.0)
    # 08:00: below the band without reactive support (at noon pv-17 absorbs Q to hold 1.05 pu
    # and every envelope closes at the schedule)
    morning = Horizon(pd.Timestamp("2026-06-21 08:00"), 1, 60)
    result = dispatch_feeder(baran_wu, ders, morning, limits=limits, formulation="linearized-ac")
    row = result.schedule.set_index("der_id").loc[der_id]
    assert row.envelope_p_min_mw <= row.p_mw <= row.envelope_p_max_mw
    headroom = row.envelope_p_max_mw - row.p_mw
    assert headroom > 0.2  # the schedule leaves room: the band does not bind here

    def ac_at(fraction: float) -> float:
        moved = result.schedule.copy()
        moved.loc[moved.der_id == der_id, "p_mw"] = row.p_mw + fraction * headroom
        changed = result.__class__(**{**result.__dict__, "schedule": moved})
        return _ac_check(baran_wu, ders, changed, 0, load_scaling).max_vm_pu

    forecast_mw = (
        synthetic_forecast(baran_wu, [], morning).profiles.values[("load", "p_mw")].to_numpy()[0]
    )
    load_scaling = float(forecast_mw.sum() / baran_wu.net.load.p_mw.sum())

    assert ac_at(0.9) <= limits.vm_max_pu  # inside the envelope: within limits by AC
    assert ac_at(1.5) > limits.vm_max_pu + 1e-3  # well beyond it: the limit breaks


def _flexible_load(bus: int = 30):
    from gridderms.ders.records import FlexibleLoad

    return FlexibleLoad(
        der_id="flex-30",
        name="Cold store",
        bus=bus,
        der_type="flexible_load",
        reactive=ReactiveCapability(s_rated_mva=0.7, pf_min=0.9, ieee1547_category="A"),
        p_min_mw=0.0,
        p_baseline_mw=0.3,
        p_max_mw=0.6,
        window_start=datetime(2026, 6, 21, 0, tzinfo=UTC),
        window_end=datetime(2026, 6, 22, 0, tzinfo=UTC),
    )


def test_flexible_load_is_energy_neutral_and_shifts_away_from_the_peak(baran_wu) -> None:
    ders = [*read_der_file(SCENARIO), _flexible_load()]
    objective = Objective(weights={"curtailment": 1.0, "peak": 1.0})
    # the feeder-head objectives need the head modelled with its losses: linearised AC
    result = dispatch_feeder(
        baran_wu, ders, DAY, limits=BARAN_WU_BAND, objective=objective, formulation="linearized-ac"
    )
    assert result.status == "optimal" and result.ac_feasible
    load_mw = -result.schedule[result.schedule.der_id == "flex-30"].p_mw.to_numpy()
    assert load_mw.min() >= -1e-9 and load_mw.max() <= 0.6 + 1e-9
    assert load_mw.sum() * DAY.dt_h == pytest.approx(0.3 * 24, abs=1e-6)  # energy-neutral
    # the same day with the cold store held at its baseline: shifting lowers the AC peak
    held = dispatch_feeder(
        baran_wu,
        ders,
        DAY,
        limits=BARAN_WU_BAND,
        objective=objective,
        formulation="linearized-ac",
        overrides={"flex-30": (-0.3, 0.0)},
    )
    peak_mw = result.network.feeder_head_p_mw.max()
    assert peak_mw < held.network.feeder_head_p_mw.max() - 0.02
    peak_hours = result.network.feeder_head_p_mw.to_numpy() > peak_mw - 1e-3
    # over the (flat) peak it draws less than its baseline: the energy moved elsewhere
    assert load_mw[peak_hours].mean() < 0.3 - 0.1
    # the reported objective is what the AC power flow achieves (peak by AC, not by the LP):
    # curtailment + peak + the battery's throughput cost (above its round-trip loss) + Q usage
    battery = result.schedule[result.schedule.der_id == "bat-14"].p_mw.abs().sum() * DAY.dt_h
    throughput_cost = 0.6 * 1.0 * (1 / 0.95 - 0.95)  # storage_throughput_cost [per MWh]
    rest = result.objective_value - result.curtailed_mwh - peak_mw - throughput_cost * battery
    assert 0.0 <= rest < 0.01


def test_bus_hosting_capacity_caps_the_export_and_is_diagnosed(baran_wu) -> None:
    ders = read_der_file(SCENARIO)
    capped = dispatch_feeder(
        baran_wu, ders, NOON, limits=BARAN_WU_BAND, bus_hosting_capacity_mw={17: 1.2}
    )
    assert capped.status == "optimal" and capped.ac_feasible
    rows = capped.schedule.set_index("der_id")
    assert rows.loc["pv-17", "p_mw"] <= 1.2 + 1e-9
    assert rows.loc["pv-17", "curtailed_mw"] == pytest.approx(
        rows.loc["pv-17", "p_available_mw"] - 1.2, abs=1e-6
    )
    locked = [
        d.model_copy(update={"status": "locked_out"}) if d.der_id == "pv-17" else d for d in ders
    ]
    refused = dispatch_feeder(
        baran_wu, locked, NOON, limits=BARAN_WU_BAND, bus_hosting_capacity_mw={17: 1.2}
    )
    assert refused.status == "infeasible"
    worst = refused.diagnosis[0]
    assert worst.limit == "hosting_capacity (bus 17)" and worst.unit == "MW"
    assert worst.amount == pytest.approx(rows.loc["pv-17", "p_available_mw"] - 1.2, abs=1e-6)


def test_unknown_hosting_capacity_bus_is_refused(baran_wu) -> None:
    with pytest.raises(ValueError, match="hosting capacity given for unknown bus 999"):
        dispatch_feeder(
            baran_wu,
            read_der_file(SCENARIO),
            NOON,
            limits=BARAN_WU_BAND,
            bus_hosting_capacity_mw={999: 1.0},
        )


def test_least_losses_lowers_ac_losses(baran_wu) -> None:
    ders = read_der_file(SCENARIO)
    plain = dispatch_feeder(baran_wu, ders, NOON, limits=BARAN_WU_BAND, formulation="linearized-ac")
    lossy = dispatch_feeder(
        baran_wu,
        ders,
        NOON,
        limits=BARAN_WU_BAND,
        formulation="linearized-ac",
        objective=Objective(weights={"curtailment": 1.0, "losses": 1.0}),
    )
    assert plain.ac_feasible and lossy.ac_feasible
    assert lossy.network.losses_mw.iloc[0] < plain.network.losses_mw.iloc[0] - 0.005
    with pytest.raises(ValueError, match="objective 'losses' needs the 'linearized-ac'"):
        dispatch_feeder(
            baran_wu, ders, NOON, limits=BARAN_WU_BAND, objective=Objective(weights={"losses": 1.0})
        )


def test_interchangeable_ders_aggregate_exactly(baran_wu) -> None:
    from solvers.opf.aggregation import aggregate_fleet

    limits = OperatingLimits(0.90, 1.03, 100.0)
    split = [
        pv_system("a", 17, 2.0),
        pv_system("b", 17, 1.0),
        pv_system("c", 17, 0.5),
        pv_system("d", 32, 3.5),
    ]
    whole = [pv_system("abc", 17, 3.5), pv_system("d", 32, 3.5)]
    many = dispatch_feeder(baran_wu, split, NOON, limits=limits, formulation="linearized-ac")
    one = dispatch_feeder(baran_wu, whole, NOON, limits=limits, formulation="linearized-ac")
    assert many.ac_feasible and one.ac_feasible
    rows = many.schedule.set_index("der_id")
    total = rows.loc[["a", "b", "c"], "p_mw"].sum()
    assert total == pytest.approx(one.schedule.set_index("der_id").loc["abc", "p_mw"], abs=1e-6)
    assert rows.loc["a", "p_mw"] == pytest.approx(2 * rows.loc["b", "p_mw"], rel=1e-9)
    # a DER with other reactive limits (category A) is not interchangeable with them
    fleet_ders = [*split[:3], pv_system("e", 17, 1.0, category="A")]
    from gridderms.dispatch.fleet import attach_elements, build_fleet
    net = copy.deepcopy(baran_wu.net)
    elements = attach_elements(net, fleet_ders)
    fleet = build_fleet(
        fleet_ders, elements, synthetic_forecast(baran_wu, fleet_ders, NOON), NOON
    )
    aggregation, _ = aggregate_fleet(fleet, np.full(4, 17))
    assert aggregation.fleet.n_der == 2
    assert list(aggregation.group) == [0, 0, 0, 1]
    assert aggregation.share[:3] == pytest.approx([2 / 3.5, 1 / 3.5, 0.5 / 3.5])


@pytest.mark.parametrize("vm_max_pu", [1.03, 1.02])
def test_screened_linearized_ac_matches_the_full_form(baran_wu, vm_max_pu) -> None:
    """The default linear AC model writes only the limits near binding; the full form writes
    every bus. Both are the same first-order model, so after the AC loop they must agree."""
    ders = _big_pv(read_der_file(SCENARIO))
    limits = OperatingLimits(0.90, vm_max_pu, 100.0)
    screened = dispatch_feeder(baran_wu, ders, NOON, limits=limits, formulation="linearized-ac")
    full = dispatch_feeder(baran_wu, ders, NOON, limits=limits, formulation="linearized-ac-full")
    assert screened.ac_feasible and full.ac_feasible
    assert screened.curtailed_mwh > 0.05  # curtailment binds: the comparison means something
    assert screened.curtailed_mwh == pytest.approx(full.curtailed_mwh, rel=1e-3, abs=1e-4)
    assert screened.network.max_vm_pu.iloc[0] <= vm_max_pu + VM_TOL_PU


def test_linearized_ac_writes_the_full_form_where_sensitivities_are_denser(
    baran_wu, monkeypatch
) -> None:
    """Where the sensitivity rows would be denser than the full form (a large zone behind one
    source with many buses near a limit), a build writes the full form; same model, same
    answer."""
    import solvers.opf.sensitivity_ac as sensitivity_ac

    ders = _big_pv(read_der_file(SCENARIO))
    limits = OperatingLimits(0.90, 1.03, 100.0)
    sparse_form = dispatch_feeder(baran_wu, ders, NOON, limits=limits, formulation="linearized-ac")
    monkeypatch.setattr(sensitivity_ac, "DENSITY_LIMIT", -1.0)  # always denser: full form
    full_form = dispatch_feeder(baran_wu, ders, NOON, limits=limits, formulation="linearized-ac")
    assert sparse_form.ac_feasible and full_form.ac_feasible
    assert full_form.curtailed_mwh == pytest.approx(sparse_form.curtailed_mwh, rel=1e-3, abs=1e-4)
