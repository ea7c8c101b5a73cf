"""``gridderms hosting-capacity FEEDER``: per-bus hosting capacity for new generation and load
(static worst case, optionally per profile step and managed), files with ``--out``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gridderms.cli.inputs import feeder_from, operating_limits, out_dir
from gridderms.cli.tables import format_pairs, format_table
from gridderms.hosting import HostingStudy
from gridderms.output import print_json
from solvers.hosting_capacity.operating_point import check_min_load_share
from solvers.hosting_capacity.refine import Tolerance
from solvers.limits import StudyLimits


def _bus_ids(values: Sequence[str] | None) -> list[int] | None:
    """``--buses`` (space or comma separated) as bus ids; ``None``: every bus."""
    if values is None:
        return None
    buses = []
    for part in (p.strip() for value in values for p in value.split(",")):
        if not part:
            continue
        try:
            buses.append(int(part))
        except ValueError as exc:
            raise ValueError(f"bus id '{part}' is not an integer") from exc
    return buses


def cmd_hosting_capacity(args: argparse.Namespace) -> int:
    """Per-bus hosting capacity (static worst case; optionally per profile step, managed)."""
    from gridderms.hosting import TextProgress, run_study, write_outputs

    min_load_share = check_min_load_share(args.min_load_share, "--min-load-share")
    overrides = (args.vm_min_pu, args.vm_max_pu, args.max_loading_percent)
    limits = StudyLimits(
        defaults=operating_limits(args), use_bus_limits=all(v is None for v in overrides)
    )
    feeder = feeder_from(args.feeder)
    out = out_dir(args.out)
    study = run_study(
        feeder,
        buses=_bus_ids(args.buses),
        modes=("gen", "load") if args.mode == "both" else (args.mode,),
        pf=args.pf,
        limits=limits,
        tolerance=Tolerance(args.tolerance_percent / 100.0, args.tolerance_mw),
        timeseries=args.timeseries,
        curtailment_share=args.curtailment_share,
        progress=None if args.no_progress else TextProgress(),
        min_load_share=min_load_share,
    )
    written = write_outputs(study, out) if out is not None else []
    if args.json:
        print_json(study.to_dict())
        return 0
    print(format_hosting_capacity(study, written))
    return 0


def format_hosting_capacity(study: HostingStudy, written: Sequence[Path] = ()) -> str:
    """Readable summary and table of a hosting-capacity study."""
    result = study.static
    table = result.table
    times = result.times_s
    pairs: list[tuple[str, object]] = [
        ("feeder", result.feeder),
        ("buses", f"{len(table)} ({result.counts['components']} source-connected components)"),
        ("power factor", f"{result.pf:g}"),
        ("limits", result.limits),
        ("operating point", study.operating_point),
        *[(f"operating point ({m})", text) for m, text in result.operating_points.items()],
        (
            "method",
            "LP on the linearised AC model per bus (HiGHS, one persistent model per component),"
            f" refined by AC power flow to max({result.tolerance.relative:.0%}, "
            f"{result.tolerance.absolute_mw * 1e3:g} kW)",
        ),
        (
            "work",
            f"{result.counts['lp_solves']} LP solves, {result.counts['ac_power_flows']} AC power "
            f"flows",
        ),
        (
            "times",
            f"set-up {times['compile']:.1f} s, LP {times['lp']:.1f} s, AC {times['ac']:.1f} s, "
            f"total {times['total']:.1f} s",
        ),
    ]
    for mode, notes in result.relaxed_limits.items():
        if notes:
            pairs.append(
                (
                    f"already violated ({mode})",
                    f"{len(notes)} limits may not get worse, e.g. {notes[0]}",
                )
            )
    text = format_pairs(pairs)
    columns = ["bus", "feeder"]
    for mode in result.modes:
        columns += [f"hc_{mode}_mw", f"binding_{mode}"]
    frame = table.reset_index()
    shown = frame
    note = ""
    if len(frame) > 40:
        key = f"hc_{result.modes[0]}_mw"
        shown = frame.sort_values(key).head(20)
        note = f"\n... the 20 buses with the lowest {key} of {len(frame)} (all: --out or --json)"
    rows = [[row[c] for c in columns] for row in shown.to_dict("records")]
    text += "\n\n" + format_table(columns, rows) + note
    for summary in study.summaries():
        text += "\n" + summary
    for path in written:
        text += f"\nwrote {path}"
    return text
