"""DER groups of a feeder: CRUD (definitions stored, members resolved when read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from api.body import body_doc, json_body
from api.deps import Adms, ModelsDep, SessionDep, Viewer
from api.schemas import DerGroupCreate, DerGroupUpdate
from api.schemas.ders import DerGroupPublic
from gridderms.service import der_groups as service

router = APIRouter(tags=["der groups"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]
GroupName = Annotated[str, Path(description="Name of a DER group of the feeder", max_length=200)]
_INVALID: dict[int | str, dict[str, object]] = {
    400: {"description": "Inconsistent definition (unknown DER, der_type or feeder head...)"},
    404: {"description": "Unknown feeder or group"},
}


@router.get("/feeders/{feeder}/der-groups", response_model=list[DerGroupPublic])
def list_groups(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName
) -> list[DerGroupPublic]:
    """The feeder's DER groups with their members."""
    row, groups = service.list_groups(session, feeder)
    return [DerGroupPublic.of(service.view(session, models, row, g)) for g in groups]


@router.post(
    "/feeders/{feeder}/der-groups",
    response_model=DerGroupPublic,
    status_code=status.HTTP_201_CREATED,
    responses={**_INVALID, 409: {"description": "Group name taken on this feeder"}},
    openapi_extra=body_doc("DerGroupCreate"),
)
def create_group(
    principal: Adms,
    session: SessionDep,
    models: ModelsDep,
    feeder: FeederName,
    body: Annotated[DerGroupCreate, Depends(json_body(DerGroupCreate))],
) -> DerGroupPublic:
    """Define a DER group (adms)."""
    rule = service.GroupRule(body.by, body.value, body.members)
    row, group = service.define(session, models, principal, feeder, body.name, rule, new=True)
    return DerGroupPublic.of(service.view(session, models, row, group))


@router.get("/feeders/{feeder}/der-groups/{name}", response_model=DerGroupPublic)
def get_group(
    _: Viewer, session: SessionDep, models: ModelsDep, feeder: FeederName, name: GroupName
) -> DerGroupPublic:
    """One DER group with its members."""
    row, group = service.get(session, feeder, name)
    return DerGroupPublic.of(service.view(session, models, row, group))


@router.put(
    "/feeders/{feeder}/der-groups/{name}",
    response_model=DerGroupPublic,
    responses=_INVALID,
    openapi_extra=body_doc("DerGroupUpdate"),
)
def replace_group(
    principal: Adms,
    session: SessionDep,
    models: ModelsDep,
    feeder: FeederName,
    name: GroupName,
    body: Annotated[DerGroupUpdate, Depends(json_body(DerGroupUpdate))],
) -> DerGroupPublic:
    """Redefine a DER group (adms)."""
    rule = service.GroupRule(body.by, body.value, body.members)
    row, group = service.define(session, models, principal, feeder, name, rule, new=False)
    return DerGroupPublic.of(service.view(session, models, row, group))


@router.delete(
    "/feeders/{feeder}/der-groups/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def delete_group(
    principal: Adms, session: SessionDep, feeder: FeederName, name: GroupName
) -> Response:
    """Delete a DER group (adms); its DERs stay registered."""
    service.delete(session, principal, feeder, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
