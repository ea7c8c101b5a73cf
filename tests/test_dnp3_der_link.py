"""A DER device seen by our master over real DNP3 TCP on 127.0.0.1: a poll becomes a
telemetry measurement with its quality, and a power limit is written by select-before-operate
and confirmed only when the device reads it back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from dnp3.master.config import MasterConfig
from dnp3.master.handler import DefaultSOEHandler
from dnp3.master.master import Master
from dnp3.master.tcp_runner import MasterTcpRunner

from scada_bridge.der_link import Confirmation, measurement, write_power_limit
from scada_bridge.device_points import Reading, readings
from scada_bridge.point_map import shipped_map
from tests.dnp3_devices import device_server

DER = shipped_map("der_an2018_001")
DEVICE: dict[str, float | bool] = {
    "p_w": 0.4,  # MW
    "q_var": -0.05,  # MVAr
    "v_a_v": 0.2448,  # kV
    "reference_voltage_v": 0.24,  # kV
    "soc_percent": 55.0,
    "p_limit_generation_percent": 100.0,
    "p_limit_enabled": False,
    "comm_error": False,
}
#: the resolution of a voltage [pu] read as 0.1 V over 240 V
VM_RESOLUTION_PU = 1e-4 / 0.24


async def _with_device(
    obeying: bool, limit_percent: float
) -> tuple[dict[str, object], Confirmation, list[str]]:
    server, device = device_server(DEVICE, handling=obeying)
    await server.start()
    try:
        handler = DefaultSOEHandler()
        master = Master(config=MasterConfig(address=1, outstation_address=10), handler=handler)
        async with MasterTcpRunner(master=master, host="127.0.0.1", port=server.port) as runner:
            await runner.integrity_poll()
            got = measurement(readings(DER, handler), "pv1", datetime(2026, 6, 21, 12, tzinfo=UTC))
            confirmation = await write_power_limit(runner, master, handler, DER, limit_percent)
        return got, confirmation, device.selected
    finally:
        await server.stop()


def test_a_poll_becomes_a_measurement_in_our_units() -> None:
    got, _, _ = asyncio.run(_with_device(True, 50.0))
    assert got["quality"] == "good"
    assert got["p_mw"] == pytest.approx(0.4, abs=1e-6)
    assert got["q_mvar"] == pytest.approx(-0.05, abs=1e-6)
    assert got["vm_pu"] == pytest.approx(1.02, abs=VM_RESOLUTION_PU)
    assert got["soc_percent"] == pytest.approx(55.0)


def test_a_power_limit_is_selected_operated_and_confirmed_by_read_back() -> None:
    _, confirmation, selected = asyncio.run(_with_device(True, 62.5))
    assert confirmation == Confirmation(True, "read back 62.5 %, enabled")
    assert selected == ["AO88", "BO17"]  # select-before-operate, as the map says


def test_a_device_that_does_not_take_the_limit_is_not_confirmed() -> None:
    _, confirmation, _ = asyncio.run(_with_device(False, 62.5))
    assert not confirmation.acknowledged
    assert "commanded 62.5 %" in confirmation.answer or "IIN" in confirmation.answer


def test_a_limit_out_of_range_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match=r"power limit 120.0 % is outside \[0, 100\] %"):
        asyncio.run(_with_device(True, 120.0))


def test_a_device_reporting_a_comm_error_or_a_restarting_point_is_not_good() -> None:
    at = datetime(2026, 6, 21, 12, tzinfo=UTC)

    def reading(name: str, value: float | bool, online: bool = True) -> Reading:
        return Reading(DER.named(name), value, None if isinstance(value, bool) else "MW", online)

    fine = {
        "p_w": reading("p_w", 0.4),
        "q_var": reading("q_var", 0.01),
        "comm_error": reading("comm_error", False),
    }
    assert measurement(fine, "pv1", at)["quality"] == "good"
    restarting = {**fine, "q_var": reading("q_var", 0.0, online=False)}
    got = measurement(restarting, "pv1", at)
    assert (got["quality"], got["q_mvar"]) == ("suspect", None)  # not served as a fresh zero
    broken = {**fine, "comm_error": reading("comm_error", True)}
    assert measurement(broken, "pv1", at)["quality"] == "bad"
    assert measurement({}, "pv1", at)["quality"] == "suspect"  # nothing to stand on
