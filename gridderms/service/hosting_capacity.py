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
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from gridderms.hosting import run_study, window_steps
from gridderms.persistence.feeders import feeder_by_name, feeder_by_pk
from gridderms.persistence.jobs import jobs_of
from gridderms.persistence.models import HostingCapacityResultRow, HostingCapacityRunRow, utcnow
from gridderms.persistence.studies import results_of, study_by_id, study_by_pk
from gridderms.service import jobs
from gridderms.service.budget import check_study
from gridderms.service.errors import InvalidRequestError
from gridderms.service.feeder_models import FeederModels
from gridderms.service.feeders import feeder_for_request
from gridderms.service.hosting_capacity_spec import (
    MAX_WINDOW_CELLS,
    HostingCapacitySpec,
    StudyNotApplicableError,
)
from gridderms.service.jobs import (
    JobCancelledError,
    JobPool,
    StopProbe,
    claim_finish,
    fail_interrupted,
    fail_run,
    feeder_name_of,
    finish_cancelled,
    queue_run,
    set_progress,
    start_run,
)
from gridderms.service.json_documents import json_safe
from gridderms.service.principals import Principal
from network_models.feeder import Feeder
from solvers.cancel import stop_when
from solvers.hosting_capacity.managed import pv_shape
from solvers.hosting_capacity.refine import Tolerance
from solvers.limits import OperatingLimits


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
    RecordNotFoundError, ConflictError
        Unknown feeder, a topology change in progress or a stale
        ``expected_feeder_version`` (:func:`~gridderms.service.feeders.feeder_for_request`).
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


def studies(session: Session, feeder_name: str, limit: int = 100) -> list[HostingCapacityRunRow]:
    """The latest ``limit`` studies of feeder ``feeder_name``, newest first.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    """
    feeder = feeder_by_name(session, feeder_name)
    return jobs_of(session, HostingCapacityRunRow, feeder.id, limit)


def study(
    session: Session, run_id: str
) -> tuple[HostingCapacityRunRow, str, list[HostingCapacityResultRow]]:
    """Study ``run_id``, its feeder's name and its per-bus table (empty until ``done``).

    Raises
    ------
    RecordNotFoundError
        Unknown run.
    """
    run = study_by_id(session, run_id)
    return run, feeder_name_of(session, run), results_of(session, run)


def cancel(
    session: Session, run_id: str, actor: Principal
) -> tuple[HostingCapacityRunRow, str, bool]:
    """Cancel study ``run_id`` (see :func:`gridderms.service.jobs.cancel_run`); return it, its
    feeder's name and whether it is cancelled already."""
    return jobs.cancel(session, HostingCapacityRunRow, run_id, actor)


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
        run = study_by_id(session, run_id)
        feeder = feeder_by_pk(session, run.feeder_id)
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
        run = study_by_pk(session, run_pk)
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
