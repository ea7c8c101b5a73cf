"""The ``gridderms`` command line.

Commands: ``feeders`` (list built-ins), ``inspect``, ``ders``, ``dispatch``, ``powerflow`` and
``hosting-capacity`` (each of a ``FEEDER``).

Output contract: with ``--json`` standard output is one strict JSON document and nothing else
(non-finite numbers are ``null``; solver banners are kept off it), and so is every JSON file
written with ``--out``. Bad input ends with one line ``gridderms: error: <message>`` on stderr
and exit status 2, never a traceback; a dispatch that cannot meet its limits is a result, not an
error: its diagnosis (or JSON with ``status`` ``"infeasible"``) and exit status 3.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from gridderms.config import Settings
from gridderms.ders import DerError, ders_from_net
from gridderms.ders.inventory import (
    create_default_groups,
    feeder_inventory,
    feeder_names,
    rated_p_mw,
)
from gridderms.dispatch.forecast import forecast_profiles, profile_step, profile_times
from gridderms.dispatch.horizon import Horizon, parse_start
from gridderms.dispatch.service import HeadLimits, dispatch_feeder
from gridderms.hosting import HostingStudy
from gridderms.output import (  # noqa: F401 - EXIT_BAD_INPUT: this command's status for bad input
    EXIT_BAD_INPUT,
    error,
    print_json,
    settings_problem,
    write_json,
)
from gridderms.tables import format_pairs, format_table
from network_models.builtin import BUILTIN_FEEDERS
from network_models.errors import FeederError
from network_models.feeder import Feeder
from network_models.loaders import load_feeder
from network_models.location import FeederLocation, default_location_note, parse_location
from network_models.profiles import FeederProfiles
from solvers.acmodel import cached_ac_model
from solvers.hosting_capacity.limits import StudyLimits
from solvers.hosting_capacity.operating_point import MIN_LOAD_SHARE, check_min_load_share
from solvers.hosting_capacity.refine import Tolerance
from solvers.limits import OperatingLimits
from solvers.opf.dispatch import FORMULATIONS, DispatchResult
from solvers.opf.problem import Objective
from solvers.powerflow import PowerFlowError, PowerFlowResult, run_powerflow
from solvers.timeseries import TimeSeriesResult, run_timeseries

#: a dispatch request that cannot meet its limits (a diagnosis was printed)
EXIT_INFEASIBLE = 3
#: steps of the plain-runpp peer run beside a time series for the speed comparison
COMPARISON_STEPS = 20


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridderms`` console script."""
    _quiet_libraries()
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ValidationError as exc:  # a GRIDDERMS_* environment setting (pydantic-settings)
        return error(settings_problem(exc))
    except (FeederError, PowerFlowError, DerError, ValueError, OSError) as exc:
        return error(str(exc))


