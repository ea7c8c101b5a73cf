"""Dispatch runs and their schedules as the API reads them: a run with its feeder's name, the
runs of a feeder, a schedule with its points (filtered by DER and periods) or its envelopes,
and the cancel of a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.feeders import feeder_by_name, feeder_by_pk
from gridderms.persistence.jobs import jobs_of
from gridderms.persistence.models import DispatchRunRow, EnvelopeRow, ScheduleRow
from gridderms.persistence.runs import (
    active_schedule,
    run_by_id,
    run_of_schedule,
    schedule_envelopes,
    schedule_of_run,
    schedule_points,
)
from gridderms.service import jobs
from gridderms.service.principals import Principal


@dataclass(frozen=True)
class PointFilter:
    """Which points of a schedule to read (a 10k-DER, 96-period schedule has ~1M).

    Attributes
    ----------
    der_id : str or None
        Only this DER.
    period_from : int
        First period.
    period_to : int or None
        Last period (inclusive; ``None``: to the end).
    """

    der_id: str | None = None
    period_from: int = 0
    period_to: int | None = None


@dataclass(frozen=True)
class ScheduleView:
    """A schedule, its feeder's name, the public id of the run that computed it (``None``:
    written without a run) and its points (mappings of
    :data:`~gridderms.persistence.runs.SCHEDULE_POINT_COLUMNS`)."""

    schedule: ScheduleRow
    feeder: str
    run_id: str | None
    points: list[dict[str, Any]]


def run(session: Session, run_id: str, *, fresh: bool = False) -> tuple[DispatchRunRow, str]:
    """Dispatch run ``run_id`` and its feeder's name; ``fresh``: read again what this session
    holds already (after the run was executed through another session).

    Raises
    ------
    RecordNotFoundError
        Unknown run.
    """
    if fresh:
        session.expire_all()
    row = run_by_id(session, run_id)
    return row, jobs.feeder_name_of(session, row)


def runs(session: Session, feeder_name: str, limit: int = 100) -> list[DispatchRunRow]:
    """The latest ``limit`` dispatch runs of feeder ``feeder_name``, newest first.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    """
    return jobs_of(session, DispatchRunRow, feeder_by_name(session, feeder_name).id, limit)


def cancel(session: Session, run_id: str, actor: Principal) -> tuple[DispatchRunRow, str, bool]:
    """Cancel dispatch run ``run_id`` (see :func:`gridderms.service.jobs.cancel_run`); return
    it, its feeder's name and whether it is cancelled already."""
    return jobs.cancel(session, DispatchRunRow, run_id, actor)


def schedule_view(
    session: Session, schedule: ScheduleRow, points: PointFilter | None = None
) -> ScheduleView:
    """``schedule`` with its points (those of ``points``; ``None``: every point)."""
    points = points or PointFilter()
    computed_by = run_of_schedule(session, schedule)
    return ScheduleView(
        schedule,
        feeder_by_pk(session, schedule.feeder_id).name,
        computed_by.run_id if computed_by else None,
        schedule_points(
            session,
            schedule,
            der_id=points.der_id,
            periods=(points.period_from, points.period_to),
        ),
    )


def _active(session: Session, feeder_name: str) -> ScheduleRow:
    schedule = active_schedule(session, feeder_by_name(session, feeder_name))
    if schedule is None:
        raise RecordNotFoundError("active schedule of feeder", feeder_name)
    return schedule


def run_schedule(session: Session, run_id: str, points: PointFilter) -> ScheduleView:
    """The schedule run ``run_id`` computed, with the points of ``points``.

    Raises
    ------
    RecordNotFoundError
        Unknown run, or the run has no schedule.
    """
    return schedule_view(session, schedule_of_run(session, run_by_id(session, run_id)), points)


def active(session: Session, feeder_name: str, points: PointFilter) -> ScheduleView:
    """The active schedule of feeder ``feeder_name``, with the points of ``points``.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder, or no active schedule.
    """
    return schedule_view(session, _active(session, feeder_name), points)


def run_envelopes(session: Session, run_id: str) -> tuple[ScheduleRow, str, list[EnvelopeRow]]:
    """The schedule run ``run_id`` computed, its feeder's name and its envelopes.

    Raises
    ------
    RecordNotFoundError
        Unknown run, or the run has no schedule.
    """
    schedule = schedule_of_run(session, run_by_id(session, run_id))
    name = feeder_by_pk(session, schedule.feeder_id).name
    return schedule, name, schedule_envelopes(session, schedule)


def active_envelopes(
    session: Session, feeder_name: str
) -> tuple[ScheduleRow, str, list[EnvelopeRow]]:
    """The active schedule of feeder ``feeder_name``, the name and its envelopes.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder, or no active schedule.
    """
    schedule = _active(session, feeder_name)
    return schedule, feeder_name, schedule_envelopes(session, schedule)
