"""The DER point map over real DNP3 on 127.0.0.1: a dnp3py outstation serves a device's
values from the map's scaling, a dnp3py master's integrity poll reads them back into MW, kV and
percent; integer scaling keeps the fractions g30v1 would drop."""

from __future__ import annotations

import asyncio
import socket

import pytest
from dnp3.master.config import MasterConfig
from dnp3.master.handler import DefaultSOEHandler
from dnp3.master.master import Master
from dnp3.master.tcp_runner import MasterTcpRunner
from dnp3.outstation import Outstation, OutstationConfig
from dnp3.outstation.tcp_runner import OutstationTcpRunner

from scada_bridge.device_points import Reading, device_database, readings
from scada_bridge.point_map import PointMap, shipped_map

DEVICE = {
    "nameplate_p_w": 0.5,  # MW
    "p_w": 0.4321,  # MW
    "q_var": -0.0876,  # MVAr (absorbing)
    "v_a_v": 0.24017,  # kV: 240.17 V, carried in 0.1 V
    "soc_percent": 65.54,  # %, carried in 0.1 %
    "frequency_hz": 59.987,
    "p_limit_generation_percent": 62.5,  # read-back of AO88 [% of WMax]
    "p_limit_enabled": True,
    "comm_error": False,
}
#: the resolution each value travels in (the map's multiplier in our unit)
RESOLUTION = {
    "nameplate_p_w": 1e-6,
    "p_w": 1e-6,
    "q_var": 1e-6,
    "v_a_v": 1e-4,
    "soc_percent": 0.1,
    "frequency_hz": 1e-3,
    "p_limit_generation_percent": 0.1,
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _integrity_poll(points: PointMap, values: dict[str, float | bool]) -> dict[str, Reading]:
    port = _free_port()
    config = OutstationConfig(address=10, time_sync_required=False)
    outstation = Outstation(config=config, database=device_database(points, values))
    runner = OutstationTcpRunner(outstation=outstation, host="127.0.0.1", port=port)
    serving = asyncio.create_task(runner.run())
    try:
        for _ in range(100):
            if runner.is_running:
                break
            await asyncio.sleep(0.02)
        received = DefaultSOEHandler()
        master = Master(config=MasterConfig(address=1, outstation_address=10), handler=received)
        async with MasterTcpRunner(master=master, host="127.0.0.1", port=port) as polling:
            await polling.integrity_poll()
        return readings(points, received)
    finally:
        await runner.stop()
        serving.cancel()


def test_an_integrity_poll_reads_the_device_back_in_our_units() -> None:
    der = shipped_map("der_an2018_001")
    got = asyncio.run(_integrity_poll(der, DEVICE))
    assert len(got) == len(der)  # every point of the map is served and read
    for name, value in DEVICE.items():
        reading = got[name]
        assert reading.online, name
        if isinstance(value, bool):
            assert reading.value is value, name
        else:
            assert reading.value == pytest.approx(value, abs=RESOLUTION[name] / 2 + 1e-12), name
    assert (got["p_w"].unit, got["v_a_v"].unit, got["soc_percent"].unit) == ("MW", "kV", "%")
    # a point given no value is served with the RESTART flag, not as a fresh zero
    assert not got["max_p_w"].online and got["max_p_w"].value == 0.0


def test_integer_scaling_keeps_the_fraction_an_unscaled_integer_drops() -> None:
    der = shipped_map("der_an2018_001")
    got = asyncio.run(_integrity_poll(der, {"soc_percent": 65.56, "v_a_v": 0.24017}))
    # 65.56 % travels as 656 (x 0.1 %), 240.17 V as 2402 (x 0.1 V): rounded, not truncated
    assert got["soc_percent"].value == pytest.approx(65.6)
    assert got["v_a_v"].value == pytest.approx(0.2402)


def test_a_value_for_a_point_the_map_lacks_is_refused() -> None:
    with pytest.raises(KeyError, match=r"no point carries \['p_mw'\] in the point map"):
        device_database(shipped_map("der_an2018_001"), {"p_mw": 1.0})
