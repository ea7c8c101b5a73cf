"""Command-line arguments made domain objects: the feeder, its limits, start times, output
directories; shared by the commands."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd

from gridderms.config import Settings
from gridderms.dispatch.forecast import profile_times
from network_models.feeder import Feeder
from network_models.loaders import load_feeder
from network_models.location import default_location_note, parse_location
from solvers.limits import OperatingLimits


def feeder_from(source: str, args: argparse.Namespace | None = None) -> Feeder:
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


def operating_limits(args: argparse.Namespace) -> OperatingLimits:
    """``--vm-min-pu`` [pu], ``--vm-max-pu`` [pu] and ``--max-loading-percent`` [%], each
    where given, else the ``GRIDDERMS_*`` settings' limit."""
    base = Settings().operating_limits()
    return OperatingLimits(
        vm_min_pu=args.vm_min_pu if args.vm_min_pu is not None else base.vm_min_pu,
        vm_max_pu=args.vm_max_pu if args.vm_max_pu is not None else base.vm_max_pu,
        max_loading_percent=args.max_loading_percent
        if args.max_loading_percent is not None
        else base.max_loading_percent,
    )


def profile_start(feeder: Feeder, step: int) -> pd.Timestamp:
    """The UTC time of profile step ``step`` of a feeder with profiles."""
    assert feeder.profiles is not None
    if not 0 <= step < feeder.profiles.n_steps:
        raise ValueError(
            f"--start-step {step} is outside the profiles (0..{feeder.profiles.n_steps - 1})"
        )
    return profile_times(feeder.profiles, feeder.location.tz)[step]


def out_dir(text: str | None) -> Path | None:
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
