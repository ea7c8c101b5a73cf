"""Queries of dispatch runs and their schedules: look-ups that raise on unknown ids, the runs
of a feeder, the points and envelopes of a schedule, and the one-transaction schedule write and
activation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gridderms.persistence.errors import RecordNotFoundError, one_or_raise
from gridderms.persistence.models import (
    DispatchRunRow,
    EnvelopeRow,
    FeederRow,
    SchedulePointRow,
    ScheduleRow,
    utcnow,
)

#: rows inserted per statement when streaming schedule points and envelopes
WRITE_BATCH = 500


def run_by_id(session: Session, run_id: str) -> DispatchRunRow:
    """Dispatch run ``run_id``.

    Raises
    ------
    RecordNotFoundError
    """
    query = select(DispatchRunRow).where(DispatchRunRow.run_id == run_id)
    return one_or_raise(session, query, "dispatch run", run_id)


def active_schedule(session: Session, feeder: FeederRow) -> ScheduleRow | None:
    """The active schedule of ``feeder``, if any."""
    return session.scalars(
        select(ScheduleRow).where(ScheduleRow.feeder_id == feeder.id, ScheduleRow.state == "active")
    ).one_or_none()


SCHEDULE_POINT_COLUMNS = (
    "der_id",
    "period",
    "p_mw",
    "q_mvar",
    "p_available_mw",
    "curtailed_mw",
    "mode",
)


def schedule_points(
    session: Session,
    schedule: ScheduleRow,
    *,
    der_id: str | None = None,
    periods: tuple[int, int | None] = (0, None),
) -> list[dict[str, Any]]:
    """Points of ``schedule`` by DER (registration order of the write) and period, as
    mappings of :data:`SCHEDULE_POINT_COLUMNS` (plain rows: no ORM objects for what is only
    read); only of ``der_id`` when given, only of periods ``first <= period <= last`` of
    ``periods = (first, last)`` (``last`` ``None``: to the end)."""
    columns = [getattr(SchedulePointRow, name) for name in SCHEDULE_POINT_COLUMNS]
    query = select(*columns).where(SchedulePointRow.schedule_id == schedule.id)
    if der_id is not None:
        query = query.where(SchedulePointRow.der_id == der_id)
    first, last = periods
    if first > 0:
        query = query.where(SchedulePointRow.period >= first)
    if last is not None:
        query = query.where(SchedulePointRow.period <= last)
    query = query.order_by(SchedulePointRow.id)
    return [dict(row._mapping) for row in session.execute(query)]


def schedule_envelopes(session: Session, schedule: ScheduleRow) -> list[EnvelopeRow]:
    """Operating envelopes of ``schedule`` by DER and period."""
    return list(
        session.scalars(
            select(EnvelopeRow)
            .where(EnvelopeRow.schedule_id == schedule.id)
            .order_by(EnvelopeRow.id)
        )
    )


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := [dict(row) for row in islice(iterator, size)]:
        yield batch


def write_schedule(
    session: Session,
    *,
    feeder_id: int,
    run_id: int | None,
    start: datetime,
    step_minutes: int,
    n_periods: int,
    ac_feasible: bool,
    activate: bool,
    points: Iterable[Mapping[str, Any]],
    envelopes: Iterable[Mapping[str, Any]] = (),
    decided_by: str | None = None,
) -> ScheduleRow:
    """Add a schedule with its points and envelopes; with ``activate`` it replaces the
    feeder's active schedule.

    Nothing is committed here: the caller commits once, so the swap of the active schedule,
    the new schedule and all its points land together or not at all. The previous active
    schedule is superseded *first* and the points are streamed afterwards, in batches of
    :data:`WRITE_BATCH`: a crash anywhere in between rolls the whole transaction back and the
    previous schedule stays active (tested by killing a writer mid-stream).

    Parameters
    ----------
    points : Iterable of mapping
        ``der_id``, ``period``, ``p_mw`` [MW], ``q_mvar`` [MVAr], ``p_available_mw`` [MW],
        ``curtailed_mw`` [MW], ``mode``.
    envelopes : Iterable of mapping
        ``der_id``, ``period``, ``p_min_mw``, ``p_max_mw`` [MW].
    """
    now = utcnow()
    if activate:
        session.execute(
            update(ScheduleRow)
            .where(ScheduleRow.feeder_id == feeder_id, ScheduleRow.state == "active")
            .values(state="superseded")
        )
    schedule = ScheduleRow(
        feeder_id=feeder_id,
        run_id=run_id,
        state="active" if activate else "pending_approval",
        start=start,
        step_minutes=step_minutes,
        n_periods=n_periods,
        ac_feasible=ac_feasible,
        created_at=now,
        activated_at=now if activate else None,
        decided_by=decided_by,
    )
    session.add(schedule)
    session.flush()
    for table, rows in ((SchedulePointRow, points), (EnvelopeRow, envelopes)):
        for batch in _batches(rows, WRITE_BATCH):
            for row in batch:
                row["schedule_id"] = schedule.id
            session.execute(table.__table__.insert(), batch)  # type: ignore[attr-defined]
    return schedule


def activate_schedule(session: Session, schedule: ScheduleRow, decided_by: str) -> None:
    """Make ``schedule`` the active one of its feeder (caller commits)."""
    session.execute(
        update(ScheduleRow)
        .where(
            ScheduleRow.feeder_id == schedule.feeder_id,
            ScheduleRow.state == "active",
            ScheduleRow.id != schedule.id,
        )
        .values(state="superseded")
    )
    schedule.state = "active"
    schedule.activated_at = utcnow()
    schedule.decided_by = decided_by


def run_by_pk(session: Session, run_pk: int) -> DispatchRunRow:
    """Dispatch run of primary key ``run_pk`` (it exists: the caller holds its id)."""
    return session.get_one(DispatchRunRow, run_pk)


def run_status_counts(session: Session) -> dict[str, int]:
    """``status -> number of dispatch runs``."""
    query = select(DispatchRunRow.status, func.count()).group_by(DispatchRunRow.status)
    return {status: int(count) for status, count in session.execute(query)}


def run_of_schedule(session: Session, schedule: ScheduleRow) -> DispatchRunRow | None:
    """The run that computed ``schedule`` (``None``: written without a run)."""
    return session.get(DispatchRunRow, schedule.run_id) if schedule.run_id else None


def schedule_of_run(session: Session, run: DispatchRunRow) -> ScheduleRow:
    """The schedule computed by ``run``.

    Raises
    ------
    RecordNotFoundError
        The run has no schedule (not finished, infeasible or failed).
    """
    schedule = session.scalars(select(ScheduleRow).where(ScheduleRow.run_id == run.id)).first()
    if schedule is None:
        raise RecordNotFoundError("schedule of dispatch run", run.run_id)
    return schedule


def schedule_by_id(session: Session, feeder: FeederRow, schedule_id: int) -> ScheduleRow:
    """Schedule ``schedule_id`` of ``feeder``.

    Raises
    ------
    RecordNotFoundError
        No such schedule, or one of another feeder.
    """
    schedule = session.get(ScheduleRow, schedule_id)
    if schedule is None or schedule.feeder_id != feeder.id:
        raise RecordNotFoundError("schedule", schedule_id)
    return schedule
