"""The ``gridderms`` argument parser: one sub-command per command module."""

from __future__ import annotations

import argparse
from importlib.metadata import entry_points

from gridderms.cli.ders import cmd_ders
from gridderms.cli.dispatch import cmd_dispatch
from gridderms.cli.feeders import cmd_feeders, cmd_inspect
from gridderms.cli.hosting_capacity import cmd_hosting_capacity
from gridderms.cli.powerflow import cmd_powerflow
from solvers.hosting_capacity.operating_point import MIN_LOAD_SHARE
from solvers.opf.names import FORMULATIONS


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``gridderms``: each sub-command sets ``handler``, its ``cmd_*`` function.

    Returns
    -------
    argparse.ArgumentParser
        ``parse_args`` gives a namespace whose ``handler(args)`` returns the exit status.
    """
    parser = argparse.ArgumentParser(
        prog="gridderms", description="Grid DERMS: feeder models, AC power flow, DER dispatch."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_plugins(commands)

    feeders = commands.add_parser("feeders", help="list the built-in feeders")
    feeders.add_argument("--json", action="store_true", help="print JSON")
    feeders.set_defaults(handler=cmd_feeders)

    inspect = commands.add_parser("inspect", help="describe a feeder: size, topology, DERs")
    _feeder_argument(inspect)
    inspect.add_argument("--json", action="store_true", help="print JSON")
    _location_arguments(inspect)
    inspect.set_defaults(handler=cmd_inspect)

    ders = commands.add_parser("ders", help="list a feeder's DERs and their groups")
    _feeder_argument(ders)
    _der_file_argument(ders)
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
    _feeder_argument(dispatch)
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
    _der_file_argument(dispatch)
    dispatch.add_argument("--head-import-max-mw", type=float, default=None)
    dispatch.add_argument("--head-export-max-mw", type=float, default=None)
    _limit_arguments(dispatch)
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
    _feeder_argument(powerflow)
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
    _limit_arguments(powerflow)
    powerflow.set_defaults(handler=cmd_powerflow)

    hosting = commands.add_parser(
        "hosting-capacity",
        help="per-bus hosting capacity for new generation and load, verified by AC power flow",
    )
    _feeder_argument(hosting)
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
    _limit_arguments(hosting)
    hosting.add_argument("--out", default=None, help="directory for CSV, JSON and PNG")
    hosting.add_argument("--json", action="store_true", help="print JSON")
    hosting.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    hosting.set_defaults(handler=cmd_hosting_capacity)
    return parser


#: entry-point group of command plug-ins: each names a callable that takes the sub-parsers
#: and adds its commands (how the layers above, the SCADA bridge's ``simulate-ders`` and
#: ``bridge`` among them, add commands without this package importing them)
PLUGIN_GROUP = "gridderms.commands"


def _add_plugins(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        plugin.load()(commands)


def _feeder_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``FEEDER`` (see :func:`gridderms.cli.inputs.feeder_from`)."""
    parser.add_argument("feeder", help="built-in name, simbench:CODE, or a .json/.m/.mat file")


def _der_file_argument(parser: argparse.ArgumentParser) -> None:
    """``--der-file`` (repeatable): DERs beyond the model's."""
    parser.add_argument(
        "--der-file",
        action="append",
        default=[],
        help="extra DERs from a .csv or .json DER list (repeatable)",
    )


def _limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The operating limits (see :func:`gridderms.cli.inputs.operating_limits`); unset: the
    ``GRIDDERMS_*`` settings' (or, in hosting capacity, the model's per-bus limits)."""
    parser.add_argument("--vm-min-pu", type=float, default=None, help="lower voltage limit")
    parser.add_argument("--vm-max-pu", type=float, default=None, help="upper voltage limit")
    parser.add_argument(
        "--max-loading-percent", type=float, default=None, help="thermal limit [%%]"
    )


def _location_arguments(parser: argparse.ArgumentParser) -> None:
    """``--location`` and ``--tz``, for PV forecasts and local times."""
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
