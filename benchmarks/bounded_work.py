"""Bounded work: memory against the request-time estimates of :mod:`gridderms.service.budget`,
and how fast a running job stops when it is cancelled.

Memory. Each case is one dispatch (:func:`gridderms.dispatch.feeder_dispatch.dispatch_feeder`, the
service's default operating limits) of a built-in feeder's own DERs, or one hosting-capacity
study with a time-series window (:func:`gridderms.hosting.run_study`), in its own process:
after a small warm-up run the process's peak RSS is reset (``/proc/self/clear_refs``) and the
case's growth is ``VmHWM`` at the end less ``VmRSS`` at the start. Reported beside it: the LPs
HiGHS was given, the estimate and the ratio estimate / measured (at least 1: the estimate is
the bound the service enforces).

Cancellation. A dispatch (or study) is run with a stop check (:mod:`solvers.cancel`) that
turns true after a delay; reported are where the work stopped (the checkpoint's message) and
the latency from the stop check turning true to :class:`~solvers.cancel.SolveCancelled`
(the service adds at most its 0.5 s status cache, :class:`gridderms.service.jobs.StopProbe`).

Prints tables and writes ``benchmarks/results/bounded_work.json``. ``--quick``: a few cases.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from solvers.opf.names import FORMULATIONS

RESULTS = Path(__file__).parent / "results" / "bounded_work.json"
#: dispatch memory: feeder, formulation, horizon [h], step [min]
DISPATCH_CASES: tuple[tuple[str, str, float, int], ...] = (
    *(("cigre-mv-der", f, 24.0, 15) for f in FORMULATIONS),
    *(("cigre-mv-der", f, 24.0, 5) for f in FORMULATIONS),
    *(("cigre-mv-der", f, 72.0, 5) for f in FORMULATIONS),
    ("cigre-mv-der", "lindistflow", 168.0, 5),
    ("cigre-mv-der", "linearized-ac-full", 168.0, 5),
    *(("mv-oberrhein", f, 24.0, 15) for f in FORMULATIONS),
    ("mv-oberrhein", "lindistflow", 72.0, 15),
    *(("1-MV-rural--0-sw", f, 24.0, 15) for f in FORMULATIONS),
    ("1-MV-rural--0-sw", "lindistflow", 72.0, 15),
)
#: study memory: feeder, window steps, modes
STUDY_CASES: tuple[tuple[str, int, str], ...] = (
    ("1-MV-rural--0-sw", 288, "gen"),
    ("1-MV-rural--0-sw", 8000, "gen,load"),
    ("1-MV-rural--0-sw", 32000, "gen,load"),
    ("1-LV-rural1--0-sw", 32000, "gen,load"),
)
#: cancellation: kind, feeder, formulation or modes, horizon [h] or window steps, step [min],
#: delays [s] after the start
CANCEL_CASES: tuple[tuple[str, str, str, float, int, tuple[float, ...]], ...] = (
    ("dispatch", "cigre-mv-der", "linearized-ac-full", 24.0, 5, (0.2, 2.0, 5.0, 8.0)),
    ("dispatch", "cigre-mv-der", "lindistflow", 168.0, 5, (1.2, 3.0, 5.0, 7.5, 9.0)),
    ("study", "1-MV-rural--0-sw", "gen", 35136, 15, (0.5, 2.0, 4.0, 8.0)),
)
#: 21 June in SimBench's 2016 profiles [15-min steps]
MIDSUMMER_STEP = 96 * 172


def _status() -> dict[str, int]:
    with open("/proc/self/status") as status:
        return {
            line.split(":")[0]: int(line.split()[1]) * 1024
            for line in status
            if line.startswith(("VmHWM", "VmRSS"))
        }


def _setup(feeder_name: str) -> tuple[Any, list[Any], Any, int | None, Any]:
    """The feeder, its DERs, the service's operating limits, a start step and a start."""
    import highspy  # noqa: F401  (before pandapower: see solvers.lp.highs)
    import pandas as pd

    from gridderms.cli.inputs import feeder_from, profile_start
    from gridderms.ders.inventory import feeder_inventory
    from gridderms.service.settings import ServiceSettings

    feeder = feeder_from(feeder_name)
    start_step = MIDSUMMER_STEP if feeder.profiles is not None else None
    start = (
        profile_start(feeder, start_step)
        if start_step is not None
        else pd.Timestamp("2024-06-21T00:00Z")
    )
    ders = list(feeder_inventory(feeder, []))
    return feeder, ders, ServiceSettings().operating_limits(), start_step, start


