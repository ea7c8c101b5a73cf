"""Dispatch runs, their schedules and the operating modes.

A run is requested (``queued``), executed inline or as a background job (``running`` with a
progress), and stored with its AC-verified schedule, envelopes and summary in one transaction
(``optimal``), or with its diagnosis (``infeasible``), or with the error (``failed``).

Activation: in ``automatic`` mode an AC-feasible schedule computed on the feeder's current
topology version becomes active at once; otherwise it waits in ``pending_approval`` for an
operator. Operator overrides of the DERs are passed to the optimiser as fixed set-points.
What a run is asked is :class:`~gridderms.service.dispatch_spec.DispatchSpec`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from gridderms.ders.setpoints import SetpointError
from gridderms.dispatch.feeder_dispatch import dispatch_feeder
from gridderms.dispatch.forecast import profile_step
from gridderms.dispatch.horizon import Horizon
from gridderms.persistence.ders import ders_of
from gridderms.persistence.feeders import feeder_by_name, feeder_by_pk
from gridderms.persistence.models import DispatchRunRow, FeederRow, ScheduleRow, utcnow
from gridderms.persistence.runs import (
    activate_schedule,
    run_by_id,
    run_by_pk,
    run_of_schedule,
    schedule_by_id,
    schedule_points,
    write_schedule,
)
from gridderms.service import commands, jobs
from gridderms.service.activation import (
    MAX_SOLVES,
    changed_ders,
    checked_points,
    commandable,
    der_versions,
    describe,
)
from gridderms.service.audit_log import audit
from gridderms.service.ders import overrides_of, records_of
from gridderms.service.dispatch_alarms import (
    fail_dispatch,
    sync_dispatch_alarms,
    sync_telemetry_alarms,
)
from gridderms.service.dispatch_spec import DispatchSpec, objective
from gridderms.service.errors import ConflictError, InvalidRequestError
from gridderms.service.feeder_models import FeederModels
from gridderms.service.feeders import feeder_for_request
from gridderms.service.json_documents import json_safe
from gridderms.service.measured_state import MeasuredState, apply_measurements, measured_state
from gridderms.service.principals import SYSTEM, Principal
from solvers.limits import HeadLimits, OperatingLimits
from solvers.opf.request import DispatchResult

OPERATING_MODES = ("manual", "automatic")


def request_run(
    session: Session,
    models: FeederModels,
    actor: Principal,
    feeder_name: str,
    spec: DispatchSpec,
    inline_max_periods: int,
) -> tuple[DispatchRunRow, bool]:
    """Record a dispatch request; return the run and whether to execute it inline.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    ConflictError
        A topology change is in progress, or ``expected_feeder_version`` is stale.
    InvalidRequestError
        A horizon that is not whole steps, or a price/target series of the wrong length.
    """
    feeder = feeder_for_request(
        session, models, feeder_name, spec.expected_feeder_version, "dispatch"
    )
    n_periods = spec.horizon().n_periods
    from gridderms.service.budget import check_dispatch  # bounded work (422 beyond the caps)

    check_dispatch(session, models, feeder, spec.formulation, n_periods)
    cover = spec.cloud_cover_percent
    if cover is not None and not all(math.isfinite(c) and 0.0 <= c <= 100.0 for c in cover):
        raise InvalidRequestError("cloud_cover_percent values must be within 0..100 %")
    for name in ("price_per_mwh", "head_target_mw", "cloud_cover_percent"):
        series = getattr(spec, name)
        if series is not None and len(series) != n_periods:
            raise InvalidRequestError(
                f"{name} has {len(series)} values; the horizon has {n_periods} periods"
            )
    try:
        objective(spec)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    if not spec.snapshot and spec.start_step is None:
        with models.lock(feeder_name):
            model = models.model(feeder)
            if model.profiles is not None:  # the start must fall inside the profiles
                try:
                    profile_step(model, spec.horizon().start, n_periods)
                except ValueError as exc:
                    raise InvalidRequestError(str(exc)) from None
    inline = spec.execution == "inline" or (
        spec.execution == "auto" and n_periods <= inline_max_periods
    )
    request = spec.model_dump(mode="json")
    run = jobs.queue_run(
        session,
        DispatchRunRow,
        feeder,
        actor,
        request,
        action="dispatch.request",
        target_type="dispatch_run",
        audit_after={"feeder": feeder_name, "request": request, "inline": inline},
    )
    return run, inline


def execute_run(
    factory: sessionmaker[Session],
    models: FeederModels,
    run_id: str,
    default_limits: OperatingLimits,
    telemetry_max_age_s: float = 900.0,
    *,
    after_read: Callable[[int], None] | None = None,
) -> str:
    """Run dispatch ``run_id`` and store its outcome; return the final status.

    The DERs start from their measured state (:mod:`gridderms.service.measured_state`):
    telemetry at most ``telemetry_max_age_s`` [s] before the horizon start. When a DER's
    state (status, override, record) changes while the run solves, the run reads the DERs
    again and solves again (:mod:`gridderms.service.activation`). Never raises for a failed
    optimisation: the run is stored ``failed`` with the error and a feeder alarm.

    ``after_read(solve)`` is called after the DERs are read for solve 1, 2, ... (the seam the
    race tests use to change a DER under a running solve).
    """
    with factory() as session:
        run = run_by_id(session, run_id)
        feeder_pk = run.feeder_id
        run_pk = jobs.start_run(session, run)
        if run_pk is None:  # cancelled while it was queued
            return run.status
        notes: list[str] = []
        try:
            spec = DispatchSpec.model_validate_json(_dumps(run.request))
            limits = OperatingLimits(
                vm_min_pu=spec.vm_min_pu or default_limits.vm_min_pu,
                vm_max_pu=spec.vm_max_pu or default_limits.vm_max_pu,
                max_loading_percent=spec.max_loading_percent or default_limits.max_loading_percent,
            )
            horizon = spec.horizon()
            for solve in range(1, MAX_SOLVES + 1):
                session.expire_all()
                feeder = feeder_by_pk(session, feeder_pk)
                snapshot = models.snapshot(feeder)
                rows = ders_of(session, feeder)
                read = der_versions(rows)
                state = measured_state(session, feeder.id, spec.start, telemetry_max_age_s)
                records, fixed, telemetry = apply_measurements(
                    records_of(rows), overrides_of(rows), state
                )
                if after_read is not None:
                    after_read(solve)
                jobs.set_progress(factory, DispatchRunRow, run_pk, 0.2)
                result = dispatch_feeder(
                    snapshot,
                    records,
                    horizon,
                    objective=objective(spec),
                    limits=limits,
                    head=HeadLimits(spec.head_import_max_mw, spec.head_export_max_mw),
                    start_step=spec.start_step,
                    snapshot=spec.snapshot,
                    cloud_cover_percent=spec.cloud_cover_percent,
                    overrides=fixed,
                    formulation=spec.formulation,
                    should_stop=jobs.StopProbe(factory, DispatchRunRow, run_pk),
                )
                # cancellation checkpoint after the solve (jobs.set_progress reads the status)
                jobs.set_progress(factory, DispatchRunRow, run_pk, 0.9)
                session.expire_all()
                now_rows = ders_of(session, feeder_by_pk(session, feeder_pk))
                changed = changed_ders(read, der_versions(now_rows))
                if not changed:
                    break
                notes.append(
                    f"DER state changed during solve {solve}: {describe(now_rows, changed)}"
                    + ("; solved again" if solve < MAX_SOLVES else "")
                )
        except jobs.JobCancelledError:
            return jobs.finish_cancelled(session, DispatchRunRow, run_pk)
        except Exception as exc:
            return fail_dispatch(session, run_pk, exc)
        try:  # the last checkpoint: holds the run row until the result is committed
            jobs.claim_finish(session, DispatchRunRow, run_pk)
        except jobs.JobCancelledError:
            return jobs.finish_cancelled(session, DispatchRunRow, run_pk)
        session.expire_all()
        run = run_by_pk(session, run_pk)
        run.der_state = read
        name = feeder_by_pk(session, feeder_pk).name
        feeder = feeder_by_name(session, name, for_update=True)
        store_result(
            session, run, feeder, spec, horizon, result, (state, telemetry), solve_notes=notes
        )
        session.commit()
        return run.status


def _dumps(value: Any) -> str:
    return json.dumps(value)


def _points(schedule: pd.DataFrame) -> Iterator[dict[str, Any]]:
    columns = ("der_id", "period", "p_mw", "q_mvar", "p_available_mw", "curtailed_mw", "mode")
    for values in zip(*(schedule[c].tolist() for c in columns), strict=True):
        yield dict(zip(columns, values, strict=True))


def _envelopes(schedule: pd.DataFrame) -> Iterator[dict[str, Any]]:
    if "envelope_p_min_mw" not in schedule:
        return
    for der_id, period, low, high in zip(
        schedule.der_id.tolist(),
        schedule.period.tolist(),
        schedule.envelope_p_min_mw.tolist(),
        schedule.envelope_p_max_mw.tolist(),
        strict=True,
    ):
        yield {"der_id": der_id, "period": period, "p_min_mw": low, "p_max_mw": high}


def store_result(
    session: Session,
    run: DispatchRunRow,
    feeder: FeederRow,
    spec: DispatchSpec,
    horizon: Horizon,
    result: DispatchResult,
    measured: tuple[MeasuredState, dict[str, Any]] | None = None,
    solve_notes: list[str] | None = None,
) -> ScheduleRow | None:
    """Store the outcome of ``run`` (caller commits once: run, schedule, points, envelopes,
    the activation, the commands it queues and the alarms land together).

    ``measured`` is the telemetry the run started from and its use (for the summary and the
    ``telemetry_unusable`` alarms of a real-time run); ``solve_notes`` say which DERs changed
    under earlier solves. The caller holds the feeder row (``for_update``): the DERs compared
    with ``run.der_state`` here cannot change before the commit.

    An automatic activation needs an AC-feasible schedule, the topology version the run
    solved on, every DER as the run read it (:mod:`gridderms.service.activation`) and every
    set-point within its DER's capability; otherwise the schedule waits for approval and the
    summary's ``activation`` says why.
    """
    summary = json_safe(result.summary())
    rows = ders_of(session, feeder)
    changed = changed_ders(run.der_state or {}, der_versions(rows))
    held: list[str] = []
    if changed:
        held.append(f"DERs changed while the run solved: {describe(rows, changed)}")
    if solve_notes:
        summary["notes"] = [*summary.get("notes", []), *solve_notes]
    if measured is not None:
        summary["telemetry"] = json_safe(measured[1])
        sync_telemetry_alarms(session, feeder.id, measured[0])
    points = list(_points(result.schedule)) if result.status == "optimal" else []
    try:
        points = list(checked_points(points, records_of(rows)))
    except SetpointError as exc:
        held.append(str(exc))
    if feeder.version != run.feeder_version:
        held.append(
            f"the topology changed while the run solved (version {run.feeder_version} -> "
            f"{feeder.version})"
        )
    if held and result.status == "optimal":
        summary["activation"] = {"held": held}
    run.summary = summary
    run.diagnosis = summary.get("diagnosis") or []
    run.status = result.status
    run.progress = 1.0
    run.finished_at = utcnow()
    sync_dispatch_alarms(session, run, result)
    if result.status != "optimal":
        return None
    activate = feeder.operating_mode == "automatic" and result.ac_feasible and not held
    schedule = write_schedule(
        session,
        feeder_id=feeder.id,
        run_id=run.id,
        start=spec.start,
        step_minutes=horizon.step_minutes,
        n_periods=horizon.n_periods,
        ac_feasible=result.ac_feasible,
        activate=activate,
        points=iter(points),
        envelopes=_envelopes(result.schedule),
        decided_by=SYSTEM.name if activate else None,
    )
    if activate:
        queued = commands.queue_schedule(session, schedule, points, SYSTEM.name, commandable(rows))
        audit(
            session,
            SYSTEM,
            "schedule.activate_automatic",
            ("schedule", f"{feeder.name}/{schedule.id}"),
            after={"run_id": run.run_id, "operating_mode": "automatic", "commands": queued},
        )
    return schedule


def decide(
    session: Session, actor: Principal, feeder_name: str, schedule_id: int, *, approve: bool
) -> ScheduleRow:
    """Approve (activate) or reject a schedule waiting for approval.

    Raises
    ------
    ConflictError
        The schedule is not pending, or was computed on an older topology version.
    """
    feeder = feeder_by_name(session, feeder_name, for_update=True)
    schedule = schedule_by_id(session, feeder, schedule_id)
    if schedule.state != "pending_approval":
        raise ConflictError(f"schedule {schedule_id} is {schedule.state}, not pending_approval")
    run = run_of_schedule(session, schedule)
    if approve and run is not None and run.feeder_version != feeder.version:
        raise ConflictError(
            f"schedule {schedule_id} was computed on topology version {run.feeder_version}; "
            f"feeder '{feeder_name}' is now at version {feeder.version}: dispatch again"
        )
    rows = ders_of(session, feeder)
    points: list[dict[str, Any]] = []
    if approve:
        if run is not None and run.der_state is not None:
            changed = changed_ders(run.der_state, der_versions(rows))
            if changed:
                raise ConflictError(
                    f"schedule {schedule_id}: DERs changed since it was computed: "
                    f"{describe(rows, changed)}; dispatch again"
                )
        try:
            points = list(checked_points(schedule_points(session, schedule), records_of(rows)))
        except SetpointError as exc:
            raise ConflictError(f"schedule {schedule_id}: {exc}") from None
    before = {"state": schedule.state}
    if approve:
        activate_schedule(session, schedule, actor.name)
        commands.queue_schedule(session, schedule, points, actor.name, commandable(rows))
    else:
        schedule.state = "rejected"
        schedule.decided_by = actor.name
    audit(
        session,
        actor,
        "schedule.approve" if approve else "schedule.reject",
        ("schedule", f"{feeder_name}/{schedule_id}"),
        before=before,
        after={"state": schedule.state},
    )
    session.commit()
    return schedule


def fail_interrupted_runs(session: Session) -> int:
    """Mark runs left ``queued``/``running`` by a stopped service as failed; return how many."""
    return jobs.fail_interrupted(session, DispatchRunRow)


class DispatchJobs(jobs.JobPool):
    """Background execution of long dispatch runs on a thread pool."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        models: FeederModels,
        default_limits: OperatingLimits,
        workers: int,
        telemetry_max_age_s: float = 900.0,
    ) -> None:
        super().__init__(
            partial(
                execute_run,
                factory,
                models,
                default_limits=default_limits,
                telemetry_max_age_s=telemetry_max_age_s,
            ),
            workers,
            "dispatch",
        )


def set_mode(session: Session, actor: Principal, name: str, mode: str) -> FeederRow:
    """Set the operating mode (``manual``: schedules wait for approval; ``automatic``: an
    AC-feasible schedule activates at once)."""
    row = feeder_by_name(session, name)
    before = {"operating_mode": row.operating_mode}
    row.operating_mode = mode
    audit(
        session,
        actor,
        "feeder.mode",
        ("feeder", name),
        before=before,
        after={"operating_mode": mode},
    )
    session.commit()
    return row


__all__ = [
    "DispatchJobs",
    "DispatchSpec",
    "decide",
    "execute_run",
    "request_run",
    "set_mode",
    "store_result",
]
