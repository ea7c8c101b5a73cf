"""Dispatch runs, their schedules and the operating modes.

A run is requested (``queued``), executed inline or as a background job (``running`` with a
progress), and stored with its AC-verified schedule, envelopes and summary in one transaction
(``optimal``), or with its diagnosis (``infeasible``), or with the error (``failed``).

Activation: in ``automatic`` mode an AC-feasible schedule computed on the feeder's current
topology version becomes active at once; otherwise it waits in ``pending_approval`` for an
operator. Operator overrides of the DERs are passed to the optimiser as fixed set-points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gridderms.bounds import MAX_POWER_MW, MAX_PRICE_PER_MWH, DateTime
from gridderms.ders.setpoints import SetpointError
from gridderms.dispatch.forecast import profile_step
from gridderms.dispatch.horizon import Horizon
from gridderms.dispatch.service import HeadLimits, dispatch_feeder
from gridderms.persistence.models import DispatchRunRow, FeederRow, ScheduleRow, utcnow
from gridderms.persistence.repositories import (
    RecordNotFoundError,
    activate_schedule,
    add_audit,
    ders_of,
    feeder_by_name,
    run_by_id,
    schedule_points,
    write_schedule,
)
from gridderms.service import alarms, commands
from gridderms.service.activation import (
    MAX_SOLVES,
    changed_ders,
    checked_points,
    commandable,
    der_versions,
    describe,
)
from gridderms.service.auth import SYSTEM, Principal
from gridderms.service.ders import overrides_of, records_of
from gridderms.service.errors import ConflictError, InvalidRequestError
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
from gridderms.service.measured_state import MeasuredState, apply_measurements, measured_state
from solvers.limits import OperatingLimits
from solvers.opf.dispatch import DispatchResult
from solvers.opf.problem import Objective

ObjectiveName = Literal["curtailment", "cost", "track", "peak", "losses"]
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


def _curtailment_only() -> dict[ObjectiveName, float]:
    return {"curtailment": 1.0}


class DispatchSpec(BaseModel):
    """What to dispatch: horizon, objective, limits (validated strictly, stored as JSON).

    Attributes
    ----------
    start : datetime
        Start of the first period: an ISO 8601 date-time with an offset in the years
        :data:`~gridderms.bounds.DATETIME_YEARS`.
    horizon_h : float
        Horizon length [h], a whole number of steps, at least one.
    step_minutes : int
        Period length [min].
    start_step : int, optional
        First profile step, for feeders with profiles; default: the step at ``start``.
    snapshot : bool
        Every period uses the model as given (loads at their ``p_mw``, each sgen's ``p_mw``
        its available power) instead of the forecast.
    objective_weights : dict
        Weight per objective (``curtailment``, ``cost``, ``track``, ``peak``, ``losses``).
    share_curtailment : bool
        Curtail every curtailable DER by the same share.
    price_per_mwh : list of float, optional
        Energy price per period [currency/MWh] for ``cost``.
    head_target_mw : list of float, optional
        Feeder-head import target per period [MW] for ``track``.
    head_import_max_mw, head_export_max_mw : float, optional
        Feeder-head exchange limits [MW].
    vm_min_pu, vm_max_pu, max_loading_percent : float, optional
        Voltage band [pu] (``vm_min_pu < vm_max_pu``) and thermal limit [%]; default: the
        service settings.
    formulation : {"lindistflow", "linearized-ac", "linearized-ac-full"}
    execution : {"auto", "inline", "job"}
        ``auto`` answers inline up to the configured number of periods.
    expected_feeder_version : int, optional
        Refuse (409) when the feeder's topology version differs.
    """

    model_config = STRICT

    start: DateTime
    horizon_h: float = Field(gt=0, le=24 * 14)
    step_minutes: int = Field(ge=1, le=24 * 60)
    start_step: int | None = Field(
        default=None,
        ge=0,
        description="First profile step on a feeder with profiles; default: the step at start.",
    )
    cloud_cover_percent: list[Annotated[float, Field(ge=0, le=100)]] | None = Field(
        default=None,
        max_length=24 * 14 * 60,
        description="Cloud cover per period [%] (0 clear .. 100 overcast) scaling the pvlib "
        "clear-sky PV forecast; one value per period.",
    )
    snapshot: bool = Field(
        default=False,
        description="Use the model's own load and DER values in every period (sgen p_mw is "
        "the available power) instead of the clock- and location-aware forecast.",
    )
    objective_weights: dict[ObjectiveName, float] = Field(default_factory=_curtailment_only)
    share_curtailment: bool = False
    price_per_mwh: (
        list[Annotated[float, Field(ge=-MAX_PRICE_PER_MWH, le=MAX_PRICE_PER_MWH)]] | None
    ) = Field(default=None, max_length=24 * 14 * 60)
    head_target_mw: list[Annotated[float, Field(ge=-MAX_POWER_MW, le=MAX_POWER_MW)]] | None = (
        Field(default=None, max_length=24 * 14 * 60)
    )
    head_import_max_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    head_export_max_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    vm_min_pu: float | None = Field(default=None, gt=0, lt=2)
    vm_max_pu: float | None = Field(default=None, gt=0, lt=2)
    max_loading_percent: float | None = Field(default=None, gt=0, le=1000)
    formulation: Literal["lindistflow", "linearized-ac", "linearized-ac-full"] = "lindistflow"
    execution: Literal["auto", "inline", "job"] = "auto"
    expected_feeder_version: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> DispatchSpec:
        if round(self.horizon_h * 60 / self.step_minutes) < 1:
            raise ValueError(
                f"horizon_h = {self.horizon_h:g} h is shorter than one {self.step_minutes}-min "
                f"step (step_minutes): give at least one period"
            )
        if (
            self.vm_min_pu is not None
            and self.vm_max_pu is not None
            and self.vm_min_pu >= self.vm_max_pu
        ):
            raise ValueError(
                f"vm_min_pu = {self.vm_min_pu:g} must be below vm_max_pu = {self.vm_max_pu:g}"
            )
        return self

    def horizon(self) -> Horizon:
        """The horizon, or :class:`InvalidRequestError` when it is not whole steps."""
        try:
            return Horizon(
                pd.Timestamp(self.start).tz_convert("UTC"), self.horizon_h, self.step_minutes
            )
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars made Python and non-finite floats made ``None``."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
        _objective(spec)
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
    run = queue_run(
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


def _objective(spec: DispatchSpec) -> Objective:
    return Objective(
        weights={str(k): v for k, v in spec.objective_weights.items()},
        price_per_mwh=None if spec.price_per_mwh is None else np.asarray(spec.price_per_mwh),
        head_target_mw=None if spec.head_target_mw is None else np.asarray(spec.head_target_mw),
        share_curtailment=spec.share_curtailment,
    )


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
        run_pk = start_run(session, run)
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
                feeder = session.get_one(FeederRow, feeder_pk)
                snapshot = models.snapshot(feeder)
                rows = ders_of(session, feeder)
                read = der_versions(rows)
                state = measured_state(session, feeder.id, spec.start, telemetry_max_age_s)
                records, fixed, telemetry = apply_measurements(
                    records_of(rows), overrides_of(rows), state
                )
                if after_read is not None:
                    after_read(solve)
                set_progress(factory, DispatchRunRow, run_pk, 0.2)
                result = dispatch_feeder(
                    snapshot,
                    records,
                    horizon,
                    objective=_objective(spec),
                    limits=limits,
                    head=HeadLimits(spec.head_import_max_mw, spec.head_export_max_mw),
                    start_step=spec.start_step,
                    snapshot=spec.snapshot,
                    cloud_cover_percent=spec.cloud_cover_percent,
                    overrides=fixed,
                    formulation=spec.formulation,
                    should_stop=StopProbe(factory, DispatchRunRow, run_pk),
                )
                # cancellation checkpoint after the solve (set_progress reads the status)
                set_progress(factory, DispatchRunRow, run_pk, 0.9)
                session.expire_all()
                now_rows = ders_of(session, session.get_one(FeederRow, feeder_pk))
                changed = changed_ders(read, der_versions(now_rows))
                if not changed:
                    break
                notes.append(
                    f"DER state changed during solve {solve}: {describe(now_rows, changed)}"
                    + ("; solved again" if solve < MAX_SOLVES else "")
                )
        except JobCancelledError:
            return finish_cancelled(session, DispatchRunRow, run_pk)
        except Exception as exc:
            return _fail(session, run_pk, exc)
        try:  # the last checkpoint: holds the run row until the result is committed
            claim_finish(session, DispatchRunRow, run_pk)
        except JobCancelledError:
            return finish_cancelled(session, DispatchRunRow, run_pk)
        session.expire_all()
        run = session.get_one(DispatchRunRow, run_pk)
        run.der_state = read
        name = session.get_one(FeederRow, feeder_pk).name
        feeder = feeder_by_name(session, name, for_update=True)
        store_result(
            session, run, feeder, spec, horizon, result, (state, telemetry), solve_notes=notes
        )
        session.commit()
        return run.status


def _fail(session: Session, run_pk: int, exc: Exception) -> str:
    """Store the run ``failed`` and raise the feeder's ``dispatch_failed`` alarm (a run that
    was being cancelled ends ``cancelled``, without an alarm)."""
    status = fail_run(session, DispatchRunRow, run_pk, exc)
    if status != "failed":
        return status
    run = session.get_one(DispatchRunRow, run_pk)
    alarms.raise_or_clear(
        session,
        run.feeder_id,
        "dispatch_failed",
        alarms.Condition("major", f"dispatch run {run.run_id} failed: {run.error}"),
    )
    session.commit()
    return status


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
        _sync_telemetry_alarms(session, feeder.id, measured[0])
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
    _sync_dispatch_alarms(session, run, result)
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
        queued = commands.queue_schedule(
            session, schedule, points, SYSTEM.name, commandable(rows)
        )
        add_audit(
            session,
            actor=SYSTEM.name,
            role=SYSTEM.role,
            action="schedule.activate_automatic",
            target_type="schedule",
            target_id=f"{feeder.name}/{schedule.id}",
            after={"run_id": run.run_id, "operating_mode": "automatic", "commands": queued},
        )
    return schedule


def _sync_dispatch_alarms(session: Session, run: DispatchRunRow, result: DispatchResult) -> None:
    """Raise or clear the feeder's dispatch alarms from the outcome of ``run``."""
    infeasible = None
    if result.status != "optimal":
        limits = "; ".join(
            f"{d.get('limit')} of {d.get('element')} {d.get('element_id')} in period "
            f"{d.get('period')} by {d.get('amount')} {d.get('unit')}"
            for d in (run.diagnosis or [])[:3]
        )
        infeasible = alarms.Condition(
            "major",
            f"dispatch run {run.run_id} is {result.status}" + (f": {limits}" if limits else ""),
            {"run_id": run.run_id, "diagnosis": (run.diagnosis or [])[:20]},
        )
    alarms.raise_or_clear(session, run.feeder_id, "dispatch_infeasible", infeasible)
    if result.status != "optimal":
        return
    alarms.raise_or_clear(session, run.feeder_id, "dispatch_failed", None)
    violations = (run.summary or {}).get("ac_violations") or []
    not_feasible = None
    if not result.ac_feasible:
        not_feasible = alarms.Condition(
            "major",
            f"schedule of dispatch run {run.run_id} breaks {len(violations)} limit(s) in its "
            f"AC power-flow check",
            {"run_id": run.run_id, "violations": violations[:20]},
        )
    alarms.raise_or_clear(session, run.feeder_id, "schedule_not_ac_feasible", not_feasible)


