"""The IEEE 1547 device model alone: power factor and var modes within the apparent-power
circle, a battery's state of charge and its bounds, freeze, and refused values named."""

from __future__ import annotations

import math

import pytest

from scada_bridge.der_device import DerDevice, DeviceFaultError, DeviceRating

PV = DeviceRating(kind="pv", s_rated_mva=0.5, p_rated_mw=0.5, q_max_mvar=0.3)
BATTERY = DeviceRating(
    kind="battery", s_rated_mva=1.0, p_rated_mw=1.0, q_max_mvar=0.4, e_rated_mwh=2.0,
    soc_min_percent=10.0, soc_max_percent=90.0, ramp_percent_per_s=100.0,
)  # fmt: skip
#: tolerance of the model's arithmetic [MW], [MVAr], [%]
TOL = 1e-9


def test_constant_power_factor_absorbs_q_and_the_circle_holds() -> None:
    device = DerDevice(PV, available_p_mw=0.4)
    device.set_power_factor(0.95, enabled=True, absorbing=True)
    device.step(10.0)
    assert device.p_mw == pytest.approx(0.4, abs=TOL)
    assert device.q_mvar == pytest.approx(-0.4 * math.tan(math.acos(0.95)), abs=TOL)
    device.set_power_factor(0.95, enabled=False, absorbing=True)
    device.set_var(0.3, enabled=True)
    device.available_p_mw = 0.5
    device.step(10.0)
    # 0.5 MW at a 0.5 MVA rating leaves no room for Q: active power has priority
    assert (device.p_mw, device.q_mvar) == pytest.approx((0.5, 0.0), abs=TOL)


def test_a_battery_integrates_its_state_of_charge_and_stops_at_the_bound() -> None:
    device = DerDevice(BATTERY, soc_percent=12.0)
    device.set_p_setpoint(1.0)  # discharge 1 MW from a 2 MWh battery: 50 %/h, 0.0139 %/s
    device.step(1.0)
    assert device.soc_percent == pytest.approx(12.0 - 100 * 1.0 / 3600 / 2.0, abs=TOL)
    for _ in range(200):
        device.step(1.0)
    assert device.p_mw == 0.0  # at the 10 % floor the discharge stops
    assert device.soc_percent == pytest.approx(10.0, abs=0.02)


def test_a_frozen_device_keeps_reporting_while_its_state_moves() -> None:
    device = DerDevice(PV)
    device.step(1.0)
    device.freeze()
    device.step(2.0)
    assert device.measurements()["p_mw"] == pytest.approx(0.1, abs=TOL)
    assert device.p_mw == pytest.approx(0.3, abs=TOL)
    device.unfreeze()
    assert device.measurements()["p_mw"] == pytest.approx(0.3, abs=TOL)


def test_bad_values_and_commands_to_a_failed_device_are_refused() -> None:
    device = DerDevice(PV)
    with pytest.raises(ValueError, match=r"power limit 101 % is outside \[0, 100\] %"):
        device.set_power_limit(101, True)
    with pytest.raises(ValueError, match=r"var set-point 0.5 MVAr is outside \+-0.3 MVAr"):
        device.set_var(0.5, True)
    with pytest.raises(ValueError, match="a P set-point is for a battery"):
        device.set_p_setpoint(0.1)
    with pytest.raises(ValueError, match="e_rated_mwh must be positive"):
        DeviceRating(kind="battery", s_rated_mva=1.0, p_rated_mw=1.0)
    with pytest.raises(ValueError, match="p_rated_mw must be positive"):
        DeviceRating(kind="pv", s_rated_mva=1.0, p_rated_mw=0.0)
    device.fail()
    with pytest.raises(DeviceFaultError, match="device failed"):
        device.set_power_limit(50, True)
