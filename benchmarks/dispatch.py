"""Dispatch benchmark: build, solve (HiGHS), AC-verify and total time, peak memory.

Cases (each run in its own process, so the peak memory is that case's):

``baran-wu-runopp``       Baran-Wu (33 buses) with PV, one period, against pandapower's
                          ``runopp`` on the same problem
``mv-rural-1p``           SimBench MV rural (~100 buses, one DER per bus), one period, both
                          formulations; ``runopp`` attempted on the same problem
``mv-rural-96p``          the same with 10 batteries added, 96 x 15 min periods (LinDistFlow)
``schutterwald-1p``       LV Schutterwald (2,940 buses, meshed, 14 substations), one PV per
                          load bus (1,506 DERs), one period (linearised AC)
``schutterwald-10k``      the same feeder with 10,000 small PV (~1.3 kW each, ~6.5 MW)
``schutterwald-10k-96p``  the 10,000 PV plus 150 batteries over 96 x 15 min periods
``mvlv-rural-5k-1p``      SimBench MV/LV rural (5,479 buses, 1 MV + 100+ LV grids), one PV
                          per load bus plus its own 581 generators (5,954 DERs), one period
``mvlv-rural-5k-96p``     the same with 100 batteries over 96 x 15 min periods (only with
                          ``--case``: the network behind one source is one 5,479-bus zone, so
                          the LP takes the full form and the envelopes a dense 5k x 6k
                          sensitivity block per period; estimated over an hour)

Also reported: the ratio of total time to HiGHS's own solve time, and a persistent re-solve
after a bound change against the first solve. Prints a table, writes
``benchmarks/results/dispatch.json``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import print_header
from payloads import battery_storage, pv_system

RESULTS = Path(__file__).parent / "results" / "dispatch.json"
CASES = (
    "baran-wu-runopp",
    "mv-rural-1p",
    "mv-rural-96p",
    "schutterwald-1p",
    "schutterwald-10k",
    "schutterwald-10k-96p",
    "mvlv-rural-5k-1p",
)
#: cases run only when named with --case: too slow for a routine run (see the README)
SLOW_CASES = ("mvlv-rural-5k-96p",)
#: 21 June in SimBench's 2016 profiles [15-min steps]
MIDSUMMER_STEP = 96 * 172


def _runopp_attempt(feeder, ders, step: int, limits) -> dict:
    """pandapower ``runopp`` on the same single-period problem: loads at ``step``, every
    generator a controllable site with its available power and Q box."""
    from solvers.opf.reference import GeneratorSite, runopp_max_generation_mw

    net = copy.deepcopy(feeder.net)
    values = feeder.profiles.values
    net.load["p_mw"] = values[("load", "p_mw")].iloc[step].to_numpy()
    net.load["q_mvar"] = values[("load", "q_mvar")].iloc[step].to_numpy()
    available = values[("sgen", "p_mw")].iloc[step]
    sites = [
        GeneratorSite(
            d.bus,
            float(available[d.source_element[1]]),
            -d.reactive.q_absorb_max_mvar,
            d.reactive.q_inject_max_mvar,
        )
        for d in ders
        if d.source_element and d.source_element[0] == "sgen"
    ]
    net.sgen["in_service"] = False
    start = time.perf_counter()
    try:
        pv_mw = runopp_max_generation_mw(
            net,
            sites,
            vm_min_pu=limits.vm_min_pu,
            vm_max_pu=limits.vm_max_pu,
            max_loading_percent=limits.max_loading_percent,
        )
        outcome = {"runopp_pv_mw": pv_mw, "runopp_status": "converged"}
    except RuntimeError as exc:
        outcome = {"runopp_status": str(exc).splitlines()[0][:120]}
    outcome["runopp_attempt_s"] = time.perf_counter() - start
    return outcome


def run_case(name: str, repeats: int) -> dict:
    """One case in this process; returns its measurements."""
    from gridderms.ders.inventory import feeder_inventory
    from gridderms.dispatch.feeder_dispatch import dispatch_feeder as dispatch_service
    from gridderms.dispatch.horizon import Horizon
    from network_models.loaders import load_feeder
    from solvers.limits import OperatingLimits

    walls: list[float] = []

    def dispatch_feeder(*args, **kwargs):  # the service call, timed end to end
        start = time.perf_counter()
        result = dispatch_service(*args, **kwargs)
        walls.append(time.perf_counter() - start)
        return result

    def repeated(times: int, *args, **kwargs) -> list:  # the same dispatch ``times`` times
        return [dispatch_feeder(*args, **kwargs) for _ in range(times)]

    noon = Horizon(pd.Timestamp("2026-06-21 12:00"), 1, 60)
    # the machine's 1-min load average when the case started: other jobs inflate the times
    row: dict = {"case": name, "load_average_1min": __import__("os").getloadavg()[0]}
    if name == "baran-wu-runopp":
        from solvers.opf.reference import GeneratorSite, runopp_max_generation_mw

        feeder = load_feeder("baran-wu-33")
        # runopp has no power-factor limit: relax ours (pf_min 0.05) for the same problem
        ders = [
            pv_system(f"pv-{b}", b, p, 1.05, "A", pf_min=0.05)
            for b, p in ((17, 3.5), (32, 3.5), (24, 0.5))
        ]
        limits = OperatingLimits(0.90, 1.03, 100.0)
        runs = repeated(repeats, feeder, ders, noon, limits=limits, formulation="linearized-ac")
        share = float(np.sin(np.pi * 6.5 / 12.0))
        sites = [
            GeneratorSite(
                d.bus,
                d.p_available_mw * share,
                -d.reactive.q_absorb_max_mvar,
                d.reactive.q_inject_max_mvar,
            )
            for d in ders
        ]
        peer_times, peer_pv = [], 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            peer_pv = runopp_max_generation_mw(
                feeder.net, sites, vm_min_pu=0.90, vm_max_pu=1.03, load_scaling=0.6
            )
            peer_times.append(time.perf_counter() - start)
        row["runopp_total_s"] = statistics.median(peer_times[1:] or peer_times)
        row["runopp_pv_mw"] = peer_pv
        row["ours_pv_mw"] = float(runs[-1].schedule.p_mw.sum())
    elif name.startswith("mv-rural"):
        feeder = load_feeder("1-MV-rural--0-sw")
        ders = [d.model_copy(update={"curtailable": True}) for d in feeder_inventory(feeder)]
        start_step = 96 * 172  # 21 June
        if name == "mv-rural-1p":
            horizon = Horizon(pd.Timestamp("2016-06-21 12:00"), 0.25, 15)
            start_step += 48
            limits = OperatingLimits(0.95, 1.03, 80.0)
        else:
            buses = feeder.net.load.bus.to_numpy()[::10]
            ders += [battery_storage(f"bat-{b}", int(b)) for b in buses]
            horizon = Horizon(pd.Timestamp("2016-06-21"), 24, 15)
            limits = OperatingLimits(0.95, 1.03, 80.0)
        formulation = "linearized-ac" if name == "mv-rural-1p" else "lindistflow"
        again = functools.partial(
            repeated, repeats, feeder, ders, horizon, limits=limits, start_step=start_step
        )
        runs = again(formulation=formulation)
        if name == "mv-rural-1p":
            ldf = again(formulation="lindistflow")
            row["lindistflow_total_s"] = statistics.median(r.total_s for r in ldf)
            row["lindistflow_curtailed_mwh"] = ldf[-1].curtailed_mwh
            row.update(_runopp_attempt(feeder, ders, start_step, limits))
    elif name.startswith("schutterwald"):
        feeder = load_feeder("lv-schutterwald")
        rng = np.random.default_rng(1)
        buses = feeder.net.load.bus.to_numpy()
        if name == "schutterwald-1p":
            ders = [pv_system(f"pv-{b}", int(b), float(rng.uniform(2e-3, 6e-3))) for b in buses]
        else:
            ders = [
                pv_system(f"pv-{i}", int(buses[i % len(buses)]), float(rng.uniform(3e-4, 9e-4)))
                for i in range(10_000)
            ]
        horizon = noon
        if name.endswith("96p"):
            ders += [battery_storage(f"bat-{b}", int(b), 0.005) for b in buses[::10]]
            horizon = Horizon(pd.Timestamp("2026-06-21"), 24, 15)
        limits = OperatingLimits(0.90, 1.05, 100.0)
        times = 1 if name.endswith("96p") else max(1, repeats // 2 + 1)
        runs = repeated(times, feeder, ders, horizon, limits=limits, formulation="linearized-ac")
    else:  # mvlv-rural-5k
        from network_models.builtin import simbench_feeder
        from network_models.feeder import Feeder

        code = "1-MVLV-rural-all-0-sw"
        net, profiles, _ = simbench_feeder(code, slice(MIDSUMMER_STEP, MIDSUMMER_STEP + 96))
        feeder = Feeder(code, f"simbench:{code}", net, profiles)
        rng = np.random.default_rng(2)
        buses = feeder.net.load.bus.to_numpy()
        ders = [d.model_copy(update={"curtailable": True}) for d in feeder_inventory(feeder)]
        ders += [
            pv_system(f"pv-{i}", int(b), float(rng.uniform(3e-3, 9e-3)))
            for i, b in enumerate(buses)
        ]
        horizon = Horizon(pd.Timestamp("2016-06-21 12:00"), 0.25, 15)
        start_step = 48
        if name.endswith("96p"):
            ders += [battery_storage(f"bat-{i}", int(b), 0.01) for i, b in enumerate(buses[::50])]
            horizon = Horizon(pd.Timestamp("2016-06-21"), 24, 15)
            start_step = 0
        limits = OperatingLimits(0.92, 1.05, 100.0)
        times = 1 if name.endswith("96p") else max(1, repeats // 2 + 1)
        runs = repeated(
            times,
            feeder,
            ders,
            horizon,
            limits=limits,
            start_step=start_step,
            formulation="linearized-ac",
        )
    last = runs[-1]
    row.update(
        {
            "ders": len(ders),
            "buses": len(feeder.net.bus),
            "periods": int(last.network.shape[0]) if len(last.network) else None,
            "formulation": last.formulation,
            "status": last.status,
            "ac_feasible": last.ac_feasible,
            "ac_violations": [str(v) for v in last.ac_violations[:3]],
            "iterations": last.iterations,
            "curtailed_mwh": last.curtailed_mwh,
            "build_s": statistics.median(r.build_s for r in runs),
            "solve_s": statistics.median(r.solve_s for r in runs),
            "verify_s": statistics.median(r.verify_s for r in runs),
            "total_s": statistics.median(r.total_s for r in runs),
            # with the service around it: DER elements attached, forecast and fleet built
            "wall_s": statistics.median(walls[: len(runs)]),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
    row["total_over_solve"] = row["total_s"] / row["solve_s"] if row["solve_s"] else None
    return row


def resolve_ratio() -> dict:
    """A persistent re-solve after a row-bound change versus the first solve (HiGHS time)."""
    from gridderms.ders.inventory import feeder_inventory
    from gridderms.dispatch.fleet import attach_elements, build_fleet
    from gridderms.dispatch.forecast import build_forecast
    from gridderms.dispatch.horizon import Horizon
    from network_models.loaders import load_feeder
    from solvers.acmodel import cached_ac_model
    from solvers.limits import DispatchLimits
    from solvers.lp.highs import HighsModel
    from solvers.lp.pyomo import PyomoHighsModel
    from solvers.opf.ac_points import fixed_injection_pu
    from solvers.opf.build import build_problem
    from solvers.opf.formulation import make_formulation
    from solvers.opf.network import branch_ratings
    from solvers.opf.objective import Objective
    from solvers.opf.request import DispatchRequest

    feeder = load_feeder("1-MV-rural--0-sw")
    ders = [d.model_copy(update={"curtailable": True}) for d in feeder_inventory(feeder)]
    horizon = Horizon(pd.Timestamp("2016-06-21"), 24, 15)
    elements = attach_elements(feeder.net, ders)
    forecast = build_forecast(feeder, ders, elements, horizon, start_step=96 * 172)
    fleet = build_fleet(ders, elements, forecast, horizon)
    limits = DispatchLimits(0.95, 1.03, 80.0, np.full(96, np.inf), np.full(96, np.inf))
    request = DispatchRequest(fleet, forecast.profiles, limits, Objective(), horizon.dt_h)
    model = cached_ac_model(feeder)
    der_row = model.bus_lookup[fleet.bus]
    formulation = make_formulation(
        "lindistflow",
        model,
        branch_ratings(model, feeder.net),
        fixed_injection_pu(model, request),
        der_row,
        limits,
    )
    start = time.perf_counter()
    lp, _ = build_problem(request, formulation)
    build = time.perf_counter() - start
    band = lp.rows["constraint_voltage_band"].index()
    lower, upper = formulation._voltage_band_bounds()
    row = {
        "case": "mv-rural-96p persistent re-solve",
        "rows": lp.n_rows,
        "cols": lp.n_cols,
        "build_s": build,
    }
    for name, backend in (("highspy", HighsModel), ("pyomo", PyomoHighsModel)):
        start = time.perf_counter()
        solver = backend(lp)
        interface = time.perf_counter() - start
        start = time.perf_counter()
        first = solver.solve()
        first_wall = time.perf_counter() - start
        solver.set_row_bounds(band, lower, upper - 0.002)  # tighten the band by ~0.001 pu
        start = time.perf_counter()
        solver.solve()
        second_wall = time.perf_counter() - start
        row[name] = {
            "model_s": interface,
            "first_solve_wall_s": first_wall,
            "first_solve_highs_s": first.solve_s if name == "highspy" else None,
            "resolve_wall_s": second_wall,
        }
    highs_solve = row["highspy"]["first_solve_highs_s"]
    for name in ("highspy", "pyomo"):
        part = row[name]
        part["total_over_highs_solve"] = (
            build + part["model_s"] + part["first_solve_wall_s"]
        ) / highs_solve
        part["resolve_over_first_solve"] = part["resolve_wall_s"] / highs_solve
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", choices=CASES + SLOW_CASES, help="run one case in this process and print it"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=CASES + SLOW_CASES,
        help="re-run these cases only; the other rows and the re-solve come from the last JSON",
    )
    parser.add_argument("--resolve", action="store_true", help="internal")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats)))
        return
    if args.resolve:
        print(json.dumps(resolve_ratio()))
        return
    previous = json.loads(RESULTS.read_text()) if args.only and RESULTS.exists() else {}
    kept = {row["case"]: row for row in previous.get("results", [])}
    rows = []
    for case in args.only or CASES:
        done = subprocess.run(
            [sys.executable, __file__, "--case", case, "--repeats", str(args.repeats)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            rows.append({"case": case, "error": done.stderr.strip().splitlines()[-1]})
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.only:
        fresh = {row["case"]: row for row in rows}
        rows = [fresh.get(case, kept.get(case)) for case in (*CASES, *SLOW_CASES)]
        rows = [row for row in rows if row is not None]
        resolve = previous.get("persistent_resolve", {"error": "not measured"})
    else:
        done = subprocess.run(
            [sys.executable, __file__, "--resolve"], capture_output=True, text=True, check=False
        )
        resolve = (
            json.loads(done.stdout.strip().splitlines()[-1])
            if not done.returncode
            else {"error": done.stderr.strip().splitlines()[-1]}
        )
    header = (
        f"{'case':<22}{'DERs':>7}{'buses':>7}{'T':>4}{'form':>15}{'AC ok':>7}{'it':>4}"
        f"{'build s':>9}{'solve s':>9}{'verify s':>9}{'total s':>9}{'wall s':>8}{'tot/solve':>10}"
        f"{'RSS MB':>8}"
    )
    print_header(header)
    for r in rows:
        if "error" in r:
            print(f"{r['case']:<22} error: {r['error']}")
            continue
        print(
            f"{r['case']:<22}{r['ders']:>7}{r['buses']:>7}{r['periods'] or 0:>4}"
            f"{r['formulation']:>15}{r['ac_feasible']!s:>7}{r['iterations']:>4}"
            f"{r['build_s']:>9.3f}{r['solve_s']:>9.3f}{r['verify_s']:>9.3f}{r['total_s']:>9.3f}"
            f"{r['wall_s']:>8.2f}"
            f"{r['total_over_solve'] or 0:>10.2f}{r['peak_rss_mb']:>8.0f}"
        )
    for r in rows:
        if "runopp_total_s" in r:
            print(
                f"\n{r['case']}: ours {r['total_s']:.3f} s ({r['ours_pv_mw']:.4f} MW PV) vs "
                f"runopp {r['runopp_total_s']:.3f} s ({r['runopp_pv_mw']:.4f} MW PV): "
                f"{r['runopp_total_s'] / r['total_s']:.1f}x faster"
            )
        if "runopp_status" in r and "runopp_total_s" not in r:
            print(
                f"{r['case']}: pandapower runopp on the same problem: {r['runopp_status']} "
                f"after {r['runopp_attempt_s']:.1f} s"
                + (f" ({r['runopp_pv_mw']:.4f} MW)" if "runopp_pv_mw" in r else "")
            )
        if "lindistflow_total_s" in r:
            print(
                f"{r['case']}: LinDistFlow {r['lindistflow_total_s']:.3f} s, curtailed "
                f"{r['lindistflow_curtailed_mwh']:.4f} MWh vs linearised AC "
                f"{r['curtailed_mwh']:.4f} MWh"
            )
        if r.get("ac_violations"):
            print(f"{r['case']}: AC violations left: {r['ac_violations']}")
    if "error" not in resolve:
        print(
            f"\npersistent re-solve, {resolve['rows']} rows x {resolve['cols']} cols "
            f"(build {resolve['build_s']:.3f} s):"
        )
        for name in ("highspy", "pyomo"):
            part = resolve[name]
            print(
                f"  {name:<8} model {part['model_s']:7.3f} s, first solve "
                f"{part['first_solve_wall_s']:7.3f} s, re-solve after a band change "
                f"{part['resolve_wall_s']:6.3f} s; (build + model + solve) / HiGHS solve = "
                f"{part['total_over_highs_solve']:.2f}, re-solve / solve = "
                f"{part['resolve_over_first_solve']:.2f}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "dispatch",
                "machine": {
                    "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count(),
                },
                "settings": vars(args),
                "results": rows,
                "persistent_resolve": resolve,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
