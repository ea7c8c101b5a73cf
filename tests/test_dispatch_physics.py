"""Dispatch physics an engineer can trust: every period re-checked by an independent runpp.

Nothing of the dispatch's own AC verification (compiled model, lightsim2grid, the profile
writer ``_der_profiles``) is used to check it here: each period's set-points are written into a
deep copy of the pandapower net by hand (sgen ``p_mw``/``q_mvar``; storage with pandapower's
sign, charging positive; loads from the forecast the dispatch used) and ``pandapower.runpp`` is
called. The storage energy is recomputed by hand from ``p_mw`` with the efficiencies, and the
ramps from consecutive set-points.

The fleets are built by hand (:class:`~solvers.opf.fleet.DerFleet`) because
:func:`gridderms.dispatch.fleet.build_fleet` sets every ramp to ``inf``.

The tolerance tests pin the literal 1e-3 pu / 0.5 % of :class:`DispatchRequest`: each has a
case where a looser tolerance (3e-3 pu, 5 %) returns a schedule that the strict assertion
rejects, so loosening a default breaks a test.
"""

from __future__ import annotations

import copy
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pandapower as pp
import pytest
from physics_checks import (
    ENERGY_TOL_MWH,
    ETA_C,
    ETA_D,
    LOADING_TOL_PERCENT,
    LOOSE_LOADING_TOL_PERCENT,
    LOOSE_VM_TOL_PU,
    VM_TOL_PU,
    Der,
    PeriodCheck,
    attach_ders,
    build_request,
    check_ramps,
    check_storage,
    dispatch_checked,
    energy_by_hand,
    hand_forecast,
    measure,
    p_matrix,
    pv_der,
    runpp_every_period,
    runpp_period,
    storage_der,
    unmanaged_noon,
)

from network_models.loaders import load_feeder
from solvers.acmodel import compile_ac_model
from solvers.limits import OperatingLimits
from solvers.opf.objective import Objective
from solvers.opf.pipeline import run_dispatch
from solvers.opf.request import DispatchRequest
from solvers.timeseries import run_timeseries


@pytest.fixture(scope="module")
def baran_wu(cache_dir):
    return load_feeder("baran-wu-33", cache_dir=cache_dir)


# -- 1. storage with unequal efficiencies and finite ramps, every period by runpp ------------
BATTERY_RAMP_MW = 0.4


def _storage_case(feeder) -> tuple[pp.pandapowerNet, list[Der]]:
    """3.5 MW PV at the end of the main feeder (bus 17) and a 1 MW / 2.5 MWh battery beside
    it: PV at noon drives bus 17 far above 1.05 pu; the battery charges to absorb it and
    discharges into the evening peak (objective: curtailment + peak import), ramping at most
    0.4 MW per period."""
    net = copy.deepcopy(feeder.net)
    ders = [
        pv_der(17, 1.5, 3.85, [0.5, 2.0, 3.5, 3.5, 2.0, 0.3]),
        storage_der(
            17,
            q_mvar=0.5,
            s_rated_mva=1.1,
            p_mw=1.0,
            e_mwh=(0.3, 2.5, 1.0, 1.0),
            ramp_mw=BATTERY_RAMP_MW,
        ),
    ]
    attach_ders(net, ders)
    return net, ders