def dispatch_case(name: str, formulation: str, hours: float, step: int) -> dict[str, Any]:
    """One dispatch in this process: peak RSS growth, LP sizes and the estimate."""
    import solvers.lp.highs as lp_module
    from gridderms.dispatch.feeder_dispatch import dispatch_feeder
    from gridderms.dispatch.horizon import Horizon
    from gridderms.service.budget import dispatch_lp_size, dispatch_memory_mb, network_size

    sizes: list[tuple[int, int, int]] = []
    original = lp_module.HighsModel.__init__

    def record(self: Any, lp: Any, **kwargs: Any) -> None:
        sizes.append((lp.n_cols, lp.n_rows, sum(len(t[0]) for t in lp._triplets)))
        original(self, lp, **kwargs)

    lp_module.HighsModel.__init__ = record  # type: ignore[method-assign]
    feeder, ders, limits, start_step, start = _setup(name)
    options = {"formulation": formulation, "limits": limits, "start_step": start_step}
    dispatch_feeder(feeder, ders, Horizon(start, 1.0, 15), **options)
    sizes.clear()
    horizon = Horizon(start, hours, step)
    before = _status()["VmRSS"]
    Path("/proc/self/clear_refs").write_text("5")
    began = time.perf_counter()
    result = dispatch_feeder(feeder, ders, horizon, **options)
    elapsed = time.perf_counter() - began
    growth_mb = (_status()["VmHWM"] - before) / 2**20
    buses, branches = network_size(feeder)
    size = dispatch_lp_size(formulation, buses, branches, len(ders), horizon.n_periods)
    estimate = dispatch_memory_mb(formulation, buses, branches, len(ders), horizon.n_periods)
    return {
        "feeder": name,
        "formulation": formulation,
        "used": result.formulation,
        "status": result.status,
        "iterations": result.iterations,
        "periods": horizon.n_periods,
        "ders": len(ders),
        "buses": buses,
        "branches": branches,
        "lps": [{"columns": c, "rows": r, "nonzeros": n} for c, r, n in sizes],
        "estimated_lp": {"columns": size.columns, "rows": size.rows, "nonzeros": size.nonzeros},
        "growth_mb": growth_mb,
        "estimate_mb": estimate,
        "ratio": estimate / max(growth_mb, 1e-9),
        "elapsed_s": elapsed,
    }


def study_case(name: str, steps: int, modes_text: str) -> dict[str, Any]:
    """One hosting-capacity study with a window of ``steps`` from step 0 in this process."""
    from gridderms.hosting import run_study
    from gridderms.service.budget import network_size, study_memory_mb

    feeder, _, _, _, _ = _setup(name)
    modes = tuple(modes_text.split(","))
    run_study(feeder, modes=modes, timeseries=range(MIDSUMMER_STEP, MIDSUMMER_STEP + 96), jobs=1)
    before = _status()["VmRSS"]
    Path("/proc/self/clear_refs").write_text("5")
    began = time.perf_counter()
    study = run_study(
        feeder, modes=modes, timeseries=range(steps), jobs=1, managed="gen" in modes
    )
    elapsed = time.perf_counter() - began
    growth_mb = (_status()["VmHWM"] - before) / 2**20
    buses, _ = network_size(feeder)
    studied = len(study.static.table)
    assert feeder.profiles is not None
    values = sum(int(frame.size) for frame in feeder.profiles.values.values())
    estimate = study_memory_mb(buses, studied, steps, modes, values)
    return {
        "feeder": name,
        "window_steps": steps,
        "modes": list(modes),
        "buses": buses,
        "studied": studied,
        "growth_mb": growth_mb,
        "estimate_mb": estimate,
        "ratio": estimate / max(growth_mb, 1e-9),
        "elapsed_s": elapsed,
    }


def _progress_checkpoint(done: int, total: int) -> None:
    """A study's progress report as a checkpoint, as in the service (``set_progress``)."""
    from solvers.cancel import checkpoint

    checkpoint("at a progress report")


