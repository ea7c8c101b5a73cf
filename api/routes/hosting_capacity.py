"""Hosting-capacity studies: requested as background jobs, fetched with their per-bus table,
cancelled."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.body import body_doc, check_voltage_band, json_body
from api.deps import Adms, ModelsDep, SessionDep, SettingsDep, Viewer
from api.schemas import HostingCapacityCreate
from api.schemas.runs import HostingCapacityRunPublic, HostingCapacityTablePublic
from gridderms.service import hosting_capacity as service
from gridderms.service.hosting_capacity_spec import StudyNotApplicableError

router = APIRouter(tags=["hosting capacity"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]
RunId = Annotated[str, Path(description="Id of a hosting-capacity run", max_length=64)]


@router.post(
    "/feeders/{feeder}/hosting-capacity",
    response_model=HostingCapacityRunPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        400: {"description": "A bus the feeder does not have, or a de-energised one"},
        404: {"description": "Unknown feeder"},
        409: {"description": "Topology change in progress or stale expected_feeder_version"},
        422: {
            "description": "Invalid request, or a time-series window or managed study the "
            "feeder cannot do (no profiles, a window outside them, no PV profile)"
        },
    },
    openapi_extra=body_doc("HostingCapacityCreate", required=False),
)
def request_hosting_capacity(
    principal: Adms,
    request: Request,
    session: SessionDep,
    models: ModelsDep,
    settings: SettingsDep,
    feeder: FeederName,
    body: Annotated[
        HostingCapacityCreate, Depends(json_body(HostingCapacityCreate, optional=True))
    ],
) -> Response:
    """Request a hosting-capacity study (adms): 202 + ``Location`` of the run; poll its
    ``status`` and ``progress``, the table arrives with ``done``. With ``timeseries`` (a window
    of the feeder's profile steps) the summary also has per bus and mode the lowest capacity
    over the window, with ``managed`` the managed capacity of a curtailable PV.
    ``min_load_share`` (default 0.25) sets the loads of the generation case (feeders without
    load profiles); the summary reports it and the ``operating_point`` in words."""
    limits = settings.operating_limits()
    check_voltage_band(body.vm_min_pu, body.vm_max_pu, limits.vm_min_pu, limits.vm_max_pu)
    try:
        run = service.request_run(session, models, principal, feeder, body)
    except StudyNotApplicableError as exc:
        raise RequestValidationError(
            [{"loc": ["body", "timeseries"], "msg": str(exc), "type": "study_not_applicable"}]
        ) from None
    request.app.state.hosting_jobs.submit(run.run_id)
    public = HostingCapacityRunPublic.of(run, feeder)
    return JSONResponse(
        public.model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/api/v1/hosting-capacity/{run.run_id}"},
    )


@router.get(
    "/feeders/{feeder}/hosting-capacity",
    response_model=list[HostingCapacityRunPublic],
    responses={404: {"description": "Unknown feeder"}},
)
def list_hosting_capacity(
    _: Viewer, session: SessionDep, feeder: FeederName
) -> list[HostingCapacityRunPublic]:
    """Hosting-capacity studies of a feeder, newest first (up to 100; without tables)."""
    return [HostingCapacityRunPublic.of(run, feeder) for run in service.studies(session, feeder)]


@router.get(
    "/hosting-capacity/{run_id}",
    response_model=HostingCapacityTablePublic,
    responses={404: {"description": "Unknown run"}},
)
def get_hosting_capacity(
    _: Viewer, session: SessionDep, run_id: RunId
) -> HostingCapacityTablePublic:
    """Status of a study and, once ``done``, its table: per bus the capacity for new
    generation and new load [MW] and the binding limit."""
    return HostingCapacityTablePublic.of_table(*service.study(session, run_id))


@router.post(
    "/hosting-capacity/{run_id}/cancel",
    response_model=HostingCapacityRunPublic,
    responses={
        202: {"model": HostingCapacityRunPublic, "description": "Running: stops shortly"},
        404: {"description": "Unknown run"},
        409: {"description": "The study has finished (the message names its status)"},
    },
)
def cancel_hosting_capacity(principal: Adms, session: SessionDep, run_id: RunId) -> Response:
    """Cancel a study (adms): a queued one is ``cancelled`` at once (200); a running one is
    ``cancelling`` (202) and stops at its next progress report, storing no table."""
    run, feeder, cancelled = service.cancel(session, run_id, principal)
    public = HostingCapacityRunPublic.of(run, feeder)
    return JSONResponse(
        public.model_dump(mode="json"),
        status_code=status.HTTP_200_OK if cancelled else status.HTTP_202_ACCEPTED,
    )