@pytest.mark.parametrize("formulation", ["lindistflow", "linearized-ac"])
def test_storage_schedule_with_unequal_efficiencies_and_ramps_holds_in_runpp(
    baran_wu, formulation
) -> None:
    net, ders = _storage_case(baran_wu)
    # (a) every period by an independent runpp; the PV must act: without dispatch bus 17
    # goes far beyond the band at noon
    request, result, checks = dispatch_checked(
        net,
        ders,
        [0.5, 0.45, 0.4, 0.4, 0.7, 1.0],
        (0.90, 1.05, 100.0),
        objective=Objective(weights={"curtailment": 1.0, "peak": 1.0}),
        formulation=formulation,
    )
    assert max(c.max_vm_pu for c in checks) > 1.05 - VM_TOL_PU  # the band binds
    assert unmanaged_noon(net, request, result).max_vm_pu > 1.10

    # (b) the energy trajectory by hand, with eta_c = 0.97 and eta_d = 0.88
    energy = check_storage(request, result)["bat-17"]
    p_bat = p_matrix(result, ["bat-17"])[0]
    assert p_bat.min() < -0.3 and p_bat.max() > 0.3  # it charges and discharges
    # it stores most of the noon surplus (a throughput cost above the round-trip loss keeps
    # it from charging and discharging at once, so it stops short of the 2.5 MWh ceiling)
    assert energy.max() > 2.0

    # (c) ramps: within the limit everywhere, binding somewhere
    binding = check_ramps(request, result)
    assert binding[1].any(), p_matrix(result, ["pv-17", "bat-17"])

    # sharpness: an optimiser with eta_c and eta_d swapped gives a trajectory that the
    # hand computation with the true efficiencies rejects (and that is consistent only
    # with the swapped values)
    fleet = request.fleet
    swapped = replace(
        request,
        fleet=replace(
            fleet,
            charge_efficiency=fleet.discharge_efficiency.copy(),
            discharge_efficiency=fleet.charge_efficiency.copy(),
        ),
    )
    wrong = run_dispatch(net, compile_ac_model(net), swapped)
    assert wrong.status == "optimal"
    p_wrong = p_matrix(wrong, ["bat-17"])[0]
    reported = wrong.storage_energy_mwh["bat-17"].to_numpy(dtype=float)
    true_physics = energy_by_hand(p_wrong, 1.0, ETA_C, ETA_D, 1.0)
    assert np.abs(reported - true_physics).max() > 0.05
    np.testing.assert_allclose(
        reported, energy_by_hand(p_wrong, 1.0, ETA_D, ETA_C, 1.0), atol=ENERGY_TOL_MWH
    )


def test_two_ramp_limited_ders_are_dispatched(baran_wu) -> None:
    net, ders = _storage_case(baran_wu)
    ders[0].ramp_mw = 1.2  # the PV ramps too
    model = compile_ac_model(net)
    request = build_request(
        net,
        ders,
        scale=[0.5, 0.45, 0.4, 0.4, 0.7, 1.0],
        limits=(0.90, 1.05, 100.0),
        objective=Objective(weights={"curtailment": 1.0, "peak": 1.0}),
    )
    result = run_dispatch(net, model, request)
    assert result.status == "optimal" and result.ac_feasible
    check_ramps(request, result)
    check_storage(request, result)
    runpp_every_period(net, request, result)


def test_storage_energy_follows_the_net_power_when_the_soc_ceiling_binds(baran_wu) -> None:
    """4 MW PV and a 0.8 MW / 1.5 MWh battery at bus 17 (LinDistFlow, radial): the battery
    fills up by period 2 and the PV is curtailed. A battery cannot charge and discharge at
    once, so its energy follows its net power ``p_mw``; the dispatch reports a trajectory
    that does not."""
    net = copy.deepcopy(baran_wu.net)
    ders = [
        pv_der(17, 1.0, 4.4, [1.5, 3.5, 4.0, 2.5]),
        storage_der(17, q_mvar=0.3, s_rated_mva=0.9, p_mw=0.8, e_mwh=(0.2, 1.5, 1.0, 1.0)),
    ]
    attach_ders(net, ders)
    request = build_request(net, ders, scale=[0.5, 0.4, 0.4, 0.6], limits=(0.90, 1.05, 100.0))
    result = run_dispatch(net, compile_ac_model(net), request)
    assert result.status == "optimal" and result.ac_feasible
    assert result.curtailed_mwh > 0.1  # the battery cannot take all the surplus
    check_storage(request, result)


