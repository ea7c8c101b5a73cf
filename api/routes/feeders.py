"""Feeders: built-ins, loading, inspection, topology, switching, operating mode and location."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from api.body import body_doc, json_body
from api.deps import Admin, Adms, ModelsDep, Operator, SessionDep, Viewer
from api.routes.feeder_upload import (
    EXTENSIONS_TEXT,
    FORMATS_TEXT,
    MAX_UPLOAD_BYTES,
    UPLOAD_BODY,
    location_invalid,
    read_upload,
)
from api.schemas import FeederCreate, FeederLocationUpdate, ModeUpdate, SwitchOperation
from api.schemas.feeders import (
    BuiltinFeederPublic,
    FeederDetailPublic,
    FeederLocationPublic,
    FeederPublic,
    FeederVersionPublic,
    SwitchResultPublic,
    TopologyPublic,
)
from gridderms.bounds import Name
from gridderms.service import dispatch_runs
from gridderms.service import feeder_topology as topology_service
from gridderms.service import feeders as service
from gridderms.service.feeder_location import FeederLocationError, location_input
from gridderms.service.feeders import FeederUploadError, UploadFormat

router = APIRouter(tags=["feeders"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]
_UNKNOWN_FEEDER: dict[int | str, dict[str, object]] = {404: {"description": "Unknown feeder"}}


@router.get("/builtin-feeders", response_model=list[BuiltinFeederPublic])
def builtin_feeders(_: Viewer) -> list[BuiltinFeederPublic]:
    """Built-in reference feeders that can be loaded."""
    return [BuiltinFeederPublic.model_validate(b) for b in service.list_builtins()]


@router.get("/feeders", response_model=list[FeederPublic])
def list_feeders(_: Viewer, session: SessionDep, models: ModelsDep) -> list[FeederPublic]:
    """Loaded feeders, each with its effective location."""
    return [FeederPublic.of(row, models.location(row)) for row in service.list_feeders(session)]


@router.post(
    "/feeders",
    response_model=FeederPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "Unknown built-in feeder"},
        409: {"description": "A feeder with that name is already loaded"},
    },
    openapi_extra=body_doc("FeederCreate"),
)
def load_feeder(
    principal: Admin,
    session: SessionDep,
    models: ModelsDep,
    body: Annotated[FeederCreate, Depends(json_body(FeederCreate))],
) -> FeederPublic:
    """Load a built-in feeder and register its DERs (admin)."""
    row = service.load_builtin(session, models, principal, body.builtin, body.name)
    return FeederPublic.of(row, models.location(row))


@router.post(
    "/feeders/upload",
    response_model=FeederPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "A feeder with that name is already loaded"},
        413: {"description": f"File larger than {MAX_UPLOAD_BYTES // 2**20} MiB"},
        422: {
            "description": "Unreadable file, a model failing validation, no format given or "
            "inferable, a malformed multipart body, or an incomplete or invalid location "
            "(named)"
        },
    },
    openapi_extra=UPLOAD_BODY,
)
async def upload_feeder(
    principal: Admin,
    request: Request,
    session: SessionDep,
    models: ModelsDep,
    name: Annotated[Name, Query(description="Name of the new feeder")],
    file_format: Annotated[
        UploadFormat | None,
        Query(
            alias="format",
            description=f"{FORMATS_TEXT}; default for a multipart upload: from the file "
            f"name's extension ({EXTENSIONS_TEXT}); required for a raw body",
        ),
    ] = None,
    latitude_deg: Annotated[
        float | None,
        Query(
            ge=-90,
            le=90,
            description="Latitude of the feeder [degrees north]; with longitude_deg and tz it "
            "sets the feeder's location (default: the model's or the default)",
            examples=[48.4],
        ),
    ] = None,
    longitude_deg: Annotated[
        float | None,
        Query(
            ge=-180,
            le=180,
            description="Longitude of the feeder [degrees east]; with latitude_deg and tz",
            examples=[7.9],
        ),
    ] = None,
    altitude_m: Annotated[
        float | None,
        Query(
            ge=-500,
            le=9000,
            description="Altitude of the feeder above sea level [m] (with latitude_deg, "
            "longitude_deg and tz; default 0 m)",
            examples=[150.0],
        ),
    ] = None,
    tz: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="IANA time zone of the feeder (with latitude_deg and longitude_deg)",
            examples=["Europe/Berlin"],
        ),
    ] = None,
) -> FeederPublic:
    """Load a feeder from an uploaded pandapower JSON, MATPOWER ``.m`` or MATPOWER ``.mat``
    file (admin), sent as a multipart/form-data file part ``file`` or as the raw body: read
    and validated like a file given to the command line, stored with the file, its DERs
    registered. A malformed file or a model failing validation is 422 naming the problem.
    ``latitude_deg``, ``longitude_deg`` and ``tz`` (and optionally ``altitude_m``) set the
    feeder's location, as ``PUT /feeders/{feeder}/location`` does; given only in part, or
    invalid, they are 422 naming the problem, before the file is read."""
    location = {
        "latitude_deg": latitude_deg,
        "longitude_deg": longitude_deg,
        "altitude_m": altitude_m,
        "tz": tz,
    }
    try:
        location_input(location)
    except FeederLocationError as exc:
        raise location_invalid("query", exc) from None
    content, file_format = await read_upload(request, file_format)
    try:
        row = await run_in_threadpool(
            service.upload, session, models, principal, name, file_format, content, location
        )
    except FeederUploadError as exc:
        raise RequestValidationError(
            [{"loc": ["body"], "msg": str(exc), "type": "feeder_file"}]
        ) from None
    return FeederPublic.of(row, await run_in_threadpool(models.location, row))


@router.get("/feeders/{feeder}", response_model=FeederDetailPublic, responses=_UNKNOWN_FEEDER)
def inspect_feeder(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> FeederDetailPublic:
    """Size, voltage levels, topology summary, model notes and effective location."""
    row = service.get(session, feeder)
    return topology_service.read_model(models, row, FeederDetailPublic.of)


@router.get(
    "/feeders/{feeder}/location", response_model=FeederLocationPublic, responses=_UNKNOWN_FEEDER
)
def feeder_location(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> FeederLocationPublic:
    """Where the feeder is and its time zone: set by the user, else declared by its model,
    its built-in region or the default (``source`` says which)."""
    return FeederLocationPublic(**models.location(service.get(session, feeder)).to_dict())


@router.put(
    "/feeders/{feeder}/location",
    response_model=FeederLocationPublic,
    responses={
        **_UNKNOWN_FEEDER,
        422: {"description": "A value out of range or an unknown time zone (named)"},
    },
    openapi_extra=body_doc("FeederLocationUpdate"),
)
def set_location(
    principal: Admin,
    session: SessionDep,
    models: ModelsDep,
    feeder: FeederName,
    body: Annotated[FeederLocationUpdate, Depends(json_body(FeederLocationUpdate))],
) -> FeederLocationPublic:
    """Set where the feeder is and its time zone (admin), replacing what its model, its
    built-in region or the default gives; audited, used by every later power flow, dispatch
    and study. An unknown time zone is 422 naming it."""
    try:
        location = service.set_location(session, models, feeder, body.model_dump(), principal)
    except FeederLocationError as exc:
        raise location_invalid("body", exc) from None
    return FeederLocationPublic(**location.to_dict())


@router.delete(
    "/feeders/{feeder}/location", response_model=FeederLocationPublic, responses=_UNKNOWN_FEEDER
)
def reset_location(
    principal: Admin, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> FeederLocationPublic:
    """Drop the location set by the user (admin): the feeder is located by its model, its
    built-in region or the default again (returned); audited."""
    location = service.reset_location(session, models, feeder, principal)
    return FeederLocationPublic(**location.to_dict())


@router.get("/feeders/{feeder}/topology", response_model=TopologyPublic)
def feeder_topology(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> TopologyPublic:
    """The in-service topology and every switch state at the current version."""
    row = service.get(session, feeder)
    return topology_service.read_model(models, row, TopologyPublic.of)


@router.get("/feeders/{feeder}/versions", response_model=list[FeederVersionPublic])
def feeder_versions(
    _: Viewer, session: SessionDep, feeder: FeederName
) -> list[FeederVersionPublic]:
    """Topology history (version 0: the loaded model)."""
    rows = topology_service.versions(session, service.get(session, feeder))
    return [FeederVersionPublic.model_validate(row) for row in rows]


_SWITCH_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "Unknown feeder or switch"},
    409: {"description": "Stale expected_version or a topology change in progress"},
}
SwitchId = Annotated[int, Path(ge=0, le=2**31 - 1)]
SwitchBody = Annotated[SwitchOperation, Depends(json_body(SwitchOperation, optional=True))]


def _switching(closed: bool, name: str, doc: str) -> None:
    """Add the route that closes (``closed``) or opens a switch."""

    def operate(
        principal: Adms,
        session: SessionDep,
        models: ModelsDep,
        feeder: FeederName,
        switch_id: SwitchId,
        body: SwitchBody,
    ) -> SwitchResultPublic:
        row, changed = topology_service.operate_switch(
            session,
            models,
            principal,
            feeder,
            switch_id,
            closed=closed,
            expected_version=body.expected_version,
        )
        return SwitchResultPublic(
            feeder=feeder, switch_id=switch_id, closed=closed, changed=changed, version=row.version
        )

    operate.__doc__ = doc
    router.post(
        f"/feeders/{{feeder}}/switches/{{switch_id}}/{name.removesuffix('_switch')}",
        response_model=SwitchResultPublic,
        responses=_SWITCH_RESPONSES,
        openapi_extra=body_doc("SwitchOperation", required=False),
        name=name,
    )(operate)


_switching(
    False, "open_switch", "Open a switch (ADMS switching): bumps the topology version, audited."
)
_switching(
    True, "close_switch", "Close a switch (ADMS switching): bumps the topology version, audited."
)


@router.put(
    "/feeders/{feeder}/mode",
    response_model=FeederPublic,
    openapi_extra=body_doc("ModeUpdate"),
)
def set_mode(
    principal: Operator,
    session: SessionDep,
    models: ModelsDep,
    feeder: FeederName,
    body: Annotated[ModeUpdate, Depends(json_body(ModeUpdate))],
) -> FeederPublic:
    """Set the operating mode: ``manual`` (schedules wait for approval) or ``automatic``."""
    row = dispatch_runs.set_mode(session, principal, feeder, body.operating_mode)
    return FeederPublic.of(row, models.location(row))
