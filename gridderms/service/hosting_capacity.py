"""Hosting-capacity studies in the service: requested (``queued``), run as background jobs
(``running`` with a progress) on a snapshot of the feeder's current topology, and stored with
one row per bus (``done``), with the error (``failed``), or with nothing (``cancelled``, see
:func:`gridderms.service.jobs.cancel_run`).

The study is :func:`gridderms.hosting.run_study`, the study of ``gridderms hosting-capacity``:
the static worst case (one row per bus), optionally per profile step over a window of the
feeder's profiles (``timeseries``) and the managed capacity of a curtailable PV (``managed``),
both stored in the run's summary. It runs in the job's thread (``jobs=1``: no worker processes
are forked from the server); every progress report is a cancellation checkpoint.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gridderms.hosting import run_study, window_steps
from gridderms.persistence.models import (
    FeederRow,
    HostingCapacityResultRow,
    HostingCapacityRunRow,
    utcnow,
)
from gridderms.persistence.repositories import RecordNotFoundError
from gridderms.service.auth import Principal
from gridderms.service.budget import check_study
from gridderms.service.dispatch import json_safe
from gridderms.service.errors import InvalidRequestError
from gridderms.service.feeders import FeederModels, feeder_for_request
from gridderms.service.jobs import (
    JobCancelledError,
    JobPool,
    StopProbe,
    claim_finish,
    fail_interrupted,
    fail_run,
    finish_cancelled,
    queue_run,
    set_progress,
    start_run,
)
from network_models.feeder import Feeder
from solvers.cancel import stop_when
from solvers.hosting_capacity.limits import StudyLimits
from solvers.hosting_capacity.managed import pv_shape
from solvers.hosting_capacity.operating_point import MIN_LOAD_SHARE
from solvers.hosting_capacity.refine import Tolerance
from solvers.limits import OperatingLimits

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)
MAX_BUSES = 20_000
#: longest time-series window: a leap year of 15-minute steps
MAX_WINDOW_STEPS = 366 * 96
#: largest time-series screening, window steps x studied buses (memory of the per-step table)
MAX_WINDOW_CELLS = 5_000_000


class StudyNotApplicableError(InvalidRequestError):
    """A time-series window or managed study the feeder cannot do: no profiles, a window
    outside them, no PV profile (the API answers 422)."""


class TimeSeriesWindow(BaseModel):
    """Profile steps ``start_step .. start_step + n_steps - 1`` of a feeder with profiles.

    Attributes
    ----------
    start_step : int
        First profile step (0 is the first step of the profiles).
    n_steps : int
        Number of steps (96 is a day of 15-minute steps).
    """

    model_config = STRICT

    start_step: int = Field(ge=0, le=10_000_000)
    n_steps: int = Field(ge=1, le=MAX_WINDOW_STEPS)

    def steps(self) -> range:
        """The profile steps."""
        return range(self.start_step, self.start_step + self.n_steps)


class ManagedSpec(BaseModel):
    """The managed hosting capacity of a curtailable PV (needs ``timeseries`` and generation).

    Attributes
    ----------
    curtailment_share : float
        Largest share of the PV's available energy the DERMS may curtail, in [0, 1).
    """

    model_config = STRICT

    curtailment_share: float = Field(default=0.05, ge=0, lt=1)


class HostingCapacitySpec(BaseModel):
    """What to study (validated strictly, stored as JSON with the run).

    Attributes
    ----------
    mode : {"gen", "load", "both"}
        New generation, new load, or both.
    pf : float
        Power factor of the new element: (0, 1] absorbs reactive power, [-1, 0) supplies it.
    buses : list of int, optional
        pandapower bus ids; default every energised bus.
    vm_min_pu, vm_max_pu, max_loading_percent : float, optional
        Override the limits at every bus and branch; default the feeder's own bus limits where
        it sets them, else the service's operating limits.
    tolerance_percent, tolerance_mw : float
        Width of the final AC bracket: max(tolerance_percent of the capacity, tolerance_mw).
    min_load_share : float
        Operating point for generation hosting capacity: loads at this share of their
        set-points [-], in [0, 1] (``--min-load-share``); not for loads with profiles nor for
        the time series, whose profiles give the operating point.
    timeseries : TimeSeriesWindow, optional
        Also study every profile step of this window (feeders with profiles): per bus and mode
        the lowest AC-exact capacity and the step that sets it, in the run's summary.
    managed : ManagedSpec, optional
        With ``timeseries`` and generation: per bus the managed capacity of a curtailable PV
        (the largest PV that loses at most ``curtailment_share`` of its energy), in the run's
        summary.
    expected_feeder_version : int, optional
        Refuse (409) when the feeder's topology version differs.
    """

    model_config = STRICT

    mode: Literal["gen", "load", "both"] = "both"
    pf: float = Field(default=1.0, ge=-1.0, le=1.0)
    buses: list[int] | None = Field(default=None, min_length=1, max_length=MAX_BUSES)
    vm_min_pu: float | None = Field(default=None, gt=0, lt=2)
    vm_max_pu: float | None = Field(default=None, gt=0, lt=2)
    max_loading_percent: float | None = Field(default=None, gt=0, le=1000)
    tolerance_percent: float = Field(default=1.0, ge=0, le=50)
    tolerance_mw: float = Field(default=0.01, gt=0, le=100)
    min_load_share: float = Field(
        default=MIN_LOAD_SHARE,
        ge=0,
        le=1,
        description="Operating point for generation hosting capacity: loads at this share of "
        "their set-points [-] (load hosting capacity: 100 %). Not for loads with profiles (each "
        "at its minimum over the profiles) nor for the time series (each step's profile "
        "values).",
    )
    timeseries: TimeSeriesWindow | None = None
    managed: ManagedSpec | None = None
    expected_feeder_version: int | None = None

    @model_validator(mode="after")
    def _check(self) -> HostingCapacitySpec:
        if self.pf == 0.0:
            raise ValueError("pf must be within (0, 1] or [-1, 0), not 0")
        if self.managed is not None and self.timeseries is None:
            raise ValueError("managed needs a timeseries window (the PV's profile steps)")
        if self.managed is not None and self.mode == "load":
            raise ValueError("managed is a capacity for generation: use mode 'gen' or 'both'")
        if (
            self.vm_min_pu is not None
            and self.vm_max_pu is not None
            and self.vm_min_pu >= self.vm_max_pu
        ):
            raise ValueError("vm_min_pu must be below vm_max_pu")
        return self

    def modes(self) -> tuple[Literal["gen", "load"], ...]:
        """The study modes."""
        return ("gen", "load") if self.mode == "both" else (self.mode,)

    def limits(self, defaults: OperatingLimits) -> StudyLimits:
        """The study limits: an override applies everywhere (as on the command line)."""
        overrides = (self.vm_min_pu, self.vm_max_pu, self.max_loading_percent)
        return StudyLimits(
            defaults=OperatingLimits(
                vm_min_pu=self.vm_min_pu if self.vm_min_pu is not None else defaults.vm_min_pu,
                vm_max_pu=self.vm_max_pu if self.vm_max_pu is not None else defaults.vm_max_pu,
                max_loading_percent=self.max_loading_percent
                if self.max_loading_percent is not None
                else defaults.max_loading_percent,
            ),
            use_bus_limits=all(v is None for v in overrides),
        )


def run_by_id(session: Session, run_id: str) -> HostingCapacityRunRow:
    """Hosting-capacity run ``run_id``.

    Raises
    ------
    RecordNotFoundError
    """
    row = session.scalars(
        select(HostingCapacityRunRow).where(HostingCapacityRunRow.run_id == run_id)
    ).one_or_none()
    if row is None:
        raise RecordNotFoundError("hosting-capacity run", run_id)
    return row


def results_of(session: Session, run: HostingCapacityRunRow) -> list[HostingCapacityResultRow]:
    """The per-bus table of ``run``, by bus."""
    return list(
        session.scalars(
            select(HostingCapacityResultRow)
            .where(HostingCapacityResultRow.run_pk == run.id)
            .order_by(HostingCapacityResultRow.bus)
        )
    )


def request_run(
    session: Session,
    models: FeederModels,
    actor: Principal,
    feeder_name: str,
    spec: HostingCapacitySpec,
) -> HostingCapacityRunRow:
    """Record (and audit) a study request.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    ConflictError
        A topology change is in progress, or ``expected_feeder_version`` is stale.
    InvalidRequestError
        A bus the feeder does not have, or one that is out of service or de-energised.
    StudyNotApplicableError
        A time-series window on a feeder without profiles or outside them, too large a
        window, or a managed study without a PV profile in the window.
    """
    feeder = feeder_for_request(session, models, feeder_name, spec.expected_feeder_version, "study")
    if spec.buses is not None or spec.timeseries is not None:
        with models.lock(feeder_name):
            model = models.model(feeder)
            energized = model.topology().energized_buses
            for bus in spec.buses or ():
                if bus not in model.net.bus.index:
                    raise InvalidRequestError(f"bus {bus} is not a bus of feeder '{feeder_name}'")
                if bus not in energized:
                    raise InvalidRequestError(
                        f"bus {bus} of feeder '{feeder_name}' is out of service or de-energized"
                    )
            if spec.timeseries is not None:
                _check_window(model, spec, len(spec.buses or energized))
                studied = len(spec.buses or energized)
                check_study(model, studied, spec.timeseries.n_steps, spec.modes())
    request = spec.model_dump(mode="json")
    return queue_run(
        session,
        HostingCapacityRunRow,
        feeder,
        actor,
        request,
        action="hosting_capacity.request",
        target_type="hosting_capacity_run",
        audit_after={"feeder": feeder_name, "request": request},
    )


def _check_window(model: Feeder, spec: HostingCapacitySpec, n_buses: int) -> None:
    """Refuse a time-series window or managed study ``model`` cannot do."""
    assert spec.timeseries is not None
    try:
        steps = window_steps(model, spec.timeseries.start_step, spec.timeseries.n_steps)
        if spec.managed is not None:
            pv_shape(model, steps)
    except ValueError as exc:
        raise StudyNotApplicableError(str(exc)) from None
    if len(steps) * n_buses > MAX_WINDOW_CELLS:
        raise StudyNotApplicableError(
            f"a window of {len(steps)} steps over {n_buses} buses is too large a time-series "
            f"study (at most {MAX_WINDOW_CELLS} steps x buses): shorten the window or choose "
            f"buses"
        )


class _Progress:
    """The job's progress over the study's phases (static, then time series per mode), each
    ``(done, total)`` as the library reports it; stored at most every 0.5 s, and every store
    is a cancellation checkpoint (:func:`set_progress` raises :class:`JobCancelledError`)."""

    def __init__(self, factory: sessionmaker[Session], run_pk: int, phases: int) -> None:
        self.factory = factory
        self.run_pk = run_pk
        self.phases = phases
        self.phase = 0
        self.last_done = 0
        self.stored = 0.0

    def __call__(self, done: int, total: int) -> None:
        if done < self.last_done:  # the next phase began
            self.phase = min(self.phase + 1, self.phases - 1)
        self.last_done = done
        now = time.monotonic()
        if total and (done == total or now - self.stored > 0.5):
            self.stored = now
            share = (self.phase + done / total) / self.phases
            set_progress(self.factory, HostingCapacityRunRow, self.run_pk, 0.05 + 0.9 * share)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def execute_run(
    factory: sessionmaker[Session],
    models: FeederModels,
    run_id: str,
    default_limits: OperatingLimits,
) -> str:
    """Run study ``run_id`` and store its table (one transaction); return the final status.

    Never raises for a failed study: the run is stored ``failed`` with the error. A study
    cancelled while queued does not run; one cancelled while running stops at its next
    progress report and stores nothing (``cancelled``).
    """
    with factory() as session:
        run = run_by_id(session, run_id)
        feeder = session.get_one(FeederRow, run.feeder_id)
        run_pk = start_run(session, run)
        if run_pk is None:  # cancelled while it was queued
            return run.status
        try:
            spec = HostingCapacitySpec.model_validate(run.request, strict=False)
            phases = 1 + (len(spec.modes()) if spec.timeseries is not None else 0)
            snapshot = models.snapshot(feeder)
            with stop_when(StopProbe(factory, HostingCapacityRunRow, run_pk)):
                study = run_study(
                    snapshot,
                    buses=spec.buses,
                    modes=spec.modes(),
                    pf=spec.pf,
                    limits=spec.limits(default_limits),
                    tolerance=Tolerance(spec.tolerance_percent / 100.0, spec.tolerance_mw),
                    timeseries=spec.timeseries.steps() if spec.timeseries is not None else None,
                    curtailment_share=(
                        spec.managed.curtailment_share if spec.managed is not None else 0.05
                    ),
                    managed=spec.managed is not None,
                    min_load_share=spec.min_load_share,
                    progress=_Progress(factory, run_pk, phases),
                    jobs=1,
                )
            result = study.static
        except JobCancelledError:
            return finish_cancelled(session, HostingCapacityRunRow, run_pk)
        except Exception as exc:
            return fail_run(session, HostingCapacityRunRow, run_pk, exc)
        try:  # the last checkpoint: holds the run row until the table is committed
            claim_finish(session, HostingCapacityRunRow, run_pk)
        except JobCancelledError:
            return finish_cancelled(session, HostingCapacityRunRow, run_pk)
        session.expire_all()
        run = session.get_one(HostingCapacityRunRow, run_pk)
        table = result.table.reset_index()
        for record in table.to_dict("records"):
            session.add(
                HostingCapacityResultRow(
                    run_pk=run_pk,
                    bus=int(record["bus"]),
                    feeder=_text(record.get("feeder")),
                    hc_gen_mw=_finite(record.get("hc_gen_mw")),
                    binding_gen=_text(record.get("binding_gen")),
                    hc_load_mw=_finite(record.get("hc_load_mw")),
                    binding_load=_text(record.get("binding_load")),
                )
            )
        run.summary = json_safe(
            {
                "buses": len(table),
                "modes": list(result.modes),
                "pf": result.pf,
                "limits": result.limits,
                "operating_points": result.operating_points,
                "min_load_share": result.min_load_share,
                "operating_point": study.operating_point,
                "relaxed_limits": result.relaxed_limits,
                "times_s": result.times_s,
                "counts": result.counts,
                **{
                    key: value
                    for key, value in study.to_dict().items()
                    if key in ("timeseries", "managed") and value
                },
            }
        )
        run.status = "done"
        run.progress = 1.0
        run.finished_at = utcnow()
        session.commit()
        return run.status


def fail_interrupted_runs(session: Session) -> int:
    """Mark studies left ``queued``/``running`` by a stopped service as failed (``cancelling``
    ones as ``cancelled``)."""
    return fail_interrupted(session, HostingCapacityRunRow)


class HostingCapacityJobs(JobPool):
    """Background execution of hosting-capacity studies (one at a time)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        models: FeederModels,
        default_limits: OperatingLimits,
    ) -> None:
        super().__init__(
            partial(execute_run, factory, models, default_limits=default_limits),
            1,
            "hosting-capacity",
        )