def _quiet_libraries() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="pandapower")
    logging.getLogger("pandapower").setLevel(logging.ERROR)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridderms", description="Grid DERMS: feeder models, AC power flow, DER dispatch."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    feeders = commands.add_parser("feeders", help="list the built-in feeders")
    feeders.add_argument("--json", action="store_true", help="print JSON")
    feeders.set_defaults(handler=cmd_feeders)

    inspect = commands.add_parser("inspect", help="describe a feeder: size, topology, DERs")
    inspect.add_argument("feeder", help="built-in name, simbench:CODE, or a .json/.m/.mat file")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    _location_arguments(inspect)
    inspect.set_defaults(handler=cmd_inspect)

    ders = commands.add_parser("ders", help="list a feeder's DERs and their groups")
    ders.add_argument("feeder", help="built-in name, simbench:CODE, or a .json/.m/.mat file")
    ders.add_argument(
        "--der-file",
        action="append",
        default=[],
        help="extra DERs from a .csv or .json DER list (repeatable)",
    )
    ders.add_argument(
        "--group-by",
        choices=["type", "feeder", "tag"],
        default="type",
        help="how to group the DERs (default: type)",
    )
    ders.add_argument("--json", action="store_true", help="print JSON")
    ders.set_defaults(handler=cmd_ders)

    dispatch = commands.add_parser(
        "dispatch", help="dispatch DERs within network limits, verified by AC power flow"
    )
    dispatch.add_argument("feeder", help="built-in name, simbench:CODE, or a .json/.m/.mat file")
    dispatch.add_argument("--horizon-h", type=float, default=24.0, help="horizon [h]")
    dispatch.add_argument("--step-min", type=int, default=15, help="period length [min]")
    dispatch.add_argument(
        "--start",
        default=None,
        help="horizon start: a date-time in the feeder's time zone (2026-06-21T12:00) or with "
        "an offset (2026-06-21T10:00Z); on a feeder with profiles it selects the profile step; "
        "default: now, floored to the step",
    )
    dispatch.add_argument(
        "--start-step",
        type=int,
        default=None,
        help="first profile step (feeders with profiles), instead of --start",
    )
    dispatch.add_argument(
        "--snapshot",
        action="store_true",
        help="every period uses the model as given: loads at their p_mw/q_mvar, each sgen's "
        "p_mw its available power (no forecast)",
    )
    dispatch.add_argument(
        "--cloud-cover",
        default=None,
        metavar="PCT[,PCT...]",
        help="cloud cover [%%] for the PV forecast: one value for every period or one per "
        "period (default: clear sky)",
    )
    _location_arguments(dispatch)
    dispatch.add_argument(
        "--objective",
        default="curtailment",
        help="objective weights, e.g. 'curtailment' or 'curtailment=1,peak=0.1' "
        "(curtailment, peak; cost and track need series from the API)",
    )
    dispatch.add_argument(
        "--formulation",
        choices=list(FORMULATIONS),
        default="lindistflow",
        help="network model: LinDistFlow (radial feeders), linearized-ac (AC sensitivities "
        "from the power-flow Jacobian, limits near binding only; radial or meshed) or "
        "linearized-ac-full (every bus and limit); all are verified and corrected by AC power "
        "flow",
    )
    dispatch.add_argument(
        "--backend",
        choices=["highspy", "pyomo"],
        default="highspy",
        help="how the LP reaches HiGHS: in one call (highspy, default) or as a Pyomo model "
        "through Pyomo's persistent interface (same result, slower to build)",
    )
    dispatch.add_argument(
        "--share-curtailment",
        action="store_true",
        help="curtail every curtailable DER by the same fraction",
    )
    dispatch.add_argument(
        "--der-file",
        action="append",
        default=[],
        help="extra DERs from a .csv or .json DER list (repeatable)",
    )
    dispatch.add_argument("--head-import-max-mw", type=float, default=None)
    dispatch.add_argument("--head-export-max-mw", type=float, default=None)
    dispatch.add_argument("--vm-min-pu", type=float, default=None, help="lower voltage limit")
    dispatch.add_argument("--vm-max-pu", type=float, default=None, help="upper voltage limit")
    dispatch.add_argument(
        "--max-loading-percent", type=float, default=None, help="thermal limit [%%]"
    )
    dispatch.add_argument(
        "--allow-large",
        action="store_true",
        help="lift the service's caps on periods and DERs x periods and allow an estimated "
        "memory of up to half the free memory (default: GRIDDERMS_MAX_DISPATCH_* caps)",
    )
    dispatch.add_argument("--out", default=None, help="directory for schedule CSV and JSON")
    dispatch.add_argument("--json", action="store_true", help="print JSON")
    dispatch.set_defaults(handler=cmd_dispatch)

    powerflow = commands.add_parser("powerflow", help="run an AC power flow")
    powerflow.add_argument("feeder", help="built-in name, simbench:CODE, or a .json/.m/.mat file")
    powerflow.add_argument("--json", action="store_true", help="print JSON")
    powerflow.add_argument(
        "--steps",
        type=int,
        default=None,
        help="time-series power flow over N profile steps (feeders with profiles)",
    )
    powerflow.add_argument(
        "--start",
        default=None,
        help="first profile step (an integer) or a date-time (feeder's time zone, or with an "
        "offset): on a feeder with profiles the step at that time; on one without, loads by "
        "their standard profile and PV by clear sky at that time",
    )
    _location_arguments(powerflow)
    powerflow.add_argument(
        "--backend",
        choices=["lightsim2grid", "pandapower"],
        default="lightsim2grid",
        help="Newton-Raphson of a single power flow: lightsim2grid (C++, no JIT; default) or "
        "pandapower's (numba JIT, ~5 s compile on first use)",
    )
    powerflow.add_argument(
        "--no-compare",
        action="store_true",
        help="with --steps: skip the plain pandapower.runpp peer run used for the speed ratio",
    )
    powerflow.add_argument("--vm-min-pu", type=float, default=None, help="lower voltage limit")
    powerflow.add_argument("--vm-max-pu", type=float, default=None, help="upper voltage limit")
    powerflow.add_argument(
        "--max-loading-percent", type=float, default=None, help="thermal limit [%%]"
    )
    powerflow.set_defaults(handler=cmd_powerflow)

    hosting = commands.add_parser(
        "hosting-capacity",
        help="per-bus hosting capacity for new generation and load, verified by AC power flow",
    )
    hosting.add_argument("feeder", help="built-in name, simbench:CODE, or a .json/.m/.mat file")
    hosting.add_argument(
        "--buses", nargs="+", default=None, help="bus ids, space or comma separated (default: all)"
    )
    hosting.add_argument("--mode", choices=["gen", "load", "both"], default="both")
    hosting.add_argument(
        "--pf",
        type=float,
        default=1.0,
        help="power factor of the new DER/load; > 0 absorbs reactive power (default 1.0)",
    )
    hosting.add_argument(
        "--timeseries",
        default=None,
        help="also per profile step: 'day' (the day of peak generation), a date YYYY-MM-DD, "
        "or 'year' (feeders with profiles)",
    )
    hosting.add_argument(
        "--curtailment-share",
        type=float,
        default=0.05,
        help="with --timeseries: largest share of curtailed energy of a managed DER (0.05)",
    )
    hosting.add_argument(
        "--min-load-share",
        type=float,
        default=MIN_LOAD_SHARE,
        metavar="FRACTION",
        help="operating point for generation hosting capacity: loads at this share of their "
        "set-points, a number in [0, 1] (default 0.25; load hosting capacity: 100 %%); not on "
        "loads with profiles (each at its minimum over the profiles) nor in --timeseries "
        "(every step at its profile values)",
    )
    hosting.add_argument(
        "--tolerance-percent", type=float, default=1.0, help="AC tolerance, relative [%%]"
    )
    hosting.add_argument("--tolerance-mw", type=float, default=0.01, help="AC tolerance [MW]")
    hosting.add_argument("--vm-min-pu", type=float, default=None, help="lower voltage limit")
    hosting.add_argument("--vm-max-pu", type=float, default=None, help="upper voltage limit")
    hosting.add_argument(
        "--max-loading-percent", type=float, default=None, help="thermal limit [%%]"
    )
    hosting.add_argument("--out", default=None, help="directory for CSV, JSON and PNG")
    hosting.add_argument("--json", action="store_true", help="print JSON")
    hosting.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    hosting.set_defaults(handler=cmd_hosting_capacity)
    return parser


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


