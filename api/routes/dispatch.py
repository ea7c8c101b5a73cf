"""Dispatch runs (inline or as jobs), their schedules, diagnoses and envelopes, the active
schedule and operator approval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.body import body_doc, check_voltage_band, json_body
from api.deps import Adms, JobsDep, ModelsDep, Operator, SessionDep, SettingsDep, Viewer
from api.schemas import (
    DiagnosisPublic,
    DispatchRunCreate,
    DispatchRunPublic,
    EnvelopePointPublic,
    EnvelopesPublic,
    LimitRelaxationPublic,
    SchedulePointPublic,
    SchedulePublic,
)
from gridderms.persistence.models import DispatchRunRow, FeederRow, ScheduleRow
from gridderms.persistence.repositories import (
    RecordNotFoundError,
    active_schedule,
    feeder_by_name,
    run_by_id,
    schedule_envelopes,
    schedule_points,
)
from gridderms.service import dispatch as service
from gridderms.service.jobs import cancel_run, run_public

router = APIRouter(tags=["dispatch"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]
RunId = Annotated[str, Path(description="Id of a dispatch run", max_length=64)]


def _run_public(session: Session, run: DispatchRunRow) -> DispatchRunPublic:
    feeder = session.get_one(FeederRow, run.feeder_id)
    return DispatchRunPublic(**run_public(run, feeder.name))


@dataclass(frozen=True)
class PointFilter:
    """Which points of a schedule to return (a 10k-DER, 96-period schedule has ~1M)."""

    der_id: str | None
    period_from: int
    period_to: int | None


def point_filter(
    der_id: Annotated[str | None, Query(max_length=200, description="Only this DER")] = None,
    period_from: Annotated[int, Query(ge=0, le=100_000, description="First period")] = 0,
    period_to: Annotated[
        int | None, Query(ge=0, le=100_000, description="Last period (inclusive)")
    ] = None,
) -> PointFilter:
    """The point filter of a schedule request."""
    return PointFilter(der_id, period_from, period_to)


PointFilterDep = Annotated[PointFilter, Depends(point_filter)]


def _schedule_public(
    session: Session, schedule: ScheduleRow, points: PointFilter | None = None
) -> SchedulePublic:
    feeder = session.get_one(FeederRow, schedule.feeder_id)
    run = session.get(DispatchRunRow, schedule.run_id) if schedule.run_id else None
    return SchedulePublic(
        schedule_id=schedule.id,
        feeder=feeder.name,
        run_id=run.run_id if run else None,
        state=schedule.state,  # type: ignore[arg-type]
        start=schedule.start,
        step_minutes=schedule.step_minutes,
        n_periods=schedule.n_periods,
        ac_feasible=schedule.ac_feasible,
        created_at=schedule.created_at,
        activated_at=schedule.activated_at,
        decided_by=schedule.decided_by,
        points=[
            SchedulePointPublic.model_construct(**p)
            for p in schedule_points(
                session,
                schedule,
                der_id=points.der_id if points else None,
                periods=(points.period_from, points.period_to) if points else (0, None),
            )
        ],
    )


@router.post(
    "/feeders/{feeder}/dispatch-runs",
    response_model=DispatchRunPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        202: {"model": DispatchRunPublic, "description": "Accepted as a background job"},
        400: {"description": "Horizon or series not applicable to the feeder"},
        404: {"description": "Unknown feeder"},
        409: {"description": "Topology change in progress or stale expected_feeder_version"},
    },
    openapi_extra=body_doc("DispatchRunCreate"),
)
def request_dispatch(
    principal: Adms,
    session: SessionDep,
    models: ModelsDep,
    settings: SettingsDep,
    jobs: JobsDep,
    feeder: FeederName,
    body: Annotated[DispatchRunCreate, Depends(json_body(DispatchRunCreate))],
) -> Response:
    """Request a dispatch. Short horizons answer inline (201, finished run); long ones are
    jobs (202 + ``Location`` of the run, poll its ``status`` and ``progress``)."""
    limits = settings.operating_limits()
    check_voltage_band(body.vm_min_pu, body.vm_max_pu, limits.vm_min_pu, limits.vm_max_pu)
    run, inline = service.request_run(
        session, models, principal, feeder, body, settings.inline_dispatch_max_periods
    )
    location = f"/api/v1/dispatch-runs/{run.run_id}"
    if inline:
        jobs.run_inline(run.run_id)
        session.expire_all()
        public = _run_public(session, run_by_id(session, run.run_id))
        code = status.HTTP_201_CREATED
    else:
        public = _run_public(session, run)
        jobs.submit(run.run_id)
        code = status.HTTP_202_ACCEPTED
    return JSONResponse(
        public.model_dump(mode="json"), status_code=code, headers={"Location": location}
    )


@router.get("/feeders/{feeder}/dispatch-runs", response_model=list[DispatchRunPublic])
def list_runs(_: Viewer, session: SessionDep, feeder: FeederName) -> list[DispatchRunPublic]:
    """Dispatch runs of a feeder, newest first (up to 100)."""
    row = feeder_by_name(session, feeder)
    runs = session.scalars(
        select(DispatchRunRow)
        .where(DispatchRunRow.feeder_id == row.id)
        .order_by(DispatchRunRow.id.desc())
        .limit(100)
    )
    return [DispatchRunPublic(**run_public(run, feeder)) for run in runs]


@router.get(
    "/dispatch-runs/{run_id}",
    response_model=DispatchRunPublic,
    responses={404: {"description": "Unknown run"}},
)
def get_run(_: Viewer, session: SessionDep, run_id: RunId) -> DispatchRunPublic:
    """Status, progress, request and AC-verified summary of a run."""
    return _run_public(session, run_by_id(session, run_id))


@router.post(
    "/dispatch-runs/{run_id}/cancel",
    response_model=DispatchRunPublic,
    responses={
        202: {"model": DispatchRunPublic, "description": "Running: stops shortly"},
        404: {"description": "Unknown run"},
        409: {"description": "The run has finished (the message names its status)"},
    },
)
def cancel_dispatch(principal: Adms, session: SessionDep, run_id: RunId) -> Response:
    """Cancel a dispatch run (adms): a queued one is ``cancelled`` at once (200); a running one
    is ``cancelling`` (202) and stops within about a second in any phase (forecast, LP build,
    HiGHS solve, AC verification), storing no schedule."""
    run, cancelled = cancel_run(session, DispatchRunRow, run_id, principal)
    return JSONResponse(
        _run_public(session, run).model_dump(mode="json"),
        status_code=status.HTTP_200_OK if cancelled else status.HTTP_202_ACCEPTED,
    )


@router.get(
    "/dispatch-runs/{run_id}/schedule",
    response_model=SchedulePublic,
    responses={404: {"description": "Unknown run, or the run has no schedule"}},
)
def get_run_schedule(
    _: Viewer, session: SessionDep, run_id: RunId, points: PointFilterDep
) -> SchedulePublic:
    """The schedule the run computed (per DER per period; filter by DER and periods)."""
    run = run_by_id(session, run_id)
    return _schedule_public(session, service.schedule_of_run(session, run), points)


@router.get(
    "/dispatch-runs/{run_id}/envelopes",
    response_model=EnvelopesPublic,
    responses={404: {"description": "Unknown run, or the run has no schedule"}},
)
def get_run_envelopes(_: Viewer, session: SessionDep, run_id: RunId) -> EnvelopesPublic:
    """Dynamic operating envelopes of the run's schedule [MW]."""
    run = run_by_id(session, run_id)
    schedule = service.schedule_of_run(session, run)
    feeder = session.get_one(FeederRow, schedule.feeder_id)
    rows = schedule_envelopes(session, schedule)
    return EnvelopesPublic(
        schedule_id=schedule.id,
        feeder=feeder.name,
        envelopes=[EnvelopePointPublic.model_validate(r) for r in rows],
    )


