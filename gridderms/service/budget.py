"""Bounded work: what a dispatch or hosting-capacity request may cost, checked when it arrives.

A request is refused before it is queued (:class:`WorkTooLargeError`, HTTP 422) when it asks
for more periods, DERs x periods or estimated memory than the service settings allow
(``GRIDDERMS_MAX_DISPATCH_PERIODS``, ``GRIDDERMS_MAX_DISPATCH_DER_PERIODS``,
``GRIDDERMS_MAX_DISPATCH_MEMORY_MB``, ``GRIDDERMS_MAX_STUDY_MEMORY_MB``); the message names the
limit, the requested value and the setting to raise.

The dispatch memory estimate (:func:`dispatch_memory_mb`) counts the non-zeros of the LPs a
dispatch holds at once (:func:`dispatch_lp_size`, per period from the buses, branches and
DERs) and adds the schedule and the envelopes' dense sensitivity block::

    bytes = 20 MB + K_NNZ * nnz + K_DER_PERIOD * ders * periods
                  + K_ENVELOPE * buses * min(ders, buses)

    nnz = nnz(lindistflow)                                   for "lindistflow"
        = max(2 * nnz(linearized-ac), nnz(lindistflow))      for the linearised-AC forms

(a linearised form keeps its last LP while it builds the next, and its fall-back when it finds
no schedule is LinDistFlow, whose LP with its 16-facet thermal polygon per branch is the
larger), with ``K_NNZ = 700 B``, ``K_DER_PERIOD = 400 B`` and ``K_ENVELOPE = 80 B``.

Fit: ``benchmarks/bounded_work.py`` measures the peak RSS growth (``VmHWM``) of real
dispatches with the service's default limits, each in its own process (results in
``benchmarks/results/bounded_work.json``): cigre-mv-der (15 DERs) at 96, 288, 864 and 2,016
periods in every formulation, mv-oberrhein (153 DERs; infeasible at the default band, so every
fall-back and the diagnosis ran) at 96 and 288 periods and SimBench MV rural (102 DERs) at 96
and 288 periods: 38 MB .. 2.3 GB. Growth per LinDistFlow non-zero is 450-560 B on feasible
runs and ~690 B on the infeasible ones (HiGHS holds the matrix several times while it solves:
its copy, the scaled and row-wise copies and the factor, besides the triplets and the CSC
matrix of the build); ``K_NNZ`` is the smallest constant that puts every measured case under
its estimate, plus 10 %: estimate / measured is 1.1-1.2 on mv-oberrhein, 1.3-2.0 for
LinDistFlow on cigre-mv-der and MV rural, 1.9-2.6 for the linearised forms on cigre-mv-der and
up to 13 for the sensitivity form on MV rural, whose LP writes only the few limits near
binding. The DERs are counted unaggregated (an upper bound: interchangeable DERs at a bus are
one LP column). Under the default cap of 2,048 MB a dispatch of cigre-mv-der may have up to
2,482 periods (8.6 days of 5-minute steps), one of mv-oberrhein 232 and one of MV rural 408;
the tester's 20,160 periods on cigre-mv-der are estimated at 16.5 GB (it grew past 10 GB).

The hosting-capacity estimate (:func:`study_memory_mb`) is the time-series screening's tables
(window steps x buses) and the scan of the feeder's whole profiles for the worst case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gridderms.persistence.ders import count_ders
from gridderms.persistence.models import FeederRow
from gridderms.service.errors import InvalidRequestError
from gridderms.service.feeder_models import FeederModels
from gridderms.service.settings import ServiceSettings
from network_models.feeder import Feeder
from solvers.opf.names import FORMULATIONS

MB = 2**20
#: fixed cost of a dispatch besides the terms below [MB]
BASE_MB = 20.0
#: bytes per LP non-zero while HiGHS solves, everything per period included [B]
K_NNZ = 700.0
#: bytes per DER and period: forecast, fleet arrays, schedule frame, stored points [B]
K_DER_PERIOD = 400.0
#: bytes per bus and DER bus of the envelopes' dense sensitivity block of one period [B]
K_ENVELOPE = 80.0
#: facets of the thermal and apparent-power polygons (solvers.opf.problem, .der_families)
FACETS = 16


class WorkTooLargeError(InvalidRequestError):
    """A request beyond a configured limit (the API answers 422).

    Attributes
    ----------
    limit : str
        What is limited, e.g. ``"periods"``.
    requested, allowed : float
        The request's value and the limit.
    setting : str
        The environment variable that raises the limit.
    field : str
        The request field to change.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        requested: float,
        allowed: float,
        setting: str,
        field: str,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.requested = requested
        self.allowed = allowed
        self.setting = setting
        self.field = field