def profile_start(feeder: Feeder, step: int) -> pd.Timestamp:
    """The UTC time of profile step ``step`` of a feeder with profiles."""
    assert feeder.profiles is not None
    if not 0 <= step < feeder.profiles.n_steps:
        raise ValueError(
            f"--start-step {step} is outside the profiles (0..{feeder.profiles.n_steps - 1})"
        )
    return profile_times(feeder.profiles, feeder.location.tz)[step]


def _location_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--location",
        default=None,
        metavar="LAT,LON[,ALT]",
        help="feeder location [degrees N, degrees E, m] for PV forecasts (default: the model's, "
        "the built-in's region, or a stated default)",
    )
    parser.add_argument(
        "--tz", default=None, help="the feeder's IANA time zone, e.g. Europe/Berlin"
    )


def _load(source: str, args: argparse.Namespace | None = None) -> Feeder:
    """Load a feeder; ``--location`` / ``--tz`` in ``args`` override its location."""
    feeder = load_feeder(source, cache_dir=Settings().cache_dir)
    location_text = getattr(args, "location", None)
    tz = getattr(args, "tz", None)
    if location_text is not None:
        feeder.location = parse_location(location_text, tz or feeder.location.tz)
    elif tz is not None:
        feeder.location = replace(feeder.location, tz=tz, source="user")
    if feeder.location.source == "user":  # the default's note no longer applies
        default_note = default_location_note(feeder.name)
        feeder.notes = tuple(note for note in feeder.notes if note != default_note)
    return feeder