# -- 2. meshed feeders against runpp ----------------------------------------------------------
def _meshed_baran_wu(feeder, ties: tuple[int, ...]) -> tuple[pp.pandapowerNet, list[Der]]:
    """Baran-Wu with tie lines in service (case33bw's ties 32..36 are out-of-service lines,
    the net has no switches), 4 MW PV at the ends of the main feeder and lateral 3, and a
    battery with unequal efficiencies and a ramp limit on lateral 3."""
    net = copy.deepcopy(feeder.net)
    assert len(net.switch) == 0
    assert not net.line.loc[[32, 33, 34, 35, 36], "in_service"].any()
    net.line.loc[list(ties), "in_service"] = True
    ders = [pv_der(bus, 1.0, 4.4, [1.5, 3.5, 4.0, 2.5]) for bus in (17, 32)]
    # 4 MWh: room to spare, see the simultaneous-flow xfail
    ders.append(
        storage_der(
            30, q_mvar=0.3, s_rated_mva=0.9, p_mw=0.8, e_mwh=(0.2, 4.0, 1.0, 1.0), ramp_mw=0.5
        )
    )
    attach_ders(net, ders)
    return net, ders


def test_lindistflow_refuses_meshed_baran_wu_with_a_clear_error(baran_wu) -> None:
    net, ders = _meshed_baran_wu(baran_wu, (35,))
    request = build_request(net, ders, scale=[0.5, 0.4, 0.4, 0.6], limits=(0.90, 1.05, 100.0))
    with pytest.raises(ValueError, match=r"LinDistFlow needs a radial feeder.*mesh") as error:
        run_dispatch(net, compile_ac_model(net), request)
    assert "use the 'linearized-ac' formulation" in str(error.value)


@pytest.mark.parametrize("ties", [(35,), (35, 36)], ids=["tie-17-32", "ties-17-32-and-24-28"])
def test_meshed_baran_wu_dispatch_holds_in_runpp(baran_wu, ties) -> None:
    net, ders = _meshed_baran_wu(baran_wu, ties)
    request, result, checks = dispatch_checked(
        net, ders, [0.5, 0.4, 0.4, 0.6], (0.90, 1.05, 100.0), formulation="linearized-ac"
    )
    assert max(c.max_vm_pu for c in checks) > 1.05 - VM_TOL_PU  # the band binds
    # the DERs must act: uncontrolled, the PV drives the feeder far above the band
    assert unmanaged_noon(net, request, result).max_vm_pu > 1.10
    assert result.curtailed_mwh > 0.1
    # the ties are in the model and carry power: the network is really meshed
    for tie in ties:
        assert max(abs(c.net.res_line.p_from_mw[tie]) for c in checks) > 0.05
    check_storage(request, result)
    check_ramps(request, result)


#: LV Schutterwald: open switch 13 (bus 1959, line 7487) closes a ring of 22 buses from the
#: LV bus 3000 of substation 2983
SCHUTTERWALD_RING_SWITCH = 13
SCHUTTERWALD_RING_LINE = 7487


def test_schutterwald_ring_dispatch_holds_in_runpp(cache_dir) -> None:
    """lv-schutterwald is meshed as shipped (one loop, 2803-2804-2805-3005-3209); closing tie
    switch 13 closes a second loop, a 22-bus ring from the LV bus of substation 2983. 350 kW
    of PV at the ring's former open point (bus 1960) overloads the ring cables (0.27 kA);
    the linearised AC dispatch must curtail, and the closed tie itself is the binding
    branch."""
    feeder = load_feeder("lv-schutterwald", cache_dir=cache_dir)
    loops_before = {tuple(loop) for loop in feeder.topology().meshes()}
    assert len(loops_before) == 1  # meshed already, as shipped
    topology = feeder.close_switch(SCHUTTERWALD_RING_SWITCH)
    ring = [loop for loop in topology.meshes() if tuple(loop) not in loops_before]
    assert len(ring) == 1 and {1959, 1960, 3000} <= set(ring[0]) and len(ring[0]) == 22
    net = copy.deepcopy(feeder.net)
    ders = [pv_der(1960, 0.15, 0.4, [0.1, 0.3, 0.35, 0.2])]
    attach_ders(net, ders)
    request, result, checks = dispatch_checked(
        net, ders, [0.3, 0.25, 0.25, 0.35], (0.85, 1.05, 100.0), formulation="linearized-ac"
    )
    peak = checks[2]
    assert peak.max_loading_percent > 100.0 - LOADING_TOL_PERCENT  # the thermal limit binds
    assert peak.worst_branch == ("line", SCHUTTERWALD_RING_LINE)  # on the closed tie
    assert unmanaged_noon(net, request, result).max_loading_percent > 105.0
    assert result.curtailed_mwh > 0.01