@dataclass(frozen=True)
class WorkLimits:
    """The caps of one request.

    Attributes
    ----------
    max_periods : int
        Dispatch periods.
    max_der_periods : int
        Dispatch DERs x periods.
    max_memory_mb : float
        Estimated memory of a dispatch [MB].
    max_study_memory_mb : float
        Estimated memory of a hosting-capacity study [MB].
    """

    max_periods: int = 2880
    max_der_periods: int = 1_000_000
    max_memory_mb: float = 2048.0
    max_study_memory_mb: float = 2048.0

    @classmethod
    def from_settings(cls, settings: ServiceSettings | None = None) -> WorkLimits:
        """The limits configured in ``settings`` (default: read from the environment)."""
        settings = settings or ServiceSettings()
        return cls(
            settings.max_dispatch_periods,
            settings.max_dispatch_der_periods,
            settings.max_dispatch_memory_mb,
            settings.max_study_memory_mb,
        )


@dataclass(frozen=True)
class LpSize:
    """Size of a dispatch LP: columns, rows and non-zeros over all periods."""

    columns: int
    rows: int
    nonzeros: int


def network_size(feeder: Feeder) -> tuple[int, int]:
    """In-service buses and branches (lines, transformers, three-winding transformers as three,
    impedances) of ``feeder``."""
    net = feeder.net
    count = 0
    for table, weight in (("line", 1), ("trafo", 1), ("trafo3w", 3), ("impedance", 1)):
        if table in net and len(net[table]):
            count += weight * int(net[table].in_service.sum())
    return int(net.bus.in_service.sum()), count


