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

The bridge reads a feeder's :func:`deliverable` commands and records what became of each
(:func:`record_delivery`): ``sent`` (written, not yet confirmed), ``acknowledged`` (the device
read it back) or ``failed`` (refused or not confirmed after the bridge's retries: an alarm on
the DER and an audit row, with the device's answer). A command that is no longer ``pending``
or ``sent`` (superseded or cancelled meanwhile) keeps its status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridderms.persistence import commands as store
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.models import CommandRow, ScheduleRow, utcnow
from gridderms.service.alarms import Condition, sync_conditions
from gridderms.service.audit_log import audit
from gridderms.service.principals import Principal

COMMAND_KINDS = ("schedule", "setpoint", "setpoint_release")
COMMAND_STATUSES = ("pending", "sent", "acknowledged", "failed", "superseded", "cancelled")
#: what the bridge may record of a command it delivers
DELIVERY_OUTCOMES = ("sent", "acknowledged", "failed")
#: alarm kind of a command a DER refused or did not confirm
COMMAND_FAILED_ALARM = "command_failed"


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


def deliverable(session: Session, feeder_name: str, der_ids: Iterable[str]) -> list[CommandRow]:
    """The pending commands of the DERs ``der_ids`` of feeder ``feeder_name``, oldest first.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    """
    feeder = feeder_by_name(session, feeder_name)
    return store.pending_of(session, feeder.id, sorted(set(der_ids)))


def record_delivery(
    session: Session,
    actor: Principal,
    feeder_name: str,
    command_id: int,
    outcome: str,
    answer: str,
) -> CommandRow | None:
    """Record what became of command ``command_id``: ``outcome`` (one of
    :data:`DELIVERY_OUTCOMES`) with the device's ``answer``; commits.

    A ``failed`` command raises the DER's :data:`COMMAND_FAILED_ALARM` alarm, an
    ``acknowledged`` one clears it; every outcome but ``sent`` writes an audit row. Returns the
    command, or None when it is no longer ``pending`` or ``sent`` (superseded or cancelled
    while it was on its way: its status stands).

    Raises
    ------
    ValueError
        An outcome not in :data:`DELIVERY_OUTCOMES`.
    RecordNotFoundError
        Unknown feeder.
    """
    if outcome not in DELIVERY_OUTCOMES:
        raise ValueError(f"delivery outcome {outcome!r} is not one of {DELIVERY_OUTCOMES}")
    feeder = feeder_by_name(session, feeder_name)
    row = store.command_by_id(session, feeder.id, command_id)
    if row is None or row.status not in ("pending", "sent"):
        session.rollback()
        return None
    now = utcnow()
    before = row.status
    row.status = outcome
    if outcome == "sent":
        row.sent_at = now
    elif outcome == "acknowledged":
        row.acknowledged_at = now
        row.sent_at = row.sent_at or now
        row.error = None
    else:
        row.error = answer
    if row.der_id is not None and outcome != "sent":
        present: dict[str | None, Condition] = {}
        if outcome == "failed":
            present[row.der_id] = Condition(
                "major",
                f"DER '{row.der_id}': {row.kind} command {row.id} failed: {answer}",
                {"command_id": row.id, "answer": answer},
            )
        sync_conditions(session, feeder.id, COMMAND_FAILED_ALARM, present, scope=(row.der_id,))
        audit(
            session,
            actor,
            f"command.{outcome}",
            ("command", str(row.id)),
            before={"status": before},
            after={"status": outcome, "der_id": row.der_id, "answer": answer},
        )
    session.commit()
    return row


__all__ = [
    "deliverable",
    "list_commands",
    "queue_schedule",
    "queue_setpoint",
    "record_delivery",
]
