"""Feeders: built-ins, loading, inspection, topology, switching, operating mode and location."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.body import body_doc, json_body, refuse_deep_json
from api.deps import Admin, Adms, ModelsDep, Operator, SessionDep, Viewer
from api.schemas import (
    BuiltinFeederPublic,
    FeederCreate,
    FeederDetailPublic,
    FeederLocationPublic,
    FeederLocationUpdate,
    FeederPublic,
    FeederVersionPublic,
    ModeUpdate,
    SwitchOperation,
    SwitchResultPublic,
    TopologyPublic,
)
from gridderms.bounds import Name
from gridderms.persistence.repositories import feeder_by_name
from gridderms.service import feeders as service
from gridderms.service.auth import Principal
from gridderms.service.feeders import (
    FeederLocationError,
    FeederModels,
    FeederUploadError,
    UploadFormat,
)

router = APIRouter(tags=["feeders"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]
_UNKNOWN_FEEDER: dict[int | str, dict[str, object]] = {404: {"description": "Unknown feeder"}}


@router.get("/builtin-feeders", response_model=list[BuiltinFeederPublic])
def builtin_feeders(_: Viewer) -> list[BuiltinFeederPublic]:
    """Built-in reference feeders that can be loaded."""
    return [BuiltinFeederPublic(**b) for b in service.list_builtins()]


@router.get("/feeders", response_model=list[FeederPublic])
def list_feeders(_: Viewer, session: SessionDep, models: ModelsDep) -> list[FeederPublic]:
    """Loaded feeders, each with its effective location."""
    return [FeederPublic(**service.summary(models, row)) for row in service.list_feeders(session)]


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
    return FeederPublic(**service.summary(models, row))


MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: room for the multipart/form-data framing around the file (boundaries, part headers, a few
#: small fields) [bytes]
MULTIPART_OVERHEAD_BYTES = 64 * 1024
#: upload format by file name extension, when the ``format`` query parameter is not given
FORMAT_BY_EXTENSION: dict[str, UploadFormat] = {
    ".json": "pandapower-json",
    ".m": "matpower",
    ".mat": "matpower-mat",
}
_FORMATS_TEXT = "pandapower-json (pandapower.to_json), matpower (.m text) or matpower-mat (.mat)"
_EXTENSIONS_TEXT = ", ".join(f"{ext} ({fmt})" for ext, fmt in FORMAT_BY_EXTENSION.items())
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The feeder file: pandapower JSON (pandapower.to_json), MATPOWER .m "
        "text or a MATPOWER .mat file (a struct mpc saved by MATLAB/Octave/scipy.io.savemat), "
        f"at most {MAX_UPLOAD_BYTES // 2**20} MiB. Either as a multipart/form-data file part "
        "named `file` (`curl -F file=@case33.m`; without the `format` query parameter the "
        f"format follows the file name's extension: {_EXTENSIONS_TEXT}) or as the raw request "
        "body (then `format` is required).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The feeder file (.json, .m or .mat)",
                        }
                    },
                    "required": ["file"],
                },
            },
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _too_large(size_bytes: int | str) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"feeder upload of {size_bytes} bytes or more; a feeder file of at most "
        f"{MAX_UPLOAD_BYTES} bytes is accepted",
    )


def _invalid(loc: list[str], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


def _location_invalid(where: str, exc: FeederLocationError) -> RequestValidationError:
    """422 for a location problem in the ``where`` (``body`` or ``query``), at its field."""
    return _invalid([where, *([exc.field] if exc.field else [])], str(exc), "feeder_location")


async def _body_chunks(request: Request, limit_bytes: int) -> AsyncGenerator[bytes, None]:
    """The request body chunk by chunk; 413 as soon as more than ``limit_bytes`` arrived
    (whatever Content-Length said, e.g. for a chunked body)."""
    received_bytes = 0
    async for chunk in request.stream():
        received_bytes += len(chunk)
        if received_bytes > limit_bytes:
            raise _too_large(received_bytes)
        yield chunk


async def _multipart_file(request: Request) -> tuple[bytes, str]:
    """The content and file name of the part ``file`` of a multipart/form-data body, parsed
    while it streams in (at most one file, a few small fields, 413 past the size limit)."""
    parser = MultiPartParser(
        request.headers,
        _body_chunks(request, MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES),
        max_files=1,
        max_fields=8,
        max_part_size=64 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise _invalid(
            ["body"], f"malformed multipart/form-data body: {exc.message}", "multipart"
        ) from None
    try:
        part = form.get("file")
        if part is None:
            raise _invalid(
                ["body", "file"],
                "no part named 'file' in the multipart/form-data body; send the feeder file "
                "as the file part 'file' (curl -F file=@case33.m)",
                "missing",
            )
        if not isinstance(part, UploadFile):
            raise _invalid(
                ["body", "file"],
                "the part 'file' is a plain form field, not a file; send the feeder file as a "
                "file part with a file name (curl -F file=@case33.m)",
                "file_type",
            )
        if part.size is not None and part.size > MAX_UPLOAD_BYTES:
            raise _too_large(part.size)
        content = await part.read()
        if len(content) > MAX_UPLOAD_BYTES:
            raise _too_large(len(content))
        return content, part.filename or ""
    finally:
        await form.close()


def _format_of(filename: str) -> UploadFormat:
    """The upload format named by the extension of ``filename`` (a browser may send a
    Windows path), or 422 naming the problem."""
    if not filename:
        raise _invalid(
            ["query", "format"],
            f"no format: the file part has no file name to infer it from; give the format "
            f"query parameter: {_FORMATS_TEXT}",
            "missing",
        )
    extension = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if extension not in FORMAT_BY_EXTENSION:
        raise _invalid(
            ["query", "format"],
            f"cannot infer the format from the file name '{filename}': extension "
            f"'{extension}' is none of {_EXTENSIONS_TEXT}; give the format query parameter",
            "enum",
        )
    return FORMAT_BY_EXTENSION[extension]


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
    openapi_extra=_UPLOAD_BODY,
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
            description=f"{_FORMATS_TEXT}; default for a multipart upload: from the file "
            f"name's extension ({_EXTENSIONS_TEXT}); required for a raw body",
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
        service.location_input(location)
    except FeederLocationError as exc:
        raise _location_invalid("query", exc) from None
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    multipart = media_type == "multipart/form-data"
    limit_bytes = MAX_UPLOAD_BYTES + (MULTIPART_OVERHEAD_BYTES if multipart else 0)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise _too_large(declared)
    if multipart:
        content, filename = await _multipart_file(request)
        if file_format is None:
            file_format = _format_of(filename)
    else:
        if file_format is None:
            raise _invalid(
                ["query", "format"],
                f"no format: give the format query parameter ({_FORMATS_TEXT}), or upload "
                f"the file as multipart/form-data with a file name ending in .json, .m or .mat",
                "missing",
            )
        content = b"".join([chunk async for chunk in _body_chunks(request, limit_bytes)])
    if file_format == "pandapower-json":
        refuse_deep_json(content)
    try:
        row = await run_in_threadpool(
            service.upload, session, models, principal, name, file_format, content, location
        )
    except FeederUploadError as exc:
        raise RequestValidationError(
            [{"loc": ["body"], "msg": str(exc), "type": "feeder_file"}]
        ) from None
    return FeederPublic(**await run_in_threadpool(service.summary, models, row))


@router.get("/feeders/{feeder}", response_model=FeederDetailPublic, responses=_UNKNOWN_FEEDER)
def inspect_feeder(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> FeederDetailPublic:
    """Size, voltage levels, topology summary, model notes and effective location."""
    return FeederDetailPublic(**service.describe(models, feeder_by_name(session, feeder)))


@router.get(
    "/feeders/{feeder}/location", response_model=FeederLocationPublic, responses=_UNKNOWN_FEEDER
)
def feeder_location(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> FeederLocationPublic:
    """Where the feeder is and its time zone: set by the user, else declared by its model,
    its built-in region or the default (``source`` says which)."""
    return FeederLocationPublic(**models.location(feeder_by_name(session, feeder)).to_dict())


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
        raise _location_invalid("body", exc) from None
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
    models: ModelsDep,
    feeder: FeederName,
    body: Annotated[ModeUpdate, Depends(json_body(ModeUpdate))],
) -> FeederPublic:
    """Set the operating mode: ``manual`` (schedules wait for approval) or ``automatic``."""
    row = service.set_mode(session, principal, feeder, body.operating_mode)
    return FeederPublic(**service.summary(models, row))
