"""Commands to DERs, queued for the SCADA bridge.

The service decides *what* each DER must do; the bridge (DNP3 master) sends it and reports
back. Commands are queued here, in the same transaction as the decision that causes them:

- an activated schedule queues one ``schedule`` command per dispatched DER with its set-points
  over the horizon (``p_mw``/``q_mvar`` per period [MW]/[MVAr]); pending schedule commands of
  an older schedule are ``superseded``;
- an operator override queues a ``setpoint`` command (``p_mw``, ``q_mvar``), clearing it a
  ``setpoint_release``; each supersedes that DER's pending override command;
- a lock-out or removal of a DER cancels its pending commands (``cancelled``, with why).

DERs fixed in a schedule (overridden, locked out, offline) get no schedule command: their
override command, or nothing, stands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridderms.persistence import commands as store
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.models import CommandRow, ScheduleRow, utcnow

COMMAND_KINDS = ("schedule", "setpoint", "setpoint_release")
COMMAND_STATUSES = ("pending", "sent", "acknowledged", "failed", "superseded", "cancelled")


def queue_schedule(
    session: Session,
    schedule: ScheduleRow,
    points: Iterable[Mapping[str, Any]],
    requested_by: str,
    allowed: set[str],
) -> int:
    """Queue the ``schedule`` commands of an activated ``schedule``; return how many.

    ``points`` are the schedule's points (``der_id``, ``period``, ``p_mw`` [MW], ``q_mvar``
    [MVAr], ``mode``), as written by or read with
    :func:`~gridderms.persistence.runs.schedule_points`, in any order, checked
    against the DERs' capability (:func:`gridderms.service.activation.checked_points`); a DER
    whose mode is ``fixed``, or not in ``allowed`` (the DERs that may be commanded now:
    :func:`gridderms.service.activation.commandable`), gets no command.
    """
    set_points: dict[str, tuple[list[float], list[float]]] = {}
    periods: dict[str, list[int]] = {}
    for point in points:
        if point["mode"] == "fixed" or point["der_id"] not in allowed:
            continue
        der_id, p_mw, q_mvar = point["der_id"], point["p_mw"], point["q_mvar"]
        period = point["period"]
        p_list, q_list = set_points.setdefault(der_id, ([], []))
        p_list.append(p_mw + 0.0)  # no negative zeros on the wire
        q_list.append(q_mvar + 0.0)
        periods.setdefault(der_id, []).append(period)
    store.supersede_pending(session, schedule.feeder_id, ("schedule",), None)
    now = utcnow()
    rows = []
    for der_id, (p_list, q_list) in set_points.items():
        order = sorted(range(len(p_list)), key=periods[der_id].__getitem__)
        rows.append(
            {
                "feeder_id": schedule.feeder_id,
                "der_id": der_id,
                "schedule_id": schedule.id,
                "kind": "schedule",
                "payload": {
                    "start": schedule.start.isoformat(),
                    "step_minutes": schedule.step_minutes,
                    "p_mw": [p_list[i] for i in order],
                    "q_mvar": [q_list[i] for i in order],
                },
                "status": "pending",
                "requested_by": requested_by,
                "created_at": now,
            }
        )
    store.insert_commands(session, rows)
    return len(rows)


def queue_setpoint(
    session: Session,
    feeder_id: int,
    der_id: str,
    setpoint: tuple[float, float] | None,
    requested_by: str,
) -> None:
    """Queue an operator set-point ``(p_mw, q_mvar)`` for a DER, or its release (``None``)."""
    store.supersede_pending(session, feeder_id, ("setpoint", "setpoint_release"), der_id)
    payload: dict[str, Any] = (
        {} if setpoint is None else {"p_mw": setpoint[0], "q_mvar": setpoint[1]}
    )
    session.add(
        CommandRow(
            feeder_id=feeder_id,
            der_id=der_id,
            kind="setpoint" if setpoint is not None else "setpoint_release",
            payload=payload,
            status="pending",
            requested_by=requested_by,
            created_at=utcnow(),
        )
    )


def list_commands(
    session: Session,
    feeder_name: str,
    *,
    status: str | None = None,
    kind: str | None = None,
    der_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[CommandRow]:
    """Commands of a feeder, newest first.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    """
    feeder = feeder_by_name(session, feeder_name)
    return store.commands_of(
        session, feeder.id, status=status, kind=kind, der_id=der_id, since=since, limit=limit
    )


__all__ = ["list_commands", "queue_schedule", "queue_setpoint"]
