"""Simulated DER devices over real DNP3 on 127.0.0.1: an IEEE 1547 PV inverter follows a power
limit written by select-before-operate with its ramp, a failed device refuses commands and
trips, and ``gridderms simulate-ders`` serves a feeder's DERs on consecutive ports with an
endpoint file the bridge reads."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dnp3.master.config import MasterConfig
from dnp3.master.handler import DefaultSOEHandler
from dnp3.master.master import Master
from dnp3.master.tcp_runner import MasterTcpRunner

from scada_bridge.der_device import DerDevice, DeviceRating
from scada_bridge.der_link import Confirmation, write_power_limit
from scada_bridge.der_simulator import SimulatedDer
from scada_bridge.device_points import readings
from scada_bridge.endpoints import load_endpoints

RATING = DeviceRating(kind="pv", s_rated_mva=0.55, p_rated_mw=0.5, q_max_mvar=0.2)
#: resolution of P on the wire [MW] (1 W)
P_RESOLUTION_MW = 1e-6


async def _session(sim: SimulatedDer, limit_percent: float) -> tuple[Confirmation, list[float]]:
    await sim.server.start()
    try:
        handler = DefaultSOEHandler()
        master = Master(config=MasterConfig(address=1, outstation_address=10), handler=handler)
        async with MasterTcpRunner(master=master, host="127.0.0.1", port=sim.server.port) as r:
            confirmation = await write_power_limit(r, master, handler, sim.points, limit_percent)
            seen = []
            for _ in range(4):
                sim.step(1.0)  # one second of the device's life
                await r.integrity_poll()
                seen.append(float(readings(sim.points, handler)["p_w"].value))
        return confirmation, seen
    finally:
        await sim.server.stop()


def test_a_pv_inverter_follows_a_power_limit_with_its_ramp() -> None:
    sim = SimulatedDer("pv1", DerDevice(RATING))
    confirmation, seen = asyncio.run(_session(sim, 50.0))
    assert confirmation.acknowledged, confirmation.answer
    # 20 %/s of 0.5 MW is 0.1 MW/s, from 0 to the limit 0.25 MW: 0.1, 0.2, then held
    assert seen == pytest.approx([0.1, 0.2, 0.25, 0.25], abs=P_RESOLUTION_MW)


def test_a_failed_device_refuses_the_limit_and_trips() -> None:
    device = DerDevice(RATING)
    device.step(10.0)
    sim = SimulatedDer("pv1", device)
    device.fail()
    confirmation, seen = asyncio.run(_session(sim, 50.0))
    assert not confirmation.acknowledged
    assert seen == [0.0] * 4


def _free_run(count: int) -> int:
    """A base port with ``count`` free consecutive ports after it."""
    for base in range(31000 + os.getpid() % 500 * 20, 60000, count + 7):
        try:
            probes = []
            for port in range(base, base + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no free run of ports")


def test_simulate_ders_serves_a_feeder_on_consecutive_ports(tmp_path: Path) -> None:
    endpoints_file = tmp_path / "endpoints.json"
    base = _free_run(40)
    command = [sys.executable, "-m", "gridderms.cli", "simulate-ders", "cigre-mv-der"]
    command += ["--base-port", str(base), "--endpoints", str(endpoints_file), "--seconds", "30"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not endpoints_file.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no endpoint file"
            time.sleep(0.1)
        feeder, endpoints = load_endpoints(endpoints_file)
        assert feeder == "cigre-mv-der"
        assert [e.port for e in endpoints] == list(range(base, base + len(endpoints)))
        assert len(endpoints) >= 10  # the CIGRE MV feeder's PV, generators and batteries

        async def poll(port: int) -> float:
            handler = DefaultSOEHandler()
            master = Master(config=MasterConfig(address=1, outstation_address=10), handler=handler)
            async with MasterTcpRunner(master=master, host="127.0.0.1", port=port) as r:
                await r.integrity_poll()
            from scada_bridge.point_map import shipped_map

            return float(readings(shipped_map("der_an2018_001"), handler)["nameplate_p_w"].value)

        nameplates = [asyncio.run(poll(e.port)) for e in (endpoints[0], endpoints[-1])]
        assert all(p > 0 for p in nameplates)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert b"der_id" in out and f"127.0.0.1:{base}".encode() in out
