"""Audit trail (read) and API keys (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from sqlalchemy import select

from api.body import body_doc, json_body
from api.deps import Admin, SessionDep, Viewer
from api.schemas import ApiKeyCreate, ApiKeyCreatedPublic, ApiKeyPublic, AuditPublic
from gridderms.persistence.models import AuditRow
from gridderms.service import auth

router = APIRouter(tags=["audit", "keys"])


@router.get("/audit", response_model=list[AuditPublic])
def audit(
    _: Viewer,
    session: SessionDep,
    target_type: Annotated[str | None, Query(max_length=40)] = None,
    target_id: Annotated[str | None, Query(max_length=300)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditPublic]:
    """Audit rows, newest first, filtered by target, action or actor."""
    query = select(AuditRow)
    for column, value in (
        (AuditRow.target_type, target_type),
        (AuditRow.target_id, target_id),
        (AuditRow.action, action),
        (AuditRow.actor, actor),
    ):
        if value is not None:
            query = query.where(column == value)
    rows = session.scalars(query.order_by(AuditRow.id.desc()).limit(limit))
    return [AuditPublic.model_validate(row) for row in rows]


@router.get("/keys", response_model=list[ApiKeyPublic])
def list_keys(_: Admin, session: SessionDep) -> list[ApiKeyPublic]:
    """API keys (names, prefixes and roles; never the keys)."""
    return [ApiKeyPublic.model_validate(row) for row in auth.list_keys(session)]


@router.post(
    "/keys",
    response_model=ApiKeyCreatedPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "Name taken"}},
    openapi_extra=body_doc("ApiKeyCreate"),
)
def create_key(
    principal: Admin,
    session: SessionDep,
    body: Annotated[ApiKeyCreate, Depends(json_body(ApiKeyCreate))],
) -> ApiKeyCreatedPublic:
    """Create an API key; the key is returned once and only its hash is stored."""
    row, plain = auth.create_key(session, principal, body.name, body.role)
    return ApiKeyCreatedPublic(**ApiKeyPublic.model_validate(row).model_dump(), key=plain)


@router.delete(
    "/keys/{name}", response_model=ApiKeyPublic, responses={404: {"description": "Unknown key"}}
)
def revoke_key(
    principal: Admin,
    request: Request,
    session: SessionDep,
    name: Annotated[str, Path(max_length=200)],
) -> ApiKeyPublic:
    """Revoke an API key (at once in this process; other service processes stop accepting it
    within ``GRIDDERMS_AUTH_CACHE_S``)."""
    revoked = auth.revoke_key(session, principal, name)
    request.app.state.principals.clear()
    return ApiKeyPublic.model_validate(revoked)
