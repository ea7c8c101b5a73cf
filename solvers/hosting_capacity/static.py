"""Per-bus hosting capacity at a worst-case operating point: LP estimate, AC-exact refinement.

For every requested bus and mode (``gen``: new generation, ``load``: new load):

1. the feeder is split into source-connected components (:mod:`.components`), each compiled
   once into a small AC model;
2. per component and mode, the existing loads and DERs are set to the worst-case operating
   point (:mod:`.operating_point`) and one persistent LP is built (:mod:`.lp`);
3. per bus the LP gives the linear capacity, and a secant/bisection search on the AC power flow
   (:mod:`.refine`) turns it into a capacity that is AC-feasible while ``capacity + tolerance``
   is not; the worst limit there is the binding constraint.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from network_models.feeder import Feeder
from solvers.hosting_capacity.ac_check import Check, ComponentState
from solvers.hosting_capacity.components import (
    ComponentModel,
    ComponentSplit,
    compile_component,
    split_at_sources,
)
from solvers.hosting_capacity.linear_estimate import LinearHostingModel
from solvers.hosting_capacity.operating_point import (
    MIN_LOAD_SHARE,
    MODES,
    Mode,
    OperatingPoint,
    check_min_load_share,
    describe_load_levels,
    worst_case,
)
from solvers.hosting_capacity.refine import Tolerance, refine
from solvers.limits import StudyLimits

#: largest size searched at a bus [MW]; a bus that takes it (none does on a real feeder) is
#: reported at the cap with binding "none"
CAP_MW = 1000.0

Progress = Callable[[int, int], None]


@dataclass
class HostingCapacityResult:
    """Hosting capacity of the requested buses.

    Attributes
    ----------
    feeder : str
    table : pandas.DataFrame
        One row per bus (index ``bus``): ``feeder`` (``feeder-<head bus>``), ``substation``
        (source bus), ``z_source_ohm`` (Thevenin impedance to the sources, the electrical
        distance [ohm]) and per mode ``hc_<mode>_mw`` [MW] (AC-exact), ``binding_<mode>``,
        ``binding_<mode>_detail``, ``lp_<mode>_mw`` (linear estimate [MW]) and
        ``ac_checks_<mode>``. Source buses have no capacity (NaN, binding ``source bus``).
    modes : tuple of str
    pf : float
    tolerance : Tolerance
    limits : str
        The limits, in words.
    operating_points : dict
        Mode -> description of the operating point.
    min_load_share : float
        Share of their set-points at which loads stand for generation HC without load
        profiles [-].
    operating_point : str
        The loads of the operating points in one line (``"loads at 25 % of their set-points
        (generation HC), 100 % (load HC)"``).
    relaxed_limits : dict
        Mode -> limits the operating point already violates (they may not get worse).
    times_s : dict
        ``compile``, ``lp``, ``ac`` and ``total`` [s].
    counts : dict
        ``components``, ``lp_solves``, ``ac_power_flows``.
    """

    feeder: str
    table: pd.DataFrame
    modes: tuple[Mode, ...]
    pf: float
    tolerance: Tolerance
    limits: str
    operating_points: dict[str, str]
    min_load_share: float = MIN_LOAD_SHARE
    operating_point: str = ""
    relaxed_limits: dict[str, list[str]] = field(default_factory=dict)
    times_s: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    #: x, y per bus (geodata, else a networkx layout) and the branches, for plots
    coordinates: pd.DataFrame | None = None
    edges: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready result (``NaN`` as ``None``)."""
        rows = self.table.reset_index().astype(object)
        records = rows.where(rows.notna(), None).to_dict("records")
        return {
            "feeder": self.feeder,
            "modes": list(self.modes),
            "pf": self.pf,
            "tolerance": {
                "relative": self.tolerance.relative,
                "absolute_mw": self.tolerance.absolute_mw,
            },
            "limits": self.limits,
            "operating_points": self.operating_points,
            "min_load_share": self.min_load_share,
            "operating_point": self.operating_point,
            "relaxed_limits": self.relaxed_limits,
            "times_s": self.times_s,
            "counts": self.counts,
            "buses": records,
        }


def check_buses(feeder: Feeder, buses: Iterable[int] | None) -> list[int]:
    """The requested buses (all energised buses when ``None``), validated.

    Raises
    ------
    ValueError
        Naming a bus that is not an in-service, energised bus of the feeder.
    """
    topology = feeder.topology()
    if buses is None:
        return sorted(int(b) for b in topology.energized_buses)
    chosen = []
    for bus in buses:
        if int(bus) not in feeder.net.bus.index:
            raise ValueError(f"bus {bus} is not a bus of feeder '{feeder.name}'")
        if int(bus) not in topology.energized_buses:
            raise ValueError(
                f"bus {bus} of feeder '{feeder.name}' is out of service or de-energized"
            )
        chosen.append(int(bus))
    if not chosen:
        raise ValueError("no buses requested")
    return sorted(set(chosen))


def source_impedance_ohm(component: ComponentModel) -> np.ndarray:
    """Thevenin impedance magnitude from each AC-model row to the sources [ohm] (0 at a
    source)."""
    model = component.model
    free = np.setdiff1d(np.arange(model.n_bus), model.ref)
    z_pu = np.zeros(model.n_bus)
    if len(free):
        y = model.ybus[free][:, free].toarray()
        z_pu[free] = np.abs(np.diag(np.linalg.inv(y)))
    return z_pu * model.bus_base_kv**2 / model.base_mva


def hosting_capacity(
    feeder: Feeder,
    *,
    buses: Sequence[int] | None = None,
    modes: Sequence[Mode] = MODES,
    pf: float = 1.0,
    limits: StudyLimits | None = None,
    tolerance: Tolerance | None = None,
    points: Mapping[Mode, OperatingPoint] | None = None,
    min_load_share: float = MIN_LOAD_SHARE,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> HostingCapacityResult:
    """AC-exact hosting capacity of ``buses`` (all energised buses by default).

    Parameters
    ----------
    feeder : Feeder
    buses : sequence of int, optional
        pandapower bus ids.
    modes : sequence of {"gen", "load"}
    pf : float
        Power factor of the new element (see :func:`.ac_check.injection_per_mw`).
    limits : StudyLimits, optional
    tolerance : Tolerance, optional
        Default ``max(1 %, 10 kW)``.
    points : mapping, optional
        Operating point per mode; the worst case (:func:`.operating_point.worst_case`) when
        omitted.
    min_load_share : float
        Share of their set-points at which loads stand in the worst case for generation [-],
        in [0, 1] (default :data:`.operating_point.MIN_LOAD_SHARE`); not for loads with a
        profile (their minimum over the profiles) nor for modes given in ``points``.
    progress : callable, optional
        Called as ``progress(done, total)`` after every bus and mode (after every component
        when components run in parallel).
    jobs : int, optional
        Worker processes for the components (exact split at the sources, so the results do
        not depend on it); default: the usable CPUs (:func:`default_jobs`), 1 for a single
        component.

    Raises
    ------
    ValueError
        Unknown mode, bad power factor, a ``min_load_share`` outside [0, 1], or a bus that is
        not an energised bus of the feeder.
    PowerFlowError
        An operating point without AC solution.
    """
    started = time.perf_counter()
    min_load_share = check_min_load_share(min_load_share)
    limits = limits or StudyLimits()
    tolerance = tolerance or Tolerance()
    modes = tuple(modes)
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown hosting-capacity mode '{mode}'; use 'gen' or 'load'")
    chosen = check_buses(feeder, buses)
    given = {mode: point for mode, point in (points or {}).items() if mode in modes and point}
    chosen_points: dict[Mode, OperatingPoint] = {
        mode: given.get(mode) or worst_case(feeder, mode, min_load_share=min_load_share)
        for mode in modes
    }
    if given:
        load_levels = "; ".join(f"{mode}: {chosen_points[mode].description}" for mode in modes)
    else:
        load_levels = describe_load_levels(feeder, modes, min_load_share)
    topology = feeder.topology()
    sources = set(topology.source_buses)
    table = pd.DataFrame(index=pd.Index(chosen, name="bus"))
    table["feeder"] = [f"feeder-{topology.head_of[b]}" for b in chosen]
    table["substation"] = [int(topology.trace.source_of[b]) for b in chosen]
    table["z_source_ohm"] = 0.0
    for mode in modes:
        table[f"hc_{mode}_mw"] = math.nan
        table[f"binding_{mode}"] = "source bus"
        table[f"binding_{mode}_detail"] = "source bus"
        table[f"lp_{mode}_mw"] = math.nan
        table[f"ac_checks_{mode}"] = 0
    wanted = set(chosen) - sources
    splits = [s for s in split_at_sources(topology) if wanted.intersection(s.bus_ids.tolist())]
    total = len(wanted) * len(modes)
    times = {"compile": 0.0, "lp": 0.0, "ac": 0.0}
    counts = {"components": len(splits), "lp_solves": 0, "ac_power_flows": 0}
    relaxed: dict[str, list[str]] = {mode: [] for mode in modes}
    study = _Study(feeder, wanted, modes, chosen_points, limits, tolerance, pf)
    outcomes: Iterable[_Outcome]
    jobs = max(1, min(jobs if jobs is not None else default_jobs(), len(splits)))
    if jobs > 1:
        outcomes = _in_parallel(study, splits, jobs)
    else:
        done_before = [0]

        def step(done: int) -> None:
            if progress:
                progress(done_before[0] + done, total)

        outcomes = (_track(study.run(split, step), done_before) for split in splits)
    done = 0
    columns: dict[str, dict[int, object]] = {}
    for outcome in outcomes:
        for (bus, column), value in outcome.cells.items():
            columns.setdefault(column, {})[bus] = value
        for key, value in outcome.times.items():
            times[key] += value
        for key, value in outcome.counts.items():
            counts[key] += value
        for name, notes in outcome.relaxed.items():
            relaxed[name] += notes
        done += outcome.n_done
        if progress and jobs > 1:
            progress(done, total)
    for column, values in columns.items():
        table.loc[list(values), column] = list(values.values())
    coordinates, edges = bus_layout(feeder)
    times["total"] = time.perf_counter() - started
    return HostingCapacityResult(
        feeder=feeder.name,
        table=table,
        modes=modes,
        pf=pf,
        tolerance=tolerance,
        limits=limits.describe(),
        operating_points={mode: chosen_points[mode].description for mode in modes},
        min_load_share=min_load_share,
        operating_point=load_levels,
        relaxed_limits={mode: sorted(set(notes)) for mode, notes in relaxed.items()},
        times_s=times,
        counts=counts,
        coordinates=coordinates,
        edges=edges,
    )


def bus_layout(feeder: Feeder) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    """Coordinates of the energised buses (``x``, ``y``) and the branches between them.

    Bus geodata (``net.bus.geo``, GeoJSON points) where every energised bus has it, else a
    networkx spring layout of the topology graph (seeded, so the plot is reproducible).
    """
    topology = feeder.topology()
    buses = sorted(int(b) for b in topology.energized_buses)
    graph = topology.graph.subgraph(buses)
    edges = sorted({(int(a), int(b)) for a, b in graph.edges() if a != b})
    geo = feeder.net.bus.geo.reindex(buses) if "geo" in feeder.net.bus else None
    if geo is not None and geo.notna().all():
        try:
            points = [json.loads(text)["coordinates"][:2] for text in geo]
            frame = pd.DataFrame(points, index=pd.Index(buses, name="bus"), columns=["x", "y"])
            return frame.astype(float), edges
        except (ValueError, KeyError, TypeError):
            pass  # not GeoJSON points: fall back to a layout
    layout = nx.spring_layout(nx.Graph(graph), seed=0, iterations=50)
    frame = pd.DataFrame(
        [layout[b] for b in buses], index=pd.Index(buses, name="bus"), columns=["x", "y"]
    )
    return frame.astype(float), edges


@dataclass
class _Outcome:
    """Results of one component: table cells, times, counts, relaxed limits."""

    cells: dict[tuple[int, str], object]
    times: dict[str, float]
    counts: dict[str, int]
    relaxed: dict[str, list[str]]
    n_done: int


def _track(outcome: _Outcome, done_before: list[int]) -> _Outcome:
    done_before[0] += outcome.n_done
    return outcome


@dataclass
class _Study:
    """Everything a component needs, so that a worker process can run it."""

    feeder: Feeder
    wanted: set[int]
    modes: tuple[Mode, ...]
    points: dict[Mode, OperatingPoint]
    limits: StudyLimits
    tolerance: Tolerance
    pf: float

    def run(self, split: ComponentSplit, step: Callable[[int], None] | None = None) -> _Outcome:
        """Hosting capacity of the wanted buses of one component, every mode."""
        tic = time.perf_counter()
        component = compile_component(self.feeder.net, split)
        times = {"compile": time.perf_counter() - tic, "lp": 0.0, "ac": 0.0}
        counts = {"lp_solves": 0, "ac_power_flows": 0}
        relaxed: dict[str, list[str]] = {}
        cells: dict[tuple[int, str], object] = {}
        bus_ids = np.array(sorted(self.wanted.intersection(split.bus_ids.tolist())), dtype=np.int64)
        rows = component.model.bus_lookup[bus_ids]
        z_ohm = source_impedance_ohm(component)
        for bus, row in zip(bus_ids, rows, strict=True):
            cells[(int(bus), "z_source_ohm")] = float(z_ohm[row])
        fused = np.isin(rows, component.model.ref)
        done = 0
        for mode in self.modes:
            tic = time.perf_counter()
            state = ComponentState(component, self.points[mode], self.limits, mode, self.pf)
            relaxed[mode] = state.relaxed
            lp = LinearHostingModel(state, rows[~fused], CAP_MW)
            times["compile"] += time.perf_counter() - tic
            at_zero = state.assess(state.v0)
            for bus, row, at_source in zip(bus_ids, rows, fused, strict=True):
                done += 1
                if not at_source:  # else fused to a source bus by a closed switch
                    tic = time.perf_counter()
                    estimate = lp.solve(int(row))
                    times["lp"] += time.perf_counter() - tic
                    tic = time.perf_counter()
                    found = refine(
                        _evaluator(state, int(row)),
                        estimate if estimate is not None else self.tolerance.absolute_mw,
                        self.tolerance,
                        CAP_MW,
                        at_zero,
                    )
                    times["ac"] += time.perf_counter() - tic
                    b = int(bus)
                    cells[(b, f"hc_{mode}_mw")] = found.p_mw
                    cells[(b, f"binding_{mode}")] = str(found.binding)
                    cells[(b, f"binding_{mode}_detail")] = found.binding.detail()
                    cells[(b, f"lp_{mode}_mw")] = math.nan if estimate is None else estimate
                    cells[(b, f"ac_checks_{mode}")] = found.checks
                if step is not None:
                    step(done)
            counts["lp_solves"] += lp.solves
            counts["ac_power_flows"] += state.n_solves
        return _Outcome(cells, times, counts, relaxed, done)


#: this worker's study, set by the pool's initializer in the worker (never in the parent)
_worker_study: list[_Study] = []


def _start_worker(study: _Study) -> None:
    """Pool initializer: keep the study this worker runs (inherited by fork, not pickled)."""
    _worker_study[:] = [study]


def _run_in_worker(split: ComponentSplit) -> _Outcome:
    return _worker_study[0].run(split)


def default_jobs() -> int:
    """Worker processes by default: the CPUs this process may use (1 without ``fork``)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def _in_parallel(study: _Study, splits: list[ComponentSplit], jobs: int) -> Iterable[_Outcome]:
    """Components in ``jobs`` forked processes, results as they finish (largest first)."""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(study,)
    ) as pool:
        futures = [pool.submit(_run_in_worker, split) for split in splits]
        for future in as_completed(futures):
            yield future.result()


def _evaluator(state: ComponentState, row: int) -> Callable[[float], Check]:
    """AC check at ``row``, warm-started from the solution of the nearest size checked."""
    solved: list[tuple[float, np.ndarray]] = []

    def evaluate(p_mw: float) -> Check:
        start = min(solved, key=lambda item: abs(item[0] - p_mw))[1] if solved else None
        result = state.check(row, p_mw, start)
        if result.voltages is not None:
            solved.append((p_mw, result.voltages))
        return result

    return evaluate


def split_of(feeder: Feeder) -> list[ComponentSplit]:
    """The feeder's source-connected components (see :func:`.components.split_at_sources`)."""
    return split_at_sources(feeder.topology())