# -- 4. the tolerances, pinned to their literal values ----------------------------------------
def test_dispatch_request_tolerance_defaults() -> None:
    defaults = {f.name: f.default for f in fields(DispatchRequest)}
    assert defaults["vm_tolerance_pu"] == VM_TOL_PU
    assert defaults["loading_tolerance_percent"] == LOADING_TOL_PERCENT


def test_overvoltage_after_iterating_is_within_the_literal_tolerance(baran_wu) -> None:
    """2 MW PV at bus 17, LinDistFlow: the first LP is conservative (AC 1.0384 pu), the loop
    corrects it towards the limit and keeps the best AC-feasible iterate, which lies just
    above 1.05 pu: inside the 1e-3 pu tolerance, not below the limit."""
    net = copy.deepcopy(baran_wu.net)
    ders = [pv_der(17, 0.6, 2.2, [2.0])]
    attach_ders(net, ders)
    request = build_request(net, ders, scale=[0.5], limits=(0.90, 1.05, 100.0))
    result = run_dispatch(net, compile_ac_model(net), request)
    assert result.status == "optimal" and result.ac_feasible
    assert result.iterations >= 3  # the AC correction loop had to iterate
    (check,) = runpp_every_period(net, request, result)
    assert 1.05 - VM_TOL_PU < check.max_vm_pu <= 1.05 + 1e-3


def _charging_battery(feeder, bus: int) -> tuple[pp.pandapowerNet, list[Der]]:
    net = copy.deepcopy(feeder.net)
    ders = [storage_der(bus, q_mvar=0.0, s_rated_mva=3.0, p_mw=3.0, e_mwh=(0.0, 10.0, 5.0, 0.0))]
    attach_ders(net, ders)
    return net, ders


#: a negative price: the battery charges as hard as the network lets it (load-driven limits,
#: where the linear models are optimistic and the first LP iterate overshoots in AC)
PAID_TO_CHARGE = Objective(weights={"cost": 1.0}, price_per_mwh=np.array([-1.0]))


def _assert_min_vm_within_tolerance(check: PeriodCheck, vm_min: float) -> None:
    assert check.min_vm_pu >= vm_min - 1e-3, check.min_vm_pu


def _assert_loading_within_tolerance(check: PeriodCheck, limit: float) -> None:
    assert check.max_loading_percent <= limit + 0.5, check.max_loading_percent


def _strict_and_loose(
    baran_wu: Any, limits: tuple[float, float, float], **loose: float
) -> tuple[PeriodCheck, PeriodCheck]:
    """The battery at bus 5 paid to charge (:func:`_charging_battery`), dispatched at the
    default tolerances (optimal and AC-feasible after at least two iterations) and at the
    ``loose`` ones (optimal and AC-feasible); period 0 of each schedule by runpp."""
    net, ders = _charging_battery(baran_wu, 5)
    model = compile_ac_model(net)
    request = build_request(net, ders, [0.6], limits, objective=PAID_TO_CHARGE)
    strict = run_dispatch(net, model, request)
    assert strict.status == "optimal" and strict.ac_feasible and strict.iterations >= 2
    accepted = run_dispatch(net, model, replace(request, **loose))
    assert accepted.status == "optimal" and accepted.ac_feasible
    return (
        measure(runpp_period(net, request, strict.schedule, 0)),
        measure(runpp_period(net, request, accepted.schedule, 0)),
    )