def cmd_feeders(args: argparse.Namespace) -> int:
    """List the built-in feeders with their sizes."""
    rows = []
    for name, builtin in BUILTIN_FEEDERS.items():
        feeder = _load(name)
        counts = feeder.counts()
        steps = feeder.profiles.n_steps if feeder.profiles else 0
        rows.append(
            {"name": name, **counts, "profile_steps": steps, "description": builtin.description}
        )
    if args.json:
        print_json(rows)
        return 0
    headers = ["name", "buses", "lines", "trafos", "loads", "ders", "profile_steps", "description"]
    print(format_table(headers, [[row[h] for h in headers] for row in rows]))
    return 0


def describe_feeder(feeder: Feeder) -> dict[str, object]:
    """Size, voltage levels, topology and DER summary of ``feeder``."""
    net = feeder.net
    topology = feeder.topology()
    ders = ders_from_net(net)
    by_type = Counter(der.der_type for der in ders)
    levels = Counter(float(v) for v in net.bus.vn_kv)
    open_switches = net.switch.index[~net.switch.closed.astype(bool)]
    feeders = topology.feeders()
    return {
        "name": feeder.name,
        "source": feeder.source,
        **feeder.counts(),
        "voltage_levels_kv": {f"{kv:g}": n for kv, n in sorted(levels.items(), reverse=True)},
        "total_load_p_mw": float((net.load.p_mw * net.load.scaling)[net.load.in_service].sum()),
        "total_sgen_p_mw": float((net.sgen.p_mw * net.sgen.scaling)[net.sgen.in_service].sum()),
        "sources": list(topology.source_buses),
        "radial": topology.is_radial,
        "meshes": len(topology.meshes()),
        "islands": len(topology.islands),
        "deenergized_buses": sorted(topology.deenergized_buses),
        # largest first: the source buses' own levels are one-bus "feeders"
        "feeder_heads": {
            str(head): len(buses)
            for head, buses in sorted(feeders.items(), key=lambda item: (-len(item[1]), item[0]))
        },
        "open_switches": [int(s) for s in open_switches],
        "ders_by_type": dict(sorted(by_type.items())),
        "profile_steps": feeder.profiles.n_steps if feeder.profiles else 0,
        "profile_step_minutes": feeder.profiles.step_minutes if feeder.profiles else None,
        "location": feeder.location.to_dict(),
        "validation": "passed",
        "notes": list(feeder.notes),
    }


def _location_text(location: object) -> str:
    assert isinstance(location, dict)
    place = FeederLocation(**location)
    return f"{place.label()}, {place.altitude_m:g} m, {place.tz} ({place.source})"


