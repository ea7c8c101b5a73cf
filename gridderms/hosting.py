"""Hosting-capacity studies as a service: run, export (CSV, JSON, PNG), progress on a terminal.

Thin layer over :mod:`solvers.hosting_capacity` for the command line and the API: it parses
nothing and prints nothing except the optional progress bar.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from network_models.feeder import Feeder
from solvers.hosting_capacity.managed import managed_hosting_capacity, pv_shape
from solvers.hosting_capacity.operating_point import (
    MIN_LOAD_SHARE,
    Mode,
    check_min_load_share,
    profile_window,
)
from solvers.hosting_capacity.refine import Tolerance
from solvers.hosting_capacity.static import HostingCapacityResult, Progress, hosting_capacity
from solvers.hosting_capacity.timeseries import (
    TimeSeriesHostingCapacity,
    timeseries_hosting_capacity,
)
from solvers.limits import StudyLimits


@dataclass
class HostingStudy:
    """A static study, optionally with time-series results per mode and the managed capacity.

    Attributes
    ----------
    static : HostingCapacityResult
        Worst-case operating point, AC-exact per bus.
    timeseries : dict
        Mode -> :class:`TimeSeriesHostingCapacity` (with ``--timeseries``).
    managed : pandas.DataFrame or None
        Per bus: static (``min_t HC_t``) and managed hosting capacity of a curtailable PV.
    curtailment_share : float
        The curtailed-energy share allowed for the managed capacity [-].
    operating_point : str
        The operating points in one line: the static study's
        (:attr:`HostingCapacityResult.operating_point`) and, with time series, their profile
        steps and dates.
    """

    static: HostingCapacityResult
    timeseries: dict[str, TimeSeriesHostingCapacity] = field(default_factory=dict)
    managed: pd.DataFrame | None = None
    curtailment_share: float = 0.05
    operating_point: str = ""

    def __post_init__(self) -> None:
        if not self.operating_point:
            self.operating_point = self.static.operating_point

    def summaries(self) -> list[str]:
        """Lines on the time-series and managed results, for the command line."""
        lines = []
        for mode, series in self.timeseries.items():
            worst = series.minimum.hc_min_mw.idxmin()
            row = series.minimum.loc[worst]
            lines.append(
                f"time series ({mode}, steps {series.steps.start}..{series.steps.stop - 1}): "
                f"lowest capacity {row.hc_min_mw:.4f} MW at bus {worst}, step {row.step} "
                f"({row.time}), {row.binding}; {series.ac_power_flows} AC power flows, "
                f"{series.times_s['total']:.1f} s"
            )
        if self.managed is not None and len(self.managed):
            m = self.managed
            lines.append(
                f"managed PV (<= {self.curtailment_share:.0%} curtailed energy): "
                f"static {m.static_hc_mw.sum():.3f} MW -> managed {m.managed_hc_mw.sum():.3f} MW "
                f"summed over {len(m)} buses (median gain "
                f"{(m.managed_hc_mw / m.static_hc_mw.where(m.static_hc_mw > 0)).median():.2f}x)"
            )
        return lines

    def to_dict(self) -> dict[str, object]:
        """JSON-ready study."""
        data = self.static.to_dict()
        data["operating_point"] = self.operating_point
        data["timeseries"] = {
            mode: {
                "first_step": series.steps.start,
                "n_steps": len(series.steps),
                "ac_power_flows": series.ac_power_flows,
                "times_s": series.times_s,
                "minimum": series.minimum.reset_index().to_dict("records"),
            }
            for mode, series in self.timeseries.items()
        }
        if self.managed is not None:
            data["managed"] = {
                "curtailment_share": self.curtailment_share,
                "buses": self.managed.reset_index().to_dict("records"),
            }
        return data


def timeseries_steps(feeder: Feeder, spec: str) -> range:
    """Profile steps of ``spec``: ``year`` (all), ``day`` (the day of peak generation, or of
    peak load without generation profiles) or a date ``YYYY-MM-DD``.

    Raises
    ------
    ValueError
        Without profiles, or for a date outside them or an unknown word.
    """
    profiles = feeder.profiles
    if profiles is None:
        raise ValueError(
            f"feeder '{feeder.name}' has no profiles; --timeseries needs a feeder with profiles "
            f"(the SimBench built-ins, or simbench:CODE)"
        )
    per_day = 24 * 60 // profiles.step_minutes
    if spec.lower() == "year":
        return range(profiles.n_steps)
    if spec.lower() == "day":
        key = ("sgen", "p_mw") if ("sgen", "p_mw") in profiles.values else ("load", "p_mw")
        peak = int(np.argmax(profiles.values[key].to_numpy(dtype=float).sum(axis=1)))
        first = peak - peak % per_day
        return range(first, min(first + per_day, profiles.n_steps))
    try:
        day = pd.Timestamp(spec).normalize()
    except ValueError as exc:
        raise ValueError(
            f"--timeseries takes day, year or a date YYYY-MM-DD, not '{spec}'"
        ) from exc
    first = int((day - profiles.start.normalize()) / pd.Timedelta(minutes=profiles.step_minutes))
    if first < 0 or first + per_day > profiles.n_steps:
        end = profiles.start + pd.Timedelta(minutes=profiles.step_minutes * profiles.n_steps)
        raise ValueError(f"date {spec} is outside the profiles ({profiles.start} .. {end})")
    return range(first, first + per_day)


def window_steps(feeder: Feeder, start_step: int, n_steps: int) -> range:
    """Profile steps ``start_step .. start_step + n_steps - 1`` of ``feeder``.

    Raises
    ------
    ValueError
        Without profiles, or for a window that is empty or not inside them.
    """
    profiles = feeder.profiles
    if profiles is None:
        raise ValueError(
            f"feeder '{feeder.name}' has no profiles; a time-series study needs a feeder with "
            f"profiles (the SimBench built-ins, or simbench:CODE)"
        )
    if start_step < 0 or n_steps < 1 or start_step + n_steps > profiles.n_steps:
        raise ValueError(
            f"profile steps {start_step}..{start_step + n_steps - 1} are outside the profiles of "
            f"feeder '{feeder.name}' (steps 0..{profiles.n_steps - 1})"
        )
    return range(start_step, start_step + n_steps)


def run_study(
    feeder: Feeder,
    *,
    buses: list[int] | None = None,
    modes: tuple[Mode, ...] = ("gen", "load"),
    pf: float = 1.0,
    limits: StudyLimits | None = None,
    tolerance: Tolerance | None = None,
    timeseries: str | range | None = None,
    curtailment_share: float = 0.05,
    progress: Progress | None = None,
    jobs: int | None = None,
    managed: bool = True,
    min_load_share: float = MIN_LOAD_SHARE,
) -> HostingStudy:
    """Static hosting capacity of ``buses``; with ``timeseries`` (a word or date for
    :func:`timeseries_steps`, or a range of consecutive profile steps) also per profile step
    and, for generation and with ``managed``, the managed (curtailable) capacity. ``jobs``:
    worker processes of the static study
    (:func:`~solvers.hosting_capacity.static.hosting_capacity`). ``min_load_share`` [-]: the
    share of their set-points at which loads stand in the static study's generation case
    (feeders without load profiles; the time series take every element at its profile value
    of each step)."""
    if not 0.0 <= curtailment_share < 1.0:
        raise ValueError(f"curtailment share must be within [0, 1), got {curtailment_share}")
    min_load_share = check_min_load_share(min_load_share)
    if isinstance(timeseries, range):
        steps: range | None = window_steps(feeder, timeseries.start, len(timeseries))
    else:
        steps = timeseries_steps(feeder, timeseries) if timeseries else None
    static = hosting_capacity(
        feeder,
        buses=buses,
        modes=modes,
        pf=pf,
        limits=limits,
        tolerance=tolerance,
        min_load_share=min_load_share,
        progress=progress,
        jobs=jobs,
    )
    study = HostingStudy(static=static, curtailment_share=curtailment_share)
    if steps is None:
        return study
    study.operating_point += (
        f"; time series: every element at its profile value at each of the profile "
        f"{profile_window(feeder, steps)}"
    )
    for mode in modes:
        if progress is not None and isinstance(progress, TextProgress):
            progress = TextProgress(label=f"buses ({mode}, {len(steps)} steps)")
        study.timeseries[mode] = timeseries_hosting_capacity(
            feeder,
            steps,
            buses=buses,
            mode=mode,
            pf=pf,
            limits=limits,
            tolerance=tolerance,
            progress=progress,
        )
    if managed and "gen" in study.timeseries:
        series = study.timeseries["gen"].per_step_mw
        study.managed = managed_hosting_capacity(series, pv_shape(feeder, steps), curtailment_share)
    return study


@dataclass
class TextProgress:
    """A one-line text progress bar (``[#####.....] 512/2926 buses, 4.1 s``) on a stream.

    Redraws at most every ``interval_s`` and ends with a newline at ``done == total``.
    """

    label: str = "buses"
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    width: int = 30
    interval_s: float = 0.2
    _started: float = field(default_factory=time.perf_counter)
    _drawn: float = 0.0

    def __call__(self, done: int, total: int) -> None:
        """Show ``done`` of ``total``."""
        now = time.perf_counter()
        if done < total and now - self._drawn < self.interval_s:
            return
        self._drawn = now
        filled = int(self.width * done / total) if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(
            f"\r[{bar}] {done}/{total} {self.label}, {now - self._started:.1f} s{end}"
        )
        self.stream.flush()


def write_outputs(study: HostingStudy, out: Path) -> list[Path]:
    """Write ``hosting_capacity.csv``, ``hosting_capacity.json`` and the PNG plot to ``out``;
    with time series also ``hc_timeseries_<mode>_mw.csv`` (steps x buses) and
    ``managed_hc.csv``. The CSV's last columns, ``min_load_share`` and ``operating_point``,
    are the same on every row.

    Returns
    -------
    list of Path
        The files written.
    """
    from gridderms.output import json_safe
    from gridderms.reports.hosting_capacity import plot_hosting_capacity

    result = study.static
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "hosting_capacity.csv"
    json_path = out / "hosting_capacity.json"
    png_path = out / "hosting_capacity.png"
    table = result.table.assign(
        min_load_share=result.min_load_share, operating_point=study.operating_point
    )
    table.to_csv(csv_path, index_label="bus", float_format="%.6f")
    # strict JSON: non-finite numbers as null (json_safe), never NaN / Infinity
    json_path.write_text(
        json.dumps(json_safe(study.to_dict()), indent=2, allow_nan=False, default=_plain)
    )
    written = [csv_path, json_path]
    for mode, series in study.timeseries.items():
        path = out / f"hc_timeseries_{mode}_mw.csv"
        series.per_step_mw.to_csv(path, float_format="%.6f")
        written.append(path)
    if study.managed is not None:
        path = out / "managed_hc.csv"
        study.managed.to_csv(path, float_format="%.6f")
        written.append(path)
    if result.coordinates is not None:
        plot_hosting_capacity(result, png_path)
        written.append(png_path)
    return written


def _plain(value: object) -> object:
    """numpy scalars for ``json.dumps``."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