def test_voltage_tolerance_is_sharp(baran_wu) -> None:
    """A 3 MW battery at bus 5 charging until the 0.92 pu floor binds (LinDistFlow). The
    first LP iterate lands 2.6e-3 pu below the floor in AC: with the default 1e-3 pu the loop
    corrects it; with 3e-3 pu it is accepted as the best iterate, and the strict assertion
    rejects that schedule."""
    check, loose_check = _strict_and_loose(
        baran_wu, (0.92, 1.10, 100.0), vm_tolerance_pu=LOOSE_VM_TOL_PU
    )
    _assert_min_vm_within_tolerance(check, 0.92)
    assert check.min_vm_pu < 0.92 + VM_TOL_PU  # the floor binds
    assert loose_check.min_vm_pu >= 0.92 - LOOSE_VM_TOL_PU
    with pytest.raises(AssertionError):
        _assert_min_vm_within_tolerance(loose_check, 0.92)


def test_loading_tolerance_is_sharp(baran_wu) -> None:
    """The same battery charging until line 0 reaches 50 % (voltage band 0.5..1.5 pu). The
    first LinDistFlow iterate (no losses, flow at nominal voltage) overloads line 0 by 2.2 %
    in AC: the default 0.5 % rejects it, 5 % accepts it."""
    check, loose_check = _strict_and_loose(
        baran_wu, (0.5, 1.5, 50.0), loading_tolerance_percent=LOOSE_LOADING_TOL_PERCENT
    )
    _assert_loading_within_tolerance(check, 50.0)
    assert check.worst_branch == ("line", 0)
    assert check.max_loading_percent > 50.0 - 2.0  # the limit binds
    assert loose_check.max_loading_percent <= 50.0 + LOOSE_LOADING_TOL_PERCENT
    with pytest.raises(AssertionError):
        _assert_loading_within_tolerance(loose_check, 50.0)


@pytest.mark.parametrize(
    "formulation",
    [
        "lindistflow",
        "linearized-ac-full",
        "linearized-ac",
    ],
)
def test_a_charging_battery_far_from_the_start_point_is_held_at_the_floor(
    baran_wu, formulation
) -> None:
    """A 3 MW battery at the end of the main feeder (bus 17), paid to charge: the 0.90 pu
    floor stops it at about 0.62 MW. An AC power flow beyond the voltage collapse must not end
    the dispatch: the schedule comes back AC-feasible (checked by runpp)."""
    net, ders = _charging_battery(baran_wu, 17)
    request = build_request(
        net, ders, [0.6], (0.90, 1.10, 100.0), objective=PAID_TO_CHARGE, formulation=formulation
    )
    result = run_dispatch(net, compile_ac_model(net), request)
    assert result.status == "optimal" and result.ac_feasible
    (check,) = runpp_every_period(net, request, result)
    assert check.min_vm_pu < 0.90 + VM_TOL_PU  # the floor binds
    assert -0.7 < p_matrix(result, ["bat-17"])[0, 0] < -0.5


def test_run_timeseries_flags_a_voltage_1p5e_3_above_the_limit(baran_wu) -> None:
    """The dispatch's AC check: limits widened by the request's tolerances. A feeder with no
    load sits at the slack voltage everywhere: 1.05 + 1.5e-3 pu is flagged at every bus,
    with an excess of 0.5e-3 pu over the widened limit; 1.05 + 0.5e-3 pu nowhere."""
    defaults = {f.name: f.default for f in fields(DispatchRequest)}
    tolerance = defaults["vm_tolerance_pu"]
    net = copy.deepcopy(baran_wu.net)
    profiles = hand_forecast(net, np.array([0.0]))
    ac_limits = OperatingLimits(0.90 - tolerance, 1.05 + tolerance, 100.0 + 0.5)
    for above, flagged in ((1.5e-3, True), (0.5e-3, False)):
        net.ext_grid.loc[:, "vm_pu"] = 1.05 + above
        series = run_timeseries(net, profiles, steps=1, limits=ac_limits)
        np.testing.assert_allclose(series.vm_pu.iloc[0].to_numpy(), 1.05 + above, atol=1e-7)
        violations = series.violations()
        if not flagged:
            assert violations == []
            continue
        assert {v.step for v in violations} == {0}
        assert len(violations) == len(net.bus)
        assert all(v.kind == "overvoltage" and v.unit == "pu" for v in violations)
        assert all(v.excess == pytest.approx(0.5e-3, abs=1e-7) for v in violations)
