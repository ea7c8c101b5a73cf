"""DNP3 at fleet size: N simulated DER devices (our outstation server and IEEE 1547 model, one
process, consecutive free ports on 127.0.0.1) and one dnp3py master connection to each.

Measures, per N, the median over ``--repeats`` of:

- an integrity poll of every device at once (class 0, all points of the AN2018-001 map);
- a power limit written to every device (select-before-operate of AO88 and BO17) and confirmed
  by read-back (an integrity poll of each), as :func:`scada_bridge.der_link.write_power_limit`;

and, from a profile of one round, the share of the time spent in our code (``scada_bridge``)
against dnp3py and asyncio. Master and devices share one event loop and one core here, so the
times include the devices' side. Targets (issue 13, this 2-core machine): poll of 1,000 devices
under 1 s; set-points to 1,000 devices confirmed under 5 s.

Prints a table and writes ``benchmarks/results/dnp3_poll.json``. ``--quick``: N = 20 only.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import time
from pathlib import Path

from dnp3.master.config import MasterConfig
from dnp3.master.handler import DefaultSOEHandler
from dnp3.master.master import Master
from dnp3.master.tcp_runner import MasterTcpRunner

from scada_bridge.der_device import DerDevice, DeviceRating
from scada_bridge.der_link import write_power_limit
from scada_bridge.der_simulator import Fleet, SimulatedDer

RESULTS = Path(__file__).parent / "results" / "dnp3_poll.json"
RATING = DeviceRating(kind="pv", s_rated_mva=0.011, p_rated_mw=0.01, q_max_mvar=0.004)


async def _round(n: int, repeats: int) -> dict[str, float]:
    fleet = Fleet([SimulatedDer(f"pv{i}", DerDevice(RATING)) for i in range(n)])
    await fleet.start()
    links = []
    try:
        for sim in fleet.devices:
            handler = DefaultSOEHandler()
            master = Master(config=MasterConfig(address=1, outstation_address=10), handler=handler)
            runner = MasterTcpRunner(master=master, host="127.0.0.1", port=sim.server.port)
            await runner.open()
            links.append((runner, master, handler, sim))
        polls, writes = [], []
        for k in range(repeats):
            began = time.perf_counter()
            await asyncio.gather(*(r.integrity_poll() for r, _, _, _ in links))
            polls.append(time.perf_counter() - began)
            began = time.perf_counter()
            confirmations = await asyncio.gather(
                *(write_power_limit(r, m, h, s.points, 50.0 + k) for r, m, h, s in links)
            )
            writes.append(time.perf_counter() - began)
            refused = [c.answer for c in confirmations if not c.acknowledged]
            if refused:
                raise RuntimeError(f"{len(refused)} set-points not confirmed: {refused[0]}")
        return {"poll_s": statistics.median(polls), "setpoints_s": statistics.median(writes)}
    finally:
        for runner, _, _, _ in links:
            await runner.close()
        await fleet.stop()


def _share_ours(n: int) -> float:
    """Share of one round's profiled time spent in functions of ``scada_bridge``."""
    profile = cProfile.Profile()
    profile.enable()
    asyncio.run(_round(n, 1))
    profile.disable()
    stats = pstats.Stats(profile)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    ours = sum(
        row[2]
        for (path, _, _), row in stats.stats.items()  # type: ignore[attr-defined]
        if "scada_bridge" in path
    )
    return ours / total if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 20 only")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per N (default: 3)")
    args = parser.parse_args()
    sizes = [20] if args.quick else [100, 1000]
    rows = []
    header = f"{'devices':>8} {'poll [s]':>10} {'set-points [s]':>15} {'our share':>10}"
    print(header)
    print("-" * len(header))
    for n in sizes:
        timing = asyncio.run(_round(n, args.repeats))
        share = _share_ours(n)
        rows.append({"devices": n, **timing, "share_ours": share, "repeats": args.repeats})
        print(
            f"{n:>8} {timing['poll_s']:>10.3f} {timing['setpoints_s']:>15.3f} {share:>10.1%}",
            flush=True,
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
