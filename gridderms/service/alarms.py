"""Alarms of feeders and DERs: raised and cleared by the conditions the service watches,
acknowledged by operators.

A condition is a ``kind`` on a feeder and optionally a DER (``der_id``; ``None`` is the feeder
itself). :func:`sync_conditions` is the one way alarms are raised: a checker reports the full
set of conditions present within its scope, and the alarms follow: a new condition raises an
alarm, a persisting one updates its message and details (keeping the time it was raised), and
one no longer present is cleared. So a condition never has two active alarms, and a checker
run over 10,000 DERs is three bulk statements, not 10,000 round trips.

Kinds raised by the service:

``dispatch_infeasible`` (major)
    The last dispatch run found no schedule within the limits; the message names the limits
    that must give. Cleared by the next optimal run.
``dispatch_failed`` (major)
    The last dispatch run failed with an error. Cleared by the next optimal run.
``schedule_not_ac_feasible`` (major)
    The last schedule breaks a limit in its AC power-flow check. Cleared by the next
    AC-feasible schedule.
``telemetry_unusable`` (warning, per DER)
    A DER that reports telemetry has no good measurement within the age limit when a
    real-time dispatch runs (stale, or its latest is ``bad``/``suspect``); dispatch uses the
    registered values instead. Cleared when a usable measurement arrives before a later run.
``voltage_out_of_band`` (major, per DER or feeder head)
    A good measurement outside the service's voltage band; cleared by the next good
    measurement inside it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from gridderms.persistence import alarms as store
from gridderms.persistence.feeders import feeder_by_name, feeder_by_pk
from gridderms.persistence.models import AlarmRow, utcnow
from gridderms.service.audit_log import audit
from gridderms.service.errors import ConflictError
from gridderms.service.principals import Principal

Severity = Literal["info", "warning", "major", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "major", "critical")


@dataclass(frozen=True)
class Condition:
    """A condition present now: what an active alarm says.

    Attributes
    ----------
    severity : {"info", "warning", "major", "critical"}
    message : str
        What is wrong, where, by how much.
    details : dict, optional
        Machine-readable facts (JSON).
    """

    severity: Severity
    message: str
    details: dict[str, Any] | None = None


def sync_conditions(
    session: Session,
    feeder_id: int,
    kind: str,
    present: Mapping[str | None, Condition],
    scope: Collection[str | None] | None = None,
) -> tuple[int, int]:
    """Make the active alarms of ``kind`` on a feeder follow the conditions ``present``.

    Parameters
    ----------
    present : mapping
        ``der_id`` (``None``: the feeder) -> the condition present now.
    scope : collection, optional
        The DER ids (``None``: the feeder) the checker looked at; active alarms outside it are
        left alone. Default: every alarm of ``kind`` on the feeder.

    Returns
    -------
    (raised, cleared) : tuple of int
        How many alarms were raised and cleared (the caller commits).
    """
    now = utcnow()
    active = store.active_alarms(session, feeder_id, kind)
    in_scope = set(active) if scope is None else set(scope)
    ended = [
        row.id for der_id, row in active.items() if der_id in in_scope and der_id not in present
    ]
    store.clear_alarms(session, ended, now)
    new = []
    for der_id, condition in present.items():
        row = active.get(der_id)
        if row is None:
            new.append(
                {
                    "feeder_id": feeder_id,
                    "der_id": der_id,
                    "severity": condition.severity,
                    "kind": kind,
                    "message": condition.message,
                    "details": condition.details,
                    "raised_at": now,
                }
            )
        elif row.message != condition.message or row.severity != condition.severity:
            row.message, row.severity, row.details = (
                condition.message,
                condition.severity,
                condition.details,
            )
    store.insert_alarms(session, new)
    return len(new), len(ended)


def raise_or_clear(
    session: Session, feeder_id: int, kind: str, condition: Condition | None
) -> None:
    """Raise (or update) the feeder-level alarm of ``kind``, or clear it when ``None``."""
    present: dict[str | None, Condition] = {} if condition is None else {None: condition}
    sync_conditions(session, feeder_id, kind, present, scope=(None,))


def list_alarms(
    session: Session,
    feeder_name: str | None,
    *,
    active_only: bool,
    unacknowledged_only: bool = False,
    kind: str | None = None,
    der_id: str | None = None,
    limit: int = 100,
) -> list[tuple[AlarmRow, str]]:
    """Alarms with their feeder's name, newest first, of one feeder or of all.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    """
    feeder_id = None if feeder_name is None else feeder_by_name(session, feeder_name).id
    return store.alarm_page(
        session,
        feeder_id,
        active_only=active_only,
        unacknowledged_only=unacknowledged_only,
        kind=kind,
        der_id=der_id,
        limit=limit,
    )


def acknowledge(session: Session, actor: Principal, alarm_id: int) -> tuple[AlarmRow, str]:
    """Acknowledge alarm ``alarm_id`` (audited).

    Returns
    -------
    (alarm, feeder name) : tuple

    Raises
    ------
    RecordNotFoundError
        Unknown alarm.
    ConflictError
        Already acknowledged (by whom, when).
    """
    row = store.alarm_by_id(session, alarm_id)
    feeder = feeder_by_pk(session, row.feeder_id)
    if row.acknowledged_by is not None:
        assert row.acknowledged_at is not None
        raise ConflictError(
            f"alarm {alarm_id} was acknowledged by '{row.acknowledged_by}' at "
            f"{row.acknowledged_at.isoformat()}"
        )
    row.acknowledged_by = actor.name
    row.acknowledged_at = utcnow()
    audit(
        session,
        actor,
        "alarm.acknowledge",
        ("alarm", f"{feeder.name}/{alarm_id}"),
        before={"acknowledged_by": None},
        after={"acknowledged_by": actor.name, "kind": row.kind, "der_id": row.der_id},
    )
    session.commit()
    return row, feeder.name
