"""Alarms (raised and cleared by the service, acknowledged by operators) and the commands
queued for the DERs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api.deps import Operator, SessionDep, Viewer
from api.schemas.monitoring import AlarmPublic, CommandPublic
from gridderms.bounds import DateTime
from gridderms.service import alarms as alarm_service
from gridderms.service import commands as command_service

router = APIRouter(tags=["alarms", "commands"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]
Limit = Annotated[int, Query(ge=1, le=10_000, description="At most this many, newest first")]
_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "Unknown feeder"}}
ActiveOnly = Annotated[bool, Query(description="Only alarms whose condition persists")]
UnacknowledgedOnly = Annotated[bool, Query(description="Only unacknowledged alarms")]
Kind = Annotated[str | None, Query(max_length=60)]


@router.get("/alarms", response_model=list[AlarmPublic])
def list_alarms(
    _: Viewer,
    session: SessionDep,
    active: ActiveOnly = True,
    unacknowledged: UnacknowledgedOnly = False,
    kind: Kind = None,
    limit: Limit = 100,
) -> list[AlarmPublic]:
    """Alarms of every feeder (the control room's alarm list)."""
    return _alarms(session, None, active, unacknowledged, kind, None, limit)


@router.get("/feeders/{feeder}/alarms", response_model=list[AlarmPublic], responses=_NOT_FOUND)
def list_feeder_alarms(
    _: Viewer,
    session: SessionDep,
    feeder: FeederName,
    active: ActiveOnly = True,
    unacknowledged: UnacknowledgedOnly = False,
    kind: Kind = None,
    der_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 100,
) -> list[AlarmPublic]:
    """Alarms of one feeder, optionally of one DER."""
    return _alarms(session, feeder, active, unacknowledged, kind, der_id, limit)


def _alarms(
    session: SessionDep,
    feeder: str | None,
    active: bool,
    unacknowledged: bool,
    kind: str | None,
    der_id: str | None,
    limit: int,
) -> list[AlarmPublic]:
    rows = alarm_service.list_alarms(
        session,
        feeder,
        active_only=active,
        unacknowledged_only=unacknowledged,
        kind=kind,
        der_id=der_id,
        limit=limit,
    )
    return [AlarmPublic.of(row, name) for row, name in rows]


@router.post(
    "/alarms/{alarm_id}/acknowledge",
    response_model=AlarmPublic,
    responses={
        404: {"description": "Unknown alarm"},
        409: {"description": "Already acknowledged"},
    },
)
def acknowledge_alarm(
    principal: Operator,
    session: SessionDep,
    alarm_id: Annotated[int, Path(ge=1, le=2**62, description="Id of an alarm")],
) -> AlarmPublic:
    """Acknowledge an alarm (operator); it stays listed while its condition persists."""
    return AlarmPublic.of(*alarm_service.acknowledge(session, principal, alarm_id))


@router.get("/feeders/{feeder}/commands", response_model=list[CommandPublic], responses=_NOT_FOUND)
def list_commands(
    _: Viewer,
    session: SessionDep,
    feeder: FeederName,
    status: Annotated[
        Literal["pending", "sent", "acknowledged", "failed", "superseded", "cancelled"] | None,
        Query(),
    ] = None,
    kind: Annotated[Literal["schedule", "setpoint", "setpoint_release"] | None, Query()] = None,
    der_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[
        DateTime | None, Query(description="Queued at or after (ISO 8601 with an offset)")
    ] = None,
    limit: Limit = 100,
) -> list[CommandPublic]:
    """Commands queued for the feeder's DERs, newest first."""
    rows = command_service.list_commands(
        session, feeder, status=status, kind=kind, der_id=der_id, since=since, limit=limit
    )
    return [CommandPublic.of(row, feeder) for row in rows]