def cmd_inspect(args: argparse.Namespace) -> int:
    """Describe one feeder."""
    info = describe_feeder(_load(args.feeder, args))
    if args.json:
        print_json(info)
        return 0
    heads = info["feeder_heads"]
    assert isinstance(heads, dict)
    shown_heads = ", ".join(f"bus {h} ({n} buses)" for h, n in list(heads.items())[:8])
    if len(heads) > 8:
        shown_heads += f", ... ({len(heads)} feeders)"
    dead = info["deenergized_buses"]
    assert isinstance(dead, list)
    pairs: list[tuple[str, object]] = [
        ("feeder", info["name"]),
        ("source", info["source"]),
        ("buses / lines / trafos", f"{info['buses']} / {info['lines']} / {info['trafos']}"),
        ("switches (open)", f"{info['switches']} ({len(info['open_switches'])})"),  # type: ignore[arg-type]
        ("voltage levels [kV: buses]", _kv(info["voltage_levels_kv"])),
        ("loads", f"{info['loads']} ({info['total_load_p_mw']:.3f} MW)"),
        ("DERs", f"{info['ders']} ({info['total_sgen_p_mw']:.3f} MW static generation)"),
        (
            "DERs by type",
            ", ".join(f"{k} {v}" for k, v in info["ders_by_type"].items())  # type: ignore[attr-defined]
            or "none",
        ),
        ("sources (ext_grid buses)", _short(info["sources"])),
        (
            "topology",
            f"{'radial' if info['radial'] else 'meshed'}, {info['meshes']} meshes, "
            f"{info['islands']} islands",
        ),
        ("de-energized buses", _short(dead) if dead else "none"),
        ("feeder heads", shown_heads),
        (
            "profiles",
            f"{info['profile_steps']} steps of {info['profile_step_minutes']} min"
            if info["profile_steps"]
            else "none",
        ),
        ("location", _location_text(info["location"])),
        ("validation", info["validation"]),
    ]
    print(format_pairs(pairs))
    for note in info["notes"]:  # type: ignore[attr-defined]
        print(f"note: {note}")
    return 0


def cmd_ders(args: argparse.Namespace) -> int:
    """List a feeder's DERs (model plus DER files) and their groups."""
    feeder = _load(args.feeder)
    registry = feeder_inventory(feeder, args.der_file)
    bus_to_feeder = feeder_names(feeder)
    create_default_groups(registry, args.group_by, bus_to_feeder)
    ders = [
        {
            "der_id": der.der_id,
            "der_type": der.der_type,
            "bus": der.bus,
            "feeder": bus_to_feeder.get(der.bus, "de-energized"),
            "status": der.status,
            "p_rated_mw": rated_p_mw(der),
            "s_rated_mva": der.reactive.s_rated_mva,
            "q_inject_max_mvar": der.reactive.q_inject_max_mvar,
            "q_absorb_max_mvar": der.reactive.q_absorb_max_mvar,
            "name": der.name,
        }
        for der in registry
    ]
    groups = [
        {
            "name": group.name,
            "by": group.by,
            "members": len(group.member_ids),
            "p_rated_mw": sum(rated_p_mw(registry.get(i)) for i in group.member_ids),
        }
        for group in registry.list_groups()
    ]
    if args.json:
        print_json({"feeder": feeder.name, "ders": ders, "groups": groups})
        return 0
    if ders:
        columns = [
            "der_id",
            "der_type",
            "bus",
            "feeder",
            "status",
            "p_rated_mw",
            "s_rated_mva",
            "q_inject_max_mvar",
            "q_absorb_max_mvar",
        ]
        print(format_table(columns, [[d[c] for c in columns] for d in ders]))
    print(f"\n{len(ders)} DERs on {feeder.name}; groups by {args.group_by}:")
    print(
        format_table(
            ["group", "members", "p_rated_mw"],
            [[g["name"], g["members"], g["p_rated_mw"]] for g in groups],
        )
    )
    return 0


