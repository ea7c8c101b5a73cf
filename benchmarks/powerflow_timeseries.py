"""Time-series AC power flow: the compiled fast path against plain ``pandapower.runpp``.

For each feeder, in one run on this machine: the compiled path over ``--steps`` steps, and
``pandapower.runpp`` per step (full conversion every step) with lightsim2grid's and with
pandapower's own (numba, warmed up) Newton-Raphson over ``--peer-steps`` steps. Medians of
``--repeats`` runs; the ratio is compiled steps/s over runpp steps/s. The largest deviation of
the compiled results from runpp on the shared steps is reported as a correctness check.

Prints a table and writes ``benchmarks/results/powerflow_timeseries.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import warnings
from pathlib import Path

import numpy as np
from _common import print_header

from network_models.loaders import load_feeder
from network_models.profiles import FeederProfiles, daily_load_profiles
from solvers.timeseries import TimeSeriesResult, run_timeseries

RESULTS = Path(__file__).parent / "results" / "powerflow_timeseries.json"

#: feeder, first profile step (SimBench: a July day), profiles source
CASES = (
    ("1-LV-rural1--0-sw", 17_000),
    ("1-MV-rural--0-sw", 17_000),
    ("lv-schutterwald", 0),
)


def _profiles(name: str) -> tuple[object, FeederProfiles]:
    feeder = load_feeder(name)
    profiles = feeder.profiles or daily_load_profiles(feeder.net.load, 96)
    return feeder, profiles


def _deviation(fast: TimeSeriesResult, peer: TimeSeriesResult) -> dict[str, float]:
    n = peer.n_steps
    columns = fast.vm_pu.columns
    lines = fast.line_loading_percent.columns
    return {
        "vm_pu": float(
            np.abs(fast.vm_pu.iloc[:n].to_numpy() - peer.vm_pu[columns].to_numpy()).max()
        ),
        "line_loading_percent": float(
            np.nanmax(
                np.abs(
                    fast.line_loading_percent.iloc[:n].to_numpy()
                    - peer.line_loading_percent[lines].to_numpy()
                )
            )
        ),
        "feeder_head_p_mw": float(
            np.abs(
                fast.feeder_head_p_mw.iloc[:n].to_numpy() - peer.feeder_head_p_mw.to_numpy()
            ).max()
        ),
    }


def bench_case(name: str, start: int, steps: int, peer_steps: int, repeats: int) -> dict:
    feeder, profiles = _profiles(name)
    net = feeder.net  # type: ignore[attr-defined]
    start = min(start, profiles.n_steps - steps)
    fast_runs = [
        run_timeseries(net, profiles, steps=steps, start=start, name=name) for _ in range(repeats)
    ]
    peers: dict[str, list[TimeSeriesResult]] = {}
    for backend in ("lightsim2grid", "pandapower"):
        # warm-up: numba's JIT and pandapower's first-call costs are not per-step costs
        run_timeseries(net, profiles, steps=1, start=start, method="runpp", backend=backend)
        peers[backend] = [
            run_timeseries(
                net,
                profiles,
                steps=peer_steps,
                start=start,
                method="runpp",
                backend=backend,
                name=name,
            )
            for _ in range(repeats)
        ]
    fast_rate = statistics.median(r.steps_per_second for r in fast_runs)
    row = {
        "feeder": name,
        "buses": len(net.bus),
        "steps": steps,
        "compiled_setup_ms": 1e3 * statistics.median(r.setup_s for r in fast_runs[1:] or fast_runs),
        "compiled_ms_per_step": 1e3 / fast_rate,
        "compiled_steps_per_s": fast_rate,
        "mean_nr_iterations": float(np.mean(fast_runs[-1].iterations)),
        "peer_steps": peer_steps,
        "deviation_from_runpp": _deviation(fast_runs[-1], peers["lightsim2grid"][-1]),
    }
    for backend, runs in peers.items():
        rate = statistics.median(r.steps_per_second for r in runs)
        row[f"runpp_{backend}_ms_per_step"] = 1e3 / rate
        row[f"runpp_{backend}_solver"] = runs[-1].solver
        row[f"speedup_vs_runpp_{backend}"] = fast_rate / rate
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--peer-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("pandapower").setLevel(logging.ERROR)

    rows = [
        bench_case(name, start, args.steps, args.peer_steps, args.repeats) for name, start in CASES
    ]
    header = (
        f"{'feeder':<20}{'buses':>6}{'setup ms':>10}{'fast ms/step':>14}"
        f"{'runpp(ls2g) ms':>16}{'runpp(pp) ms':>14}{'x vs ls2g':>11}{'x vs pp':>9}"
        f"{'max dVm pu':>12}"
    )
    print_header(header)
    for r in rows:
        print(
            f"{r['feeder']:<20}{r['buses']:>6}{r['compiled_setup_ms']:>10.1f}"
            f"{r['compiled_ms_per_step']:>14.3f}{r['runpp_lightsim2grid_ms_per_step']:>16.1f}"
            f"{r['runpp_pandapower_ms_per_step']:>14.1f}"
            f"{r['speedup_vs_runpp_lightsim2grid']:>11.0f}"
            f"{r['speedup_vs_runpp_pandapower']:>9.0f}"
            f"{r['deviation_from_runpp']['vm_pu']:>12.1e}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "powerflow_timeseries",
                "machine": {
                    "python": platform.python_version(),
                    "processor": platform.machine(),
                    "cpus": __import__("os").cpu_count(),
                },
                "settings": vars(args),
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
