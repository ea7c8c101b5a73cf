"""The SCADA bridge's ``gridderms`` commands (an entry-point plug-in of
:mod:`gridderms.cli.parser`):

- ``gridderms simulate-ders FEEDER --base-port PORT``: one simulated DNP3 device per PV,
  generator and battery of the feeder, on consecutive ports; prints the port map and writes
  it as an endpoint file (``--endpoints``) the bridge reads;
- ``gridderms bridge FEEDER --endpoints FILE``: the DNP3 master of those devices on the
  service's database (``GRIDDERMS_DATABASE_URL``): each cycle polls every device into the
  telemetry and delivers the pending commands, one line per cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands import the stack when run, not when `gridderms` starts
    from gridderms.ders.records import DerRecord
    from scada_bridge.der_device import DerDevice
    from scada_bridge.der_simulator import Fleet, SimulatedDer

#: DER types a simulated device models, as the device model's kinds
SIMULATED = {"pv": "pv", "generator": "pv", "battery": "battery"}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``simulate-ders`` and ``bridge`` to the ``gridderms`` sub-commands."""
    sim = commands.add_parser(
        "simulate-ders", help="simulated DNP3 devices for a feeder's DERs on consecutive ports"
    )
    sim.add_argument("feeder", help="built-in feeder name or a feeder file")
    sim.add_argument("--base-port", type=int, required=True, help="port of the first device")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim.add_argument(
        "--endpoints", type=Path, help="write the port map as this endpoint file (JSON)"
    )
    sim.add_argument(
        "--seconds", type=float, help="stop after this many seconds (default: until Ctrl-C)"
    )
    sim.add_argument("--step-s", type=float, default=1.0, help="model step [s] (default: 1.0)")
    sim.set_defaults(handler=cmd_simulate_ders)

    bridge = commands.add_parser(
        "bridge", help="poll a feeder's DER devices over DNP3 and deliver pending commands"
    )
    bridge.add_argument("feeder", help="feeder name in the service's database")
    bridge.add_argument("--endpoints", type=Path, required=True, help="endpoint file (JSON)")
    bridge.add_argument(
        "--cycles", type=int, help="stop after this many cycles (default: run until Ctrl-C)"
    )
    bridge.add_argument(
        "--period-s", type=float, default=5.0, help="cycle period [s] (default: 5.0)"
    )
    bridge.add_argument(
        "--timeout-s", type=float, default=2.0, help="device answer timeout [s] (default: 2.0)"
    )
    bridge.set_defaults(handler=cmd_bridge)


def device_of(der: DerRecord) -> DerDevice | None:
    """The simulated device of a DER record, or None for a type no device models
    (EV chargers, flexible loads)."""
    from gridderms.ders.records import BatteryStorage, DistributedGenerator, PvSystem
    from scada_bridge.der_device import DerDevice, DeviceRating

    q_mvar = der.reactive.q_inject_max_mvar or 0.0
    if isinstance(der, BatteryStorage):
        p_mw = max(der.p_charge_max_mw, der.p_discharge_max_mw)
        return DerDevice(
            DeviceRating(
                kind="battery",
                s_rated_mva=der.reactive.s_rated_mva or p_mw,
                p_rated_mw=p_mw,
                q_max_mvar=q_mvar,
                e_rated_mwh=der.e_capacity_mwh,
            )
        )
    if isinstance(der, PvSystem | DistributedGenerator):
        p_mw = der.p_nameplate_mw if isinstance(der, PvSystem) else der.p_max_mw
        rating = DeviceRating(
            kind="pv", s_rated_mva=der.reactive.s_rated_mva or p_mw, p_rated_mw=p_mw,
            q_max_mvar=q_mvar,
        )  # fmt: skip
        return DerDevice(rating)
    return None


def cmd_simulate_ders(args: argparse.Namespace) -> int:
    """Start the devices, print the port map, run until stopped."""
    from gridderms.cli.inputs import feeder_from
    from gridderms.ders.inventory import feeder_inventory
    from scada_bridge.der_simulator import Fleet, SimulatedDer

    feeder = feeder_from(args.feeder)
    devices: list[SimulatedDer] = []
    skipped: list[str] = []
    for der in feeder_inventory(feeder, []):
        device = device_of(der)
        if device is None:
            skipped.append(f"{der.der_id} ({der.der_type})")
            continue
        devices.append(SimulatedDer(der.der_id, device, args.host, args.base_port + len(devices)))
    if not devices:
        print(f"gridderms: error: feeder {args.feeder} has no PV, generator or battery")
        return 2
    fleet = Fleet(devices)
    return asyncio.run(_simulate(fleet, args, skipped, feeder.name))


async def _simulate(fleet: Fleet, args: argparse.Namespace, skipped: list[str], name: str) -> int:
    from scada_bridge.endpoints import write_endpoints

    try:
        await fleet.start()
    except OSError as exc:
        print(f"gridderms: error: cannot listen from port {args.base_port}: {exc}")
        await fleet.stop()
        return 2
    print(f"{'der_id':<24} {'address':<22} kind")
    for sim in fleet.devices:
        print(f"{sim.der_id:<24} {sim.server.host}:{sim.server.port:<12} {sim.device.rating.kind}")
    if skipped:
        print(f"not simulated (no device model): {', '.join(skipped)}")
    if args.endpoints is not None:
        write_endpoints(args.endpoints, name, fleet.endpoints())
        print(f"endpoint file: {args.endpoints}")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.seconds is not None:
        loop.call_later(args.seconds, stop.set)
    try:
        await fleet.run(args.step_s, stop)
    finally:
        await fleet.stop()
    return 0


def cmd_bridge(args: argparse.Namespace) -> int:
    """Run the DER master on the service's database."""
    from gridderms.persistence.database import make_engine, session_factory
    from gridderms.service.settings import ServiceSettings
    from scada_bridge.der_master import DerMaster
    from scada_bridge.endpoints import load_endpoints

    feeder, endpoints = load_endpoints(args.endpoints)
    settings = ServiceSettings()
    engine = make_engine(settings.database_url)
    master = DerMaster(
        session_factory(engine), args.feeder, endpoints, response_timeout_s=args.timeout_s
    )
    if feeder != args.feeder:
        print(f"note: {args.endpoints} was written for feeder {feeder}")

    async def run() -> int:
        cycle = 0
        try:
            while args.cycles is None or cycle < args.cycles:
                began = time.monotonic()
                polled = await master.poll()
                delivered = await master.deliver()
                cycle += 1
                lost = ", ".join(sorted(polled.comm_lost)) or "-"
                print(
                    f"cycle {cycle}: {len(polled.answered)}/{len(master.links)} devices "
                    f"answered, {polled.stored} measurements stored, comm lost: {lost}; "
                    f"commands acknowledged {len(delivered.acknowledged)}, failed "
                    f"{len(delivered.failed)}, waiting {len(delivered.waiting)}; "
                    f"{time.monotonic() - began:.2f} s",
                    flush=True,
                )
                if args.cycles is None or cycle < args.cycles:
                    await asyncio.sleep(max(0.0, args.period_s - (time.monotonic() - began)))
        finally:
            await master.close()
            engine.dispose()
        return 0

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run())
    return 130


__all__ = ["cmd_bridge", "cmd_simulate_ders", "device_of", "register"]
