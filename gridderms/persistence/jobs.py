"""Queries of job rows (dispatch runs and hosting-capacity studies): every status change is a
compare-and-set ``UPDATE ... WHERE status = <expected>``, so a job and a cancel racing on SQLite
or PostgreSQL end in one consistent state (see :mod:`gridderms.service.jobs`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gridderms.persistence.models import DispatchRunRow, HostingCapacityRunRow

RunRow = TypeVar("RunRow", DispatchRunRow, HostingCapacityRunRow)
RunType = type[DispatchRunRow] | type[HostingCapacityRunRow]


def transition(
    session: Session, row_type: RunType, run_pk: int, expected: str, **values: Any
) -> bool:
    """Set ``values`` on job ``run_pk`` if its status is ``expected`` (one ``UPDATE``; the
    caller commits); return whether it was."""
    result = session.execute(
        update(row_type).where(row_type.id == run_pk, row_type.status == expected).values(**values)
    )
    return int(result.rowcount or 0) > 0  # type: ignore[attr-defined]


def job_status(session: Session, row_type: RunType, run_pk: int) -> str | None:
    """The status of job ``run_pk`` as stored now."""
    return session.scalar(select(row_type.status).where(row_type.id == run_pk))


def job_by_run_id(session: Session, row_type: type[RunRow], run_id: str) -> RunRow | None:
    """Job ``run_id`` read afresh (the attributes of an already loaded row are replaced)."""
    return session.scalars(
        select(row_type).where(row_type.run_id == run_id).execution_options(populate_existing=True)
    ).one_or_none()


def jobs_in(
    session: Session, row_type: RunType, statuses: Sequence[str]
) -> list[tuple[int, str, str]]:
    """``(primary key, run id, status)`` of the jobs in ``statuses``, oldest first."""
    query = (
        select(row_type.id, row_type.run_id, row_type.status)
        .where(row_type.status.in_(statuses))
        .order_by(row_type.id)
    )
    return [(int(pk), str(run_id), str(status)) for pk, run_id, status in session.execute(query)]


def jobs_of(session: Session, row_type: type[RunRow], feeder_id: int, limit: int) -> list[RunRow]:
    """The latest ``limit`` jobs of ``row_type`` of feeder ``feeder_id``, newest first."""
    query = select(row_type).where(row_type.feeder_id == feeder_id)
    return list(session.scalars(query.order_by(row_type.id.desc()).limit(limit)))