def _sync_telemetry_alarms(session: Session, feeder_id: int, state: MeasuredState) -> None:
    """``telemetry_unusable`` alarms, for a run that starts now (within the age limit)."""
    lag_s = abs((state.reference - utcnow()).total_seconds())
    if lag_s > state.max_age_s:
        return  # a study or a day-ahead run says nothing about the telemetry now
    present: dict[str | None, alarms.Condition] = {
        der_id: alarms.Condition("warning", f"DER '{der_id}': {reason}", None)
        for der_id, reason in state.unusable.items()
    }
    alarms.sync_conditions(session, feeder_id, "telemetry_unusable", present)


def schedule_of_run(session: Session, run: DispatchRunRow) -> ScheduleRow:
    """The schedule computed by ``run``.

    Raises
    ------
    RecordNotFoundError
        The run has no schedule (not finished, infeasible or failed).
    """
    schedule = session.scalars(select(ScheduleRow).where(ScheduleRow.run_id == run.id)).first()
    if schedule is None:
        raise RecordNotFoundError("schedule of dispatch run", run.run_id)
    return schedule


def schedule_by_id(session: Session, feeder: FeederRow, schedule_id: int) -> ScheduleRow:
    """Schedule ``schedule_id`` of ``feeder`` (404 otherwise)."""
    schedule = session.get(ScheduleRow, schedule_id)
    if schedule is None or schedule.feeder_id != feeder.id:
        raise RecordNotFoundError("schedule", schedule_id)
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
    run = session.get(DispatchRunRow, schedule.run_id) if schedule.run_id else None
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
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action="schedule.approve" if approve else "schedule.reject",
        target_type="schedule",
        target_id=f"{feeder_name}/{schedule_id}",
        before=before,
        after={"state": schedule.state},
    )
    session.commit()
    return schedule


def fail_interrupted_runs(session: Session) -> int:
    """Mark runs left ``queued``/``running`` by a stopped service as failed; return how many."""
    return fail_interrupted(session, DispatchRunRow)


class DispatchJobs(JobPool):
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


__all__ = [
    "DispatchJobs",
    "DispatchSpec",
    "decide",
    "execute_run",
    "request_run",
    "schedule_of_run",
    "store_result",
]
