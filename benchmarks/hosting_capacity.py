"""Hosting capacity: LP + AC refinement (ours) against brute-force bisection with runpp.

For each feeder, in one run on this machine: our per-bus hosting capacity of every bus
(:func:`solvers.hosting_capacity.static.hosting_capacity`, worker processes as by default) and
the brute-force reference (:class:`solvers.hosting_capacity.reference.BruteForce`: a real sgen
or load added to the net, one ``pandapower.runpp`` per candidate size, doubling from 1 MW then
bisection to the same tolerance). On a large feeder the brute force runs on a random sample of
buses (``--sample``, seeded) and its time for all buses is extrapolated from the sample's mean:
the JSON says so (``brute_force.extrapolated``). The disagreement is ``|ours - reference|`` per
compared bus, also as a share of the tolerance ``max(1 %, 10 kW)``.

Prints a table and writes ``benchmarks/results/hosting_capacity.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from _common import print_header

from network_models.loaders import load_feeder
from solvers.hosting_capacity.operating_point import worst_case
from solvers.hosting_capacity.reference import BruteForce
from solvers.hosting_capacity.refine import Tolerance
from solvers.hosting_capacity.static import default_jobs, hosting_capacity
from solvers.limits import StudyLimits

RESULTS = Path(__file__).parent / "results" / "hosting_capacity.json"

#: feeder, buses brute-forced (None: all)
CASES = (("1-MV-rural--0-sw", None), ("lv-schutterwald", 30))


def bench_case(name: str, sample: int | None, modes: tuple[str, ...], seed: int) -> dict:
    feeder = load_feeder(name)
    tolerance = Tolerance()
    start = time.perf_counter()
    ours = hosting_capacity(feeder, modes=modes, tolerance=tolerance)  # type: ignore[arg-type]
    ours_s = time.perf_counter() - start
    # source buses and buses fused to one by a closed switch hold the source voltage: no limit
    # of this model binds there (ours reports NaN, the brute force runs into its cap)
    limited = ours.table[f"hc_{modes[0]}_mw"].notna()
    buses = [int(b) for b in ours.table.index[limited]]
    chosen = buses
    if sample is not None and sample < len(buses):
        rng = np.random.default_rng(seed)
        chosen = sorted(int(b) for b in rng.choice(buses, size=sample, replace=False))
    brute_s = 0.0
    runpp = 0
    differences_mw: list[float] = []
    shares: list[float] = []
    binding_agree = 0
    for mode in modes:
        tic = time.perf_counter()
        brute = BruteForce(feeder.net, worst_case(feeder, mode), StudyLimits(), mode, 1.0)  # type: ignore[arg-type]
        for bus in chosen:
            reference = brute.search(bus, tolerance)
            runpp += reference.runpp_calls
            value = float(ours.table.loc[bus, f"hc_{mode}_mw"])
            difference = abs(value - reference.p_mw)
            differences_mw.append(difference)
            shares.append(difference / tolerance.width_mw(max(value, reference.p_mw)))
            binding_agree += reference.binding == ours.table.loc[bus, f"binding_{mode}"]
        brute_s += time.perf_counter() - tic
    factor = len(buses) / len(chosen)
    brute_all_s = brute_s * factor
    return {
        "feeder": name,
        "buses": len(feeder.net.bus),
        "buses_studied": len(buses),
        "buses_at_a_source": int((~limited).sum()),
        "components": ours.counts["components"],
        "modes": list(modes),
        "tolerance": "max(1 %, 10 kW)",
        "ours": {
            "wall_s": ours_s,
            "worker_processes": min(default_jobs(), ours.counts["components"]),
            "times_s": ours.times_s,
            "lp_solves": ours.counts["lp_solves"],
            "ac_power_flows": ours.counts["ac_power_flows"],
        },
        "brute_force": {
            "buses": len(chosen),
            "extrapolated": len(chosen) < len(buses),
            "runpp_calls": runpp,
            "wall_s_sample": brute_s,
            "wall_s_all_buses": brute_all_s,
        },
        "ratio": brute_all_s / ours_s,
        "max_disagreement_mw": max(differences_mw),
        "max_disagreement_share_of_tolerance": max(shares),
        "binding_agrees": f"{binding_agree}/{len(differences_mw)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["gen"], choices=["gen", "load"])
    parser.add_argument("--sample", type=int, default=None, help="brute-force sample size")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    results = []
    for name, sample in CASES:
        row = bench_case(name, args.sample or sample, tuple(args.modes), args.seed)
        results.append(row)
        print(json.dumps(row, indent=2), flush=True)
    header = (
        f"{'feeder':<18} {'buses':>6} {'ours s':>8} {'brute s':>10} {'ratio':>7} "
        f"{'max diff MW':>12} {'of tol':>7} {'binding':>9}"
    )
    print_header(header)
    for row in results:
        brute = row["brute_force"]
        mark = "*" if brute["extrapolated"] else " "
        print(
            f"{row['feeder']:<18} {row['buses_studied']:>6} {row['ours']['wall_s']:>8.1f} "
            f"{brute['wall_s_all_buses']:>9.1f}{mark} {row['ratio']:>7.0f} "
            f"{row['max_disagreement_mw']:>12.4f} "
            f"{row['max_disagreement_share_of_tolerance']:>7.2f}"
            f" {row['binding_agrees']:>9}"
        )
    print("* brute force on a random sample of buses, time extrapolated to all buses")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "python": platform.python_version(),
                "cases": results,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