def cancel_case(
    kind: str, name: str, what: str, size: float, step: int, delays: tuple[float, ...]
) -> list[dict[str, Any]]:
    """Run the dispatch or study once per delay, stopping it after that delay."""
    from gridderms.dispatch.feeder_dispatch import dispatch_feeder
    from gridderms.dispatch.horizon import Horizon
    from gridderms.hosting import run_study
    from solvers.cancel import SolveCancelled, stop_when

    feeder, ders, limits, start_step, start = _setup(name)
    rows = []
    for delay in delays:
        began = time.perf_counter()
        asked: list[float] = []

        def should_stop(delay: float = delay, began: float = began, asked: list = asked) -> bool:
            if time.perf_counter() - began < delay:
                return False
            asked.append(time.perf_counter())
            return True

        row: dict[str, Any] = {"kind": kind, "feeder": name, "what": what, "delay_s": delay}
        try:
            if kind == "dispatch":
                horizon = Horizon(start, size, step)
                row["periods"] = horizon.n_periods
                dispatch_feeder(
                    feeder, ders, horizon, formulation=what, limits=limits,
                    start_step=start_step, should_stop=should_stop,
                )
            else:
                row["window_steps"] = int(size)
                with stop_when(should_stop):
                    run_study(
                        feeder, modes=(what,), timeseries=range(int(size)), jobs=1,
                        managed=False, progress=_progress_checkpoint,
                    )
            row.update(stopped_at="finished before the delay", latency_s=None)
        except SolveCancelled as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-2]
            row.update(
                stopped_at=f"{exc} ({frame.name})",
                latency_s=time.perf_counter() - asked[0],
            )
        row["elapsed_s"] = time.perf_counter() - began
        rows.append(row)
    return rows


def _child(*args: str) -> Any:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(f"{args} failed:\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run every case in a subprocess, print the tables, write the JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few cases only")
    parser.add_argument(
        "--part", choices=["dispatch", "study", "cancel"], action="append", help="only these"
    )
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, *rest = args.one
        if kind == "dispatch":
            out: Any = dispatch_case(rest[0], rest[1], float(rest[2]), int(rest[3]))
        elif kind == "study":
            out = study_case(rest[0], int(rest[1]), rest[2])
        else:
            case = CANCEL_CASES[int(rest[0])]
            out = cancel_case(*case)
        print(json.dumps(out))
        return 0
    dispatches, studies, cancels = [], [], []
    print("dispatch memory: peak RSS growth against the estimate")
    parts = set(args.part or ("dispatch", "study", "cancel"))
    cases = DISPATCH_CASES[:3] if args.quick else DISPATCH_CASES
    for name, formulation, hours, step in cases if "dispatch" in parts else ():
        row = _child("--one", "dispatch", name, formulation, str(hours), str(step))
        if row is None:
            continue
        dispatches.append(row)
        nnz = max((lp["nonzeros"] for lp in row["lps"]), default=0)
        print(
            f"  {name:18} {formulation:19} {row['periods']:5d} periods {row['ders']:4d} DERs "
            f"nnz {nnz:>9,}  growth {row['growth_mb']:6.0f} MB  estimate "
            f"{row['estimate_mb']:6.0f} MB  x{row['ratio']:4.1f}  {row['elapsed_s']:5.1f} s  "
            f"{row['status']}",
            flush=True,
        )
    print("hosting-capacity memory: peak RSS growth against the estimate")
    study_cases = STUDY_CASES[:1] if args.quick else STUDY_CASES
    for name, steps, modes in study_cases if "study" in parts else ():
        row = _child("--one", "study", name, str(steps), modes)
        if row is None:
            continue
        studies.append(row)
        print(
            f"  {name:18} {steps:6d} steps {modes:9} growth {row['growth_mb']:6.0f} MB  "
            f"estimate {row['estimate_mb']:6.0f} MB  x{row['ratio']:4.1f}  "
            f"{row['elapsed_s']:5.1f} s",
            flush=True,
        )
    print("cancellation: where the work stopped and how long it took")
    for position in range(1 if args.quick else len(CANCEL_CASES)) if "cancel" in parts else ():
        rows = _child("--one", "cancel", str(position)) or []
        cancels += rows
        for row in rows:
            latency = "-" if row["latency_s"] is None else f"{row['latency_s']:.3f} s"
            print(
                f"  {row['feeder']:18} {row['what']:19} after {row['delay_s']:4.1f} s: "
                f"latency {latency:>8}  {row['stopped_at']}",
                flush=True,
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    measured = {"dispatch_memory": dispatches, "study_memory": studies, "cancellation": cancels}
    for key, part in (("dispatch_memory", "dispatch"), ("study_memory", "study"),
                      ("cancellation", "cancel")):  # fmt: skip
        if part in parts or key not in stored:
            stored[key] = measured[key]
    stored["benchmark"] = "bounded_work"
    stored["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
    RESULTS.write_text(json.dumps(stored, indent=2))
    above = [r for r in dispatches + studies if r["ratio"] < 1.0]
    print(f"wrote {RESULTS}; {len(above)} case(s) above their estimate")
    return 1 if above else 0


if __name__ == "__main__":
    sys.exit(main())