def dispatch_lp_size(
    formulation: str, buses: int, branches: int, ders: int, periods: int
) -> LpSize:
    """Columns, rows and non-zeros of the dispatch LP of ``formulation`` (estimates).

    Per period the DER families (p, q and its split, storage, power factor, apparent-power
    facets, ramps) take about 5 columns, 5 rows and 12 non-zeros per DER; the network families
    those of the formulation: LinDistFlow branch flows, squared voltages, balance, drop, band
    and a 16-facet thermal polygon per branch; the linearised AC forms angle and magnitude
    changes, balance rows with the Jacobian's non-zeros (about ``buses + 2 branches``) and the
    band (their thermal polygons are written only near binding and not counted).

    Raises
    ------
    ValueError
        An unknown formulation.
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown formulation '{formulation}'; use one of {FORMULATIONS}")
    b, n, d = buses, branches, ders
    cols, rows, nnz = 5 * d + 5, 5 * d + 2, 12 * d + 6
    if formulation == "lindistflow":
        cols += 3 * n + 3 * b
        rows += (3 + FACETS) * n + b
        nnz += (9 + 3 * FACETS) * n + 3 * b + d
    else:
        cols += 4 * b + n
        rows += 3 * b
        nnz += 4 * (b + 2 * n) + 2 * d + 3 * b
    return LpSize(cols * periods, rows * periods, nnz * periods)


def dispatch_memory_mb(
    formulation: str, buses: int, branches: int, ders: int, periods: int
) -> float:
    """Estimated peak memory growth of one dispatch [MB] (the fit in the module docstring)."""
    nnz = dispatch_lp_size("lindistflow", buses, branches, ders, periods).nonzeros
    if formulation != "lindistflow":
        own = dispatch_lp_size(formulation, buses, branches, ders, periods).nonzeros
        nnz = max(2 * own, nnz)
    der = K_DER_PERIOD * ders * periods
    envelope = K_ENVELOPE * buses * min(ders, buses)
    return BASE_MB + (K_NNZ * nnz + der + envelope) / MB


def _refuse(
    what: str, limit: str, requested: float, allowed: float, setting: str, field: str, hint: str
) -> WorkTooLargeError:
    unit = " MB" if limit.endswith("memory") else ""
    return WorkTooLargeError(
        f"{what} exceeds the limit on {limit}: {requested:,.0f}{unit} requested, at most "
        f"{allowed:,.0f}{unit} allowed (setting {setting}); {hint}",
        limit=limit,
        requested=requested,
        allowed=allowed,
        setting=setting,
        field=field,
    )


def check_dispatch_size(
    limits: WorkLimits,
    formulation: str,
    buses: int,
    branches: int,
    ders: int,
    periods: int,
) -> float:
    """Refuse a dispatch beyond ``limits``; return its estimated memory [MB].

    Raises
    ------
    WorkTooLargeError
        Too many periods, DERs x periods, or too much estimated memory.
    """
    hint = "shorten the horizon or lengthen the step"
    if periods > limits.max_periods:
        raise _refuse(
            "the dispatch",
            "periods",
            periods,
            limits.max_periods,
            "GRIDDERMS_MAX_DISPATCH_PERIODS",
            "horizon_h",
            hint,
        )
    if ders * periods > limits.max_der_periods:
        raise _refuse(
            f"the dispatch of {ders} DERs over {periods} periods",
            "DERs x periods",
            ders * periods,
            limits.max_der_periods,
            "GRIDDERMS_MAX_DISPATCH_DER_PERIODS",
            "horizon_h",
            hint,
        )
    memory = dispatch_memory_mb(formulation, buses, branches, ders, periods)
    if memory > limits.max_memory_mb:
        size = dispatch_lp_size(formulation, buses, branches, ders, periods)
        raise _refuse(
            f"the {formulation} dispatch of {ders} DERs on {buses} buses and {branches} "
            f"branches over {periods} periods (an LP of about {size.columns:,} columns, "
            f"{size.rows:,} rows and {size.nonzeros:,} non-zeros)",
            "estimated memory",
            memory,
            limits.max_memory_mb,
            "GRIDDERMS_MAX_DISPATCH_MEMORY_MB",
            "horizon_h",
            hint,
        )
    return memory


def machine_limits(share: float = 0.5) -> WorkLimits:
    """Limits of a local run that may be large (the command line's ``--allow-large``): no cap
    on periods or DERs x periods, memory up to ``share`` of the memory available now
    (``MemAvailable`` of /proc/meminfo; the service's cap where that cannot be read)."""
    available_mb = WorkLimits().max_memory_mb / share
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available_mb = int(line.split()[1]) / 1024
    except OSError:
        pass
    memory = share * available_mb
    return WorkLimits(2**62, 2**62, memory, memory)


def check_local_dispatch(
    model: Feeder, ders: int, formulation: str, periods: int, *, allow_large: bool = False
) -> float:
    """:func:`check_dispatch_size` for the command line: the service's limits, or with
    ``allow_large`` :func:`machine_limits`; returns the estimated memory [MB].

    Raises
    ------
    ValueError
        Beyond the limits (the message names the limit, the value and how to raise it).
    """
    limits = machine_limits() if allow_large else WorkLimits.from_settings()
    buses, branches = network_size(model)
    try:
        return check_dispatch_size(limits, formulation, buses, branches, ders, periods)
    except WorkTooLargeError as exc:
        if allow_large:
            message = str(exc).replace(f"setting {exc.setting}", "half the free memory")
            raise ValueError(message) from None
        raise ValueError(f"{exc}; or pass --allow-large (up to half the free memory)") from None


def registered_ders(session: Session, feeder: FeederRow) -> int:
    """How many DERs ``feeder`` has registered (every status: an upper bound)."""
    return count_ders(session, feeder)


def check_dispatch(
    session: Session,
    models: FeederModels,
    feeder: FeederRow,
    formulation: str,
    periods: int,
    limits: WorkLimits | None = None,
) -> float:
    """:func:`check_dispatch_size` for a dispatch of ``feeder``'s registered DERs, with the
    configured limits by default; returns the estimated memory [MB].

    Raises
    ------
    WorkTooLargeError
    """
    with models.lock(feeder.name):
        buses, branches = network_size(models.model(feeder))
    return check_dispatch_size(
        limits or WorkLimits.from_settings(),
        formulation,
        buses,
        branches,
        registered_ders(session, feeder),
        periods,
    )


#: hosting-capacity estimate: fixed cost [MB]; bytes per window step and bus or studied bus
#: and mode (voltages, screening, per-step series and frames); bytes per profile value of the
#: whole profiles (the worst-case operating point scans them) [B]
STUDY_BASE_MB = 20.0
K_STUDY_CELL = 24.0
K_STUDY_PROFILE = 25.0


def study_memory_mb(
    buses: int, studied: int, window_steps: int, modes: Sequence[str], profile_values: int
) -> float:
    """Estimated peak memory growth of a hosting-capacity study with a time-series window
    [MB] (none without a window: the static study's growth is tens of MB).

    ``window_steps x (buses + studied x modes)`` cells at ``K_STUDY_CELL`` and the feeder's
    ``profile_values`` (steps x columns of all its profiles) at ``K_STUDY_PROFILE``, fitted to
    SimBench MV rural (97 buses, a year of 15-min profiles: 228 MB measured for a 288-step
    window, 405 MB for 32,000 steps in both modes; estimated 268 and 479 MB) and LV rural 1
    (30 MB for 32,000 steps; estimated 78 MB), see ``benchmarks/bounded_work.py``.
    """
    if not window_steps:
        return STUDY_BASE_MB
    cells = window_steps * (buses + studied * len(modes))
    return STUDY_BASE_MB + (K_STUDY_CELL * cells + K_STUDY_PROFILE * profile_values) / MB


def check_study(
    model: Feeder,
    studied: int,
    window_steps: int,
    modes: Sequence[str],
    limits: WorkLimits | None = None,
) -> float:
    """Refuse a hosting-capacity study of ``model`` whose estimated memory exceeds the limit;
    return the estimate [MB].

    Raises
    ------
    WorkTooLargeError
    """
    limits = limits or WorkLimits.from_settings()
    buses, _ = network_size(model)
    profiles = model.profiles
    values = sum(int(f.size) for f in profiles.values.values()) if profiles is not None else 0
    memory = study_memory_mb(buses, studied, window_steps, modes, values)
    if memory > limits.max_study_memory_mb:
        raise _refuse(
            f"the hosting-capacity study of {studied} buses over {window_steps} window steps",
            "estimated memory",
            memory,
            limits.max_study_memory_mb,
            "GRIDDERMS_MAX_STUDY_MEMORY_MB",
            "timeseries",
            "shorten the window or choose buses",
        )
    return memory