@router.get(
    "/dispatch-runs/{run_id}/diagnosis",
    response_model=DiagnosisPublic,
    responses={404: {"description": "Unknown run"}},
)
def get_diagnosis(_: Viewer, session: SessionDep, run_id: RunId) -> DiagnosisPublic:
    """Limits that must give for an infeasible run (empty list otherwise)."""
    run = run_by_id(session, run_id)
    diagnosis = [LimitRelaxationPublic(**item) for item in run.diagnosis or []]
    return DiagnosisPublic(run_id=run.run_id, status=run.status, diagnosis=diagnosis)


@router.get(
    "/feeders/{feeder}/schedules/active",
    response_model=SchedulePublic,
    responses={404: {"description": "Unknown feeder, or no active schedule"}},
)
def get_active_schedule(
    _: Viewer, session: SessionDep, feeder: FeederName, points: PointFilterDep
) -> SchedulePublic:
    """The feeder's active schedule (filter by DER and periods)."""
    row = feeder_by_name(session, feeder)
    schedule = active_schedule(session, row)
    if schedule is None:
        raise RecordNotFoundError("active schedule of feeder", feeder)
    return _schedule_public(session, schedule, points)


@router.get(
    "/feeders/{feeder}/envelopes/active",
    response_model=EnvelopesPublic,
    responses={404: {"description": "Unknown feeder, or no active schedule"}},
)
def get_active_envelopes(_: Viewer, session: SessionDep, feeder: FeederName) -> EnvelopesPublic:
    """Dynamic operating envelopes of the feeder's active schedule [MW]."""
    row = feeder_by_name(session, feeder)
    schedule = active_schedule(session, row)
    if schedule is None:
        raise RecordNotFoundError("active schedule of feeder", feeder)
    rows = schedule_envelopes(session, schedule)
    return EnvelopesPublic(
        schedule_id=schedule.id,
        feeder=feeder,
        envelopes=[EnvelopePointPublic.model_validate(r) for r in rows],
    )


_DECIDE_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "Unknown feeder or schedule"},
    409: {"description": "Not pending, or computed on an older topology"},
}


@router.post(
    "/feeders/{feeder}/schedules/{schedule_id}/approve",
    response_model=SchedulePublic,
    responses=_DECIDE_RESPONSES,
)
def approve(
    principal: Operator,
    session: SessionDep,
    feeder: FeederName,
    schedule_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> SchedulePublic:
    """Activate a schedule waiting for approval (operator)."""
    schedule = service.decide(session, principal, feeder, schedule_id, approve=True)
    return _schedule_public(session, schedule)


@router.post(
    "/feeders/{feeder}/schedules/{schedule_id}/reject",
    response_model=SchedulePublic,
    responses=_DECIDE_RESPONSES,
)
def reject(
    principal: Operator,
    session: SessionDep,
    feeder: FeederName,
    schedule_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> SchedulePublic:
    """Reject a schedule waiting for approval (operator)."""
    schedule = service.decide(session, principal, feeder, schedule_id, approve=False)
    return _schedule_public(session, schedule)
