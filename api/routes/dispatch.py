"""Dispatch runs (inline or as jobs), their schedules, diagnoses and envelopes, the active
schedule and operator approval."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import JSONResponse

from api.body import body_doc, check_voltage_band, json_body
from api.deps import Adms, JobsDep, ModelsDep, Operator, SessionDep, SettingsDep, Viewer
from api.schemas import DispatchRunCreate
from api.schemas.runs import DiagnosisPublic, DispatchRunPublic, EnvelopesPublic, SchedulePublic
from gridderms.service import dispatch_runs as service
from gridderms.service import dispatch_views as views
from gridderms.service.dispatch_views import PointFilter

router = APIRouter(tags=["dispatch"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]
RunId = Annotated[str, Path(description="Id of a dispatch run", max_length=64)]


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
        public = DispatchRunPublic.of(*views.run(session, run.run_id, fresh=True))
        code = status.HTTP_201_CREATED
    else:
        public = DispatchRunPublic.of(run, feeder)
        jobs.submit(run.run_id)
        code = status.HTTP_202_ACCEPTED
    return JSONResponse(
        public.model_dump(mode="json"), status_code=code, headers={"Location": location}
    )


@router.get("/feeders/{feeder}/dispatch-runs", response_model=list[DispatchRunPublic])
def list_runs(_: Viewer, session: SessionDep, feeder: FeederName) -> list[DispatchRunPublic]:
    """Dispatch runs of a feeder, newest first (up to 100)."""
    return [DispatchRunPublic.of(run, feeder) for run in views.runs(session, feeder)]


@router.get(
    "/dispatch-runs/{run_id}",
    response_model=DispatchRunPublic,
    responses={404: {"description": "Unknown run"}},
)
def get_run(_: Viewer, session: SessionDep, run_id: RunId) -> DispatchRunPublic:
    """Status, progress, request and AC-verified summary of a run."""
    return DispatchRunPublic.of(*views.run(session, run_id))


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
    run, feeder, cancelled = views.cancel(session, run_id, principal)
    return JSONResponse(
        DispatchRunPublic.of(run, feeder).model_dump(mode="json"),
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
    return SchedulePublic.of(views.run_schedule(session, run_id, points))


@router.get(
    "/dispatch-runs/{run_id}/envelopes",
    response_model=EnvelopesPublic,
    responses={404: {"description": "Unknown run, or the run has no schedule"}},
)
def get_run_envelopes(_: Viewer, session: SessionDep, run_id: RunId) -> EnvelopesPublic:
    """Dynamic operating envelopes of the run's schedule [MW]."""
    return EnvelopesPublic.of(*views.run_envelopes(session, run_id))


@router.get(
    "/dispatch-runs/{run_id}/diagnosis",
    response_model=DiagnosisPublic,
    responses={404: {"description": "Unknown run"}},
)
def get_diagnosis(_: Viewer, session: SessionDep, run_id: RunId) -> DiagnosisPublic:
    """Limits that must give for an infeasible run (empty list otherwise)."""
    run, _feeder = views.run(session, run_id)
    return DiagnosisPublic.of(run)


@router.get(
    "/feeders/{feeder}/schedules/active",
    response_model=SchedulePublic,
    responses={404: {"description": "Unknown feeder, or no active schedule"}},
)
def get_active_schedule(
    _: Viewer, session: SessionDep, feeder: FeederName, points: PointFilterDep
) -> SchedulePublic:
    """The feeder's active schedule (filter by DER and periods)."""
    return SchedulePublic.of(views.active(session, feeder, points))


@router.get(
    "/feeders/{feeder}/envelopes/active",
    response_model=EnvelopesPublic,
    responses={404: {"description": "Unknown feeder, or no active schedule"}},
)
def get_active_envelopes(_: Viewer, session: SessionDep, feeder: FeederName) -> EnvelopesPublic:
    """Dynamic operating envelopes of the feeder's active schedule [MW]."""
    return EnvelopesPublic.of(*views.active_envelopes(session, feeder))


_DECIDE_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "Unknown feeder or schedule"},
    409: {"description": "Not pending, or computed on an older topology"},
}


ScheduleId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _decision(approve: bool, name: str, doc: str) -> None:
    """Add the route that approves (``approve``) or rejects a schedule waiting for approval."""

    def decide(
        principal: Operator, session: SessionDep, feeder: FeederName, schedule_id: ScheduleId
    ) -> SchedulePublic:
        schedule = service.decide(session, principal, feeder, schedule_id, approve=approve)
        return SchedulePublic.of(views.schedule_view(session, schedule, None))

    decide.__doc__ = doc
    router.post(
        f"/feeders/{{feeder}}/schedules/{{schedule_id}}/{name}",
        response_model=SchedulePublic,
        responses=_DECIDE_RESPONSES,
        name=name,
    )(decide)


_decision(True, "approve", "Activate a schedule waiting for approval (operator).")
_decision(False, "reject", "Reject a schedule waiting for approval (operator).")
