"""Queries of alarms: the active ones of a kind on a feeder, bulk clear and insert, a
filtered page with the feeder names, and the active counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.models import AlarmRow, FeederRow


def active_alarms(session: Session, feeder_id: int, kind: str) -> dict[str | None, AlarmRow]:
    """``der_id -> active alarm`` of ``kind`` on feeder ``feeder_id``."""
    query = select(AlarmRow).where(
        AlarmRow.feeder_id == feeder_id, AlarmRow.kind == kind, AlarmRow.cleared_at.is_(None)
    )
    return {row.der_id: row for row in session.scalars(query)}


def clear_alarms(session: Session, alarm_ids: Sequence[int], at: datetime) -> None:
    """Clear the alarms ``alarm_ids`` at ``at`` (one statement; caller commits)."""
    if alarm_ids:
        session.execute(update(AlarmRow).where(AlarmRow.id.in_(alarm_ids)).values(cleared_at=at))


def insert_alarms(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert alarms given as column mappings (one statement; caller commits)."""
    if rows:
        session.execute(AlarmRow.__table__.insert(), rows)  # type: ignore[attr-defined]


def alarm_by_id(session: Session, alarm_id: int) -> AlarmRow:
    """Alarm ``alarm_id``.

    Raises
    ------
    RecordNotFoundError
    """
    row = session.get(AlarmRow, alarm_id)
    if row is None:
        raise RecordNotFoundError("alarm", alarm_id)
    return row


def alarm_page(
    session: Session,
    feeder_id: int | None,
    *,
    active_only: bool,
    unacknowledged_only: bool,
    kind: str | None,
    der_id: str | None,
    limit: int,
) -> list[tuple[AlarmRow, str]]:
    """Up to ``limit`` alarms with their feeder's name, newest first, of feeder ``feeder_id``
    (``None``: of all)."""
    query = select(AlarmRow, FeederRow.name).join(FeederRow, FeederRow.id == AlarmRow.feeder_id)
    if feeder_id is not None:
        query = query.where(AlarmRow.feeder_id == feeder_id)
    if active_only:
        query = query.where(AlarmRow.cleared_at.is_(None))
    if unacknowledged_only:
        query = query.where(AlarmRow.acknowledged_by.is_(None))
    if kind is not None:
        query = query.where(AlarmRow.kind == kind)
    if der_id is not None:
        query = query.where(AlarmRow.der_id == der_id)
    query = query.order_by(AlarmRow.raised_at.desc(), AlarmRow.id.desc()).limit(limit)
    return [(row, name) for row, name in session.execute(query)]


def active_counts(session: Session) -> dict[tuple[str, str], int]:
    """``(feeder, severity) -> number of active alarms``."""
    query = (
        select(FeederRow.name, AlarmRow.severity, func.count())
        .join(FeederRow, FeederRow.id == AlarmRow.feeder_id)
        .where(AlarmRow.cleared_at.is_(None))
        .group_by(FeederRow.name, AlarmRow.severity)
    )
    return {(name, severity): int(count) for name, severity, count in session.execute(query)}
