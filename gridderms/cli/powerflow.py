"""``gridderms powerflow FEEDER``: one AC power flow, or a time series over profile steps or a
forecast (``--steps`` / ``--start``) beside a plain ``pandapower.runpp`` peer for the speed."""

from __future__ import annotations

import argparse

from gridderms.cli.inputs import feeder_from, operating_limits
from gridderms.cli.tables import format_pairs, format_table
from gridderms.ders import ders_from_net
from gridderms.dispatch.forecast import forecast_profiles, profile_step
from gridderms.dispatch.horizon import Horizon, parse_start
from gridderms.output import print_json
from network_models.feeder import Feeder
from network_models.profiles import FeederProfiles
from solvers.acmodel import cached_ac_model
from solvers.limits import OperatingLimits
from solvers.powerflow import PowerFlowResult, run_powerflow
from solvers.timeseries import TimeSeriesResult, run_timeseries

#: steps of the plain-runpp peer run beside a time series for the speed comparison
COMPARISON_STEPS = 20


def cmd_powerflow(args: argparse.Namespace) -> int:
    """Single or time-series AC power flow."""
    limits = operating_limits(args)
    feeder = feeder_from(args.feeder, args)
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
            [[v.element, v.element_id, v.kind, v.value, v.bound, v.unit] for v in worst],
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
    """``powerflow --steps/--start``: the time series (and its runpp peer) printed."""
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
                    [v.element, v.element_id, v.kind, v.value, v.bound, v.unit, v.step]
                    for v in worst
                ],
            )
        )
    return 0
