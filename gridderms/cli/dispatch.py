"""``gridderms dispatch FEEDER``: DERs dispatched within network limits, verified by AC power
flow; the schedule summary, ``--json`` or files with ``--out``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import pandas as pd

from gridderms.cli.inputs import feeder_from, operating_limits, out_dir, profile_start
from gridderms.cli.tables import format_pairs
from gridderms.ders.inventory import feeder_inventory
from gridderms.dispatch.feeder_dispatch import dispatch_feeder
from gridderms.dispatch.horizon import Horizon, parse_start
from gridderms.output import print_json, write_json
from solvers.limits import HeadLimits
from solvers.opf.objective import Objective
from solvers.opf.request import DispatchResult

#: a dispatch request that cannot meet its limits (a diagnosis was printed)
EXIT_INFEASIBLE = 3


def _cloud_cover(text: str | None, n_periods: int) -> list[float] | None:
    """``--cloud-cover`` as one value per period [%]."""
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError as exc:
        raise ValueError(f"--cloud-cover must be numbers in percent, got {text!r}") from exc
    if len(values) == 1:
        values *= n_periods
    if len(values) != n_periods:
        raise ValueError(
            f"--cloud-cover has {len(values)} values; give one, or one per period ({n_periods})"
        )
    bad = [v for v in values if not (0.0 <= v <= 100.0)]  # NaN fails too
    if bad:
        raise ValueError(f"--cloud-cover values must be within 0..100 %, got {bad[0]}")
    return values


def _objective(text: str, share: bool) -> Objective:
    """``--objective`` (``name[=weight],...``) and ``--share-curtailment`` as an objective."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            weights[name] = float(value) if value else 1.0
        except ValueError as exc:
            raise ValueError(f"objective weight '{part}' is not a number") from exc
    unsupported = set(weights) - {"curtailment", "peak"}
    if unsupported:
        raise ValueError(
            f"objective(s) {sorted(unsupported)} need a price or target series: use the API; "
            f"the command line takes curtailment and peak"
        )
    return Objective(weights=weights, share_curtailment=share)


def cmd_dispatch(args: argparse.Namespace) -> int:
    """Dispatch a feeder's DERs and print the verified schedule summary."""
    feeder = feeder_from(args.feeder, args)
    registry = feeder_inventory(feeder, args.der_file)
    if args.start_step is not None and args.start is not None:
        raise ValueError("give --start or --start-step, not both")
    if args.start_step is not None:
        if feeder.profiles is None:
            raise ValueError(
                f"--start-step needs a feeder with profiles; '{feeder.name}' has none: use --start"
            )
        start = profile_start(feeder, args.start_step)
    else:
        start = parse_start(args.start, feeder.location.tz, args.step_min)
    horizon = Horizon(start, args.horizon_h, args.step_min)
    from gridderms.service.budget import check_local_dispatch  # bounded work

    check_local_dispatch(
        feeder, len(registry), args.formulation, horizon.n_periods, allow_large=args.allow_large
    )
    out = out_dir(args.out)
    result = dispatch_feeder(
        feeder,
        list(registry),
        horizon,
        objective=_objective(args.objective, args.share_curtailment),
        limits=operating_limits(args),
        head=HeadLimits(args.head_import_max_mw, args.head_export_max_mw),
        start_step=args.start_step,
        snapshot=args.snapshot,
        cloud_cover_percent=_cloud_cover(args.cloud_cover, horizon.n_periods),
        formulation=args.formulation,
        backend=args.backend,
    )
    summary = result.summary()
    if out is not None:
        result.schedule.to_csv(out / "schedule.csv", index=False)
        result.network.to_csv(out / "network.csv", index_label="period")
        write_json(
            out / "dispatch.json", {**summary, "schedule": result.schedule.to_dict("records")}
        )
    if args.json:
        print_json(summary)
        return 0 if result.status == "optimal" else EXIT_INFEASIBLE
    for note in result.notes:
        print(f"note: {note}")
    print(format_dispatch(feeder.name, horizon, len(registry), result, feeder.location.tz))
    return 0 if result.status == "optimal" else EXIT_INFEASIBLE


def format_dispatch(
    name: str, horizon: Horizon, n_ders: int, result: DispatchResult, tz: str = "UTC"
) -> str:
    """Readable summary of a dispatch (times in ``tz``)."""
    times = result.summary()["times_s"]
    assert isinstance(times, dict)
    timing = (
        f"build {times['build'] * 1e3:.0f} ms, solve {times['solve'] * 1e3:.0f} ms, "
        f"AC verify {times['verify'] * 1e3:.0f} ms, total {times['total'] * 1e3:.0f} ms"
    )
    starts = horizon.period_starts()
    head: list[tuple[str, object]] = [
        ("feeder", name),
        ("DERs", n_ders),
        (
            "horizon",
            f"{horizon.n_periods} x {horizon.step_minutes} min from "
            f"{starts[0].tz_convert(tz):%Y-%m-%d %H:%M} {tz} ({starts[0]:%H:%M} UTC)",
        ),
        ("formulation", result.formulation),
        ("status", result.status),
    ]
    forecast = result.forecast or {}
    if forecast:
        sources = forecast.get("der_sources") or {}
        assert isinstance(sources, dict)
        head.append(("load forecast", forecast.get("load_source")))
        head.append(
            (
                "DER availability",
                "; ".join(f"{source} ({count} DERs)" for source, count in sources.items())
                or "no PV or generators",
            )
        )
        available = forecast.get("available_der_mw") or []
        assert isinstance(available, list)
        head.append(("available DER power", _series_mw(available, starts, tz)))
    if result.status != "optimal":
        lines = [
            format_pairs([*head, ("times", timing)]),
            "\nno schedule: these limits must give (largest first):",
        ]
        lines += [f"  {relaxation}" for relaxation in result.diagnosis[:15]]
        if len(result.diagnosis) > 15:
            lines.append(f"  ... {len(result.diagnosis) - 15} more (use --json)")
        return "\n".join(lines)
    network = result.network
    pairs = [
        *head,
        (
            "AC check",
            "within limits"
            if result.ac_feasible
            else f"{len(result.ac_violations)} violations remain",
        ),
        ("AC iterations", result.iterations),
        ("objective", f"{result.objective_value:.4f}"),
        ("curtailed energy", f"{result.curtailed_mwh:.4f} MWh"),
        ("voltage range (AC)", f"{network.min_vm_pu.min():.4f} - {network.max_vm_pu.max():.4f} pu"),
        ("worst loading (AC)", f"{network.max_loading_percent.max():.1f} %"),
        (
            "feeder head (AC)",
            f"{network.feeder_head_p_mw.min():.3f} .. {network.feeder_head_p_mw.max():.3f} MW",
        ),
        ("times", timing),
    ]
    text = format_pairs(pairs)
    for violation in result.ac_violations[:10]:
        text += f"\n  AC violation: {violation}"
    return text


def _series_mw(values: Sequence[float], starts: pd.DatetimeIndex, tz: str) -> str:
    """``HH:MM v`` per period [MW] (at most 8 shown, evenly spread)."""
    if not len(values):
        return "-"
    n = len(values)
    picks = sorted({round(i * (n - 1) / 7) for i in range(8)}) if n > 8 else list(range(n))
    text = ", ".join(f"{starts[i].tz_convert(tz):%H:%M} {values[i]:.3f}" for i in picks)
    return f"{text} MW" + (f" ({n} periods; --json for all)" if n > 8 else "")