def _objective(text: str, share: bool) -> Objective:
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
    feeder = _load(args.feeder, args)
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
    out = _out_dir(args.out)
    result = dispatch_feeder(
        feeder,
        list(registry),
        horizon,
        objective=_objective(args.objective, args.share_curtailment),
        limits=_limits(args),
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


def _kv(levels: object) -> str:
    assert isinstance(levels, dict)
    return ", ".join(f"{kv}: {n}" for kv, n in levels.items())


def _short(values: object, limit: int = 12) -> str:
    assert isinstance(values, list)
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _limits(args: argparse.Namespace) -> OperatingLimits:
    base = Settings().operating_limits()
    return OperatingLimits(
        vm_min_pu=args.vm_min_pu if args.vm_min_pu is not None else base.vm_min_pu,
        vm_max_pu=args.vm_max_pu if args.vm_max_pu is not None else base.vm_max_pu,
        max_loading_percent=args.max_loading_percent
        if args.max_loading_percent is not None
        else base.max_loading_percent,
    )


def cmd_powerflow(args: argparse.Namespace) -> int:
    """Single or time-series AC power flow."""
    limits = _limits(args)
    feeder = _load(args.feeder, args)
    if args.steps is not None or args.start is not None:
        return _timeseries(feeder, args, limits)
    result = run_powerflow(feeder.net, limits=limits, backend=args.backend, name=feeder.name)
    if args.json:
        print_json(result.to_dict())
    else:
        print(format_powerflow(result))
    return 0


def format_powerflow(result: PowerFlowResult) -> str:
    """Readable summary of a single power flow."""
    element = result.max_loading_element
    pairs: list[tuple[str, object]] = [
        ("feeder", result.feeder),
        ("solver", result.backend),
        ("converged", "yes" if result.converged else "no"),
        ("losses", f"{result.losses_mw:.4f} MW, {result.losses_mvar:.4f} MVAr"),
        ("minimum voltage", f"{result.min_vm_pu:.4f} pu at bus {result.min_vm_bus}"),
        ("maximum voltage", f"{result.max_vm_pu:.4f} pu at bus {result.max_vm_bus}"),
        (
            "maximum loading",
            f"{result.max_loading_percent:.1f} % at {element[0]} {element[1]}"
            if element
            else "no branches",
        ),
        (
            "feeder head import",
            f"{result.feeder_head_p_mw:.4f} MW, {result.feeder_head_q_mvar:.4f} MVAr",
        ),
        ("load / generation", f"{result.load_p_mw:.4f} MW / {result.generation_p_mw:.4f} MW"),
        ("power balance mismatch", f"{result.power_balance_mismatch_mw:.2e} MW"),
        (
            "limits",
            f"{result.limits.vm_min_pu}-{result.limits.vm_max_pu} pu, "
            f"{result.limits.max_loading_percent:g} % loading",
        ),
        ("violations", len(result.violations)),
        ("de-energized buses", len(result.deenergized_buses)),
        ("solve time", f"{result.elapsed_s * 1000:.1f} ms"),
    ]
    text = format_pairs(pairs)
    if result.violations:
        worst = sorted(result.violations, key=lambda v: (v.unit, -v.excess))[:10]
        text += "\n\nworst violations:\n" + format_table(
            ["element", "id", "kind", "value", "limit", "unit"],
            [[v.element, v.element_id, v.kind, v.value, v.limit, v.unit] for v in worst],
        )
        if len(result.violations) > len(worst):
            text += f"\n... {len(result.violations) - len(worst)} more (use --json for all)"
    return text


def _timeseries_input(
    feeder: Feeder, args: argparse.Namespace
) -> tuple[FeederProfiles, int, int, str]:
    """(profiles, first step, steps, label) of ``powerflow --steps/--start``."""
    steps = args.steps if args.steps is not None else 1
    if steps < 1:
        raise ValueError(f"--steps must be at least 1, got {steps}")
    text = args.start
    if text is not None and text.strip().lstrip("-").isdigit():
        if feeder.profiles is None:
            raise ValueError(
                f"--start {text} is a profile step, but feeder '{feeder.name}' has no profiles: "
                f"give a date-time"
            )
        return feeder.profiles, int(text), steps, f"from step {int(text)}"
    if feeder.profiles is not None:
        if text is None:
            return feeder.profiles, 0, steps, "from step 0"
        start = parse_start(text, feeder.location.tz, feeder.profiles.step_minutes)
        step = profile_step(feeder, start, steps)
        local = start.tz_convert(feeder.location.tz)
        return feeder.profiles, step, steps, f"from step {step} ({local:%Y-%m-%d %H:%M %Z})"
    if text is None:
        raise ValueError(
            f"feeder '{feeder.name}' has no load/generation profiles: give --start DATE-TIME "
            f"for a time series of its forecast (standard load profiles, clear-sky PV)"
        )
    start = parse_start(text, feeder.location.tz, 15)
    horizon = Horizon(start, steps * 0.25, 15)
    profiles, forecast = forecast_profiles(feeder, ders_from_net(feeder.net), horizon)
    local = start.tz_convert(feeder.location.tz)
    label = f"of the forecast from {local:%Y-%m-%d %H:%M %Z} ({forecast.load_source})"
    return profiles, 0, steps, label


def _timeseries(feeder: Feeder, args: argparse.Namespace, limits: OperatingLimits) -> int:
    profiles, first, steps, label = _timeseries_input(feeder, args)
    result = run_timeseries(
        feeder.net,
        profiles,
        steps=steps,
        start=first,
        limits=limits,
        name=feeder.name,
        model=cached_ac_model(feeder),
    )
    summary = result.summary()
    peer: TimeSeriesResult | None = None
    if not args.no_compare:
        peer = run_timeseries(
            feeder.net,
            profiles,
            steps=min(steps, COMPARISON_STEPS),
            start=first,
            limits=limits,
            method="runpp",
            backend="lightsim2grid",
            name=feeder.name,
        )
        summary["peer"] = {
            "method": peer.method,
            "solver": peer.solver,
            "n_steps": peer.n_steps,
            "steps_per_second": peer.steps_per_second,
            "speedup": result.steps_per_second / peer.steps_per_second,
        }
    if args.json:
        print_json(summary)
        return 0
    pairs: list[tuple[str, object]] = [
        ("feeder", feeder.name),
        ("steps", f"{result.n_steps} x {profiles.step_minutes} min {label}"),
        ("method", result.method),
        ("solver", result.solver),
        ("set-up (one conversion)", f"{result.setup_s * 1000:.1f} ms"),
        (
            "solve, all steps",
            f"{result.solve_s * 1000:.1f} ms "
            f"({result.steps_per_second:,.0f} steps/s, "
            f"{summary['mean_iterations']:.2f} NR iterations/step)",
        ),
    ]
    if peer is not None:
        pairs.append(
            (
                "plain runpp per step",
                f"{peer.steps_per_second:,.1f} steps/s over {peer.n_steps} steps "
                f"({peer.solver}); fast path is "
                f"{result.steps_per_second / peer.steps_per_second:,.0f}x faster",
            )
        )
    pairs += [
        ("voltage range", f"{summary['min_vm_pu']:.4f} - {summary['max_vm_pu']:.4f} pu"),
        ("maximum loading", f"{summary['max_loading_percent']:.1f} %"),
        ("energy losses", f"{summary['energy_losses_mwh']:.4f} MWh"),
        ("steps with violations", summary["steps_with_violations"]),
    ]
    print(format_pairs(pairs))
    worst = result.worst_violations()[:10]
    if worst:
        print("\nworst violation per element:")
        print(
            format_table(
                ["element", "id", "kind", "value", "limit", "unit", "step"],
                [
                    [v.element, v.element_id, v.kind, v.value, v.limit, v.unit, v.step]
                    for v in worst
                ],
            )
        )
    return 0


def _out_dir(text: str | None) -> Path | None:
    """``--out`` as a directory, created now: a bad path fails before the computation."""
    if text is None:
        return None
    out = Path(text).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"--out {text} is a file, not a directory: give a directory for the outputs"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"--out {text}: cannot create the directory ({exc.strerror or exc}): give a writable "
            f"directory"
        ) from None
    return out


def _bus_ids(values: Sequence[str] | None) -> list[int] | None:
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
    limits = StudyLimits(defaults=_limits(args), use_bus_limits=all(v is None for v in overrides))
    feeder = _load(args.feeder)
    out = _out_dir(args.out)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
