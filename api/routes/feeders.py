"""Feeders: built-ins, loading, inspection, topology, switching and operating mode."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.body import body_doc, json_body
from api.deps import Admin, Adms, ModelsDep, Operator, SessionDep, Viewer
from api.schemas import (
    NAME_PATTERN,
    BuiltinFeederPublic,
    FeederCreate,
    FeederDetailPublic,
    FeederPublic,
    FeederVersionPublic,
    ModeUpdate,
    SwitchOperation,
    SwitchResultPublic,
    TopologyPublic,
)
from gridderms.persistence.repositories import feeder_by_name
from gridderms.service import feeders as service
from gridderms.service.auth import Principal
from gridderms.service.feeders import FeederModels, FeederUploadError, UploadFormat

router = APIRouter(tags=["feeders"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]


@router.get("/builtin-feeders", response_model=list[BuiltinFeederPublic])
def builtin_feeders(_: Viewer) -> list[BuiltinFeederPublic]:
    """Built-in reference feeders that can be loaded."""
    return [BuiltinFeederPublic(**b) for b in service.list_builtins()]


@router.get("/feeders", response_model=list[FeederPublic])
def list_feeders(_: Viewer, session: SessionDep) -> list[FeederPublic]:
    """Loaded feeders."""
    return [FeederPublic.model_validate(row) for row in service.list_feeders(session)]


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
    return FeederPublic.model_validate(row)


MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file as the raw request body: pandapower JSON (pandapower.to_json) "
        "or MATPOWER .m text.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/feeders/upload",
    response_model=FeederPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "A feeder with that name is already loaded"},
        413: {"description": f"File larger than {MAX_UPLOAD_BYTES // 2**20} MiB"},
        422: {"description": "Unreadable file, or a model failing validation (named)"},
    },
    openapi_extra=_UPLOAD_BODY,
)
async def upload_feeder(
    principal: Admin,
    request: Request,
    session: SessionDep,
    models: ModelsDep,
    name: Annotated[str, Query(pattern=NAME_PATTERN, description="Name of the new feeder")],
    file_format: Annotated[
        UploadFormat,
        Query(
            alias="format",
            description="pandapower-json (pandapower.to_json) or matpower (.m text)",
        ),
    ],
) -> FeederPublic:
    """Load a feeder from an uploaded pandapower JSON or MATPOWER ``.m`` file (admin): read
    and validated like a file given to the command line, stored with the file, its DERs
    registered. A malformed file or a model failing validation is 422 naming the problem."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"feeder file of {declared} bytes; at most {MAX_UPLOAD_BYTES} are accepted",
        )
    content = await request.body()
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"feeder file of {len(content)} bytes; at most {MAX_UPLOAD_BYTES} are accepted",
        )
    try:
        row = await run_in_threadpool(
            service.upload, session, models, principal, name, file_format, content
        )
    except FeederUploadError as exc:
        raise RequestValidationError(
            [{"loc": ["body"], "msg": str(exc), "type": "feeder_file"}]
        ) from None
    return FeederPublic.model_validate(row)


@router.get("/feeders/{feeder}", response_model=FeederDetailPublic)
def inspect_feeder(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> FeederDetailPublic:
    """Size, voltage levels, topology summary and model notes."""
    return FeederDetailPublic(**service.describe(models, feeder_by_name(session, feeder)))


@router.get("/feeders/{feeder}/topology", response_model=TopologyPublic)
def feeder_topology(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> TopologyPublic:
    """The in-service topology and every switch state at the current version."""
    return TopologyPublic(**service.topology(models, feeder_by_name(session, feeder)))


@router.get("/feeders/{feeder}/versions", response_model=list[FeederVersionPublic])
def feeder_versions(
    _: Viewer, session: SessionDep, feeder: FeederName
) -> list[FeederVersionPublic]:
    """Topology history (version 0: the loaded model)."""
    rows = service.versions(session, feeder_by_name(session, feeder))
    return [FeederVersionPublic.model_validate(row) for row in rows]


def _switch(
    principal: Principal,
    session: Session,
    models: FeederModels,
    feeder: str,
    switch_id: int,
    body: SwitchOperation,
    closed: bool,
) -> SwitchResultPublic:
    row, changed = service.operate_switch(
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


_SWITCH_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "Unknown feeder or switch"},
    409: {"description": "Stale expected_version or a topology change in progress"},
}


@router.post(
    "/feeders/{feeder}/switches/{switch_id}/open",
    response_model=SwitchResultPublic,
    responses=_SWITCH_RESPONSES,
    openapi_extra=body_doc("SwitchOperation", required=False),
)
def open_switch(
    principal: Adms,
    session: SessionDep,
    models: ModelsDep,
    feeder: FeederName,
    switch_id: Annotated[int, Path(ge=0, le=2**31 - 1)],
    body: Annotated[SwitchOperation, Depends(json_body(SwitchOperation, optional=True))],
) -> SwitchResultPublic:
    """Open a switch (ADMS switching): bumps the topology version, audited."""
    return _switch(principal, session, models, feeder, switch_id, body, closed=False)


@router.post(
    "/feeders/{feeder}/switches/{switch_id}/close",
    response_model=SwitchResultPublic,
    responses=_SWITCH_RESPONSES,
    openapi_extra=body_doc("SwitchOperation", required=False),
)
def close_switch(
    principal: Adms,
    session: SessionDep,
    models: ModelsDep,
    feeder: FeederName,
    switch_id: Annotated[int, Path(ge=0, le=2**31 - 1)],
    body: Annotated[SwitchOperation, Depends(json_body(SwitchOperation, optional=True))],
) -> SwitchResultPublic:
    """Close a switch (ADMS switching): bumps the topology version, audited."""
    return _switch(principal, session, models, feeder, switch_id, body, closed=True)


@router.put(
    "/feeders/{feeder}/mode",
    response_model=FeederPublic,
    openapi_extra=body_doc("ModeUpdate"),
)
def set_mode(
    principal: Operator,
    session: SessionDep,
    feeder: FeederName,
    body: Annotated[ModeUpdate, Depends(json_body(ModeUpdate))],
) -> FeederPublic:
    """Set the operating mode: ``manual`` (schedules wait for approval) or ``automatic``."""
    row = service.set_mode(session, principal, feeder, body.operating_mode)
    return FeederPublic.model_validate(row)
