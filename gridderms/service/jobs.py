"""The life of a service job, shared by dispatch runs and hosting-capacity studies.

A job is a run row (:class:`~gridderms.persistence.models.DispatchRunRow` or
:class:`~gridderms.persistence.models.HostingCapacityRunRow`): requested (``queued``, audited),
started (``running`` with a progress from 0 to 1), then stored by its own service with its
outcome, or ``failed`` with the error. Runs a stopped service left behind are marked failed at
start-up.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from gridderms.persistence.models import (
    DispatchRunRow,
    FeederRow,
    HostingCapacityRunRow,
    utcnow,
)
from gridderms.persistence.repositories import add_audit
from gridderms.service.auth import Principal

logger = logging.getLogger(__name__)

RunRow = TypeVar("RunRow", DispatchRunRow, HostingCapacityRunRow)


def queue_run(
    session: Session,
    row_type: type[RunRow],
    feeder: FeederRow,
    actor: Principal,
    request: dict[str, Any],
    *,
    action: str,
    target_type: str,
    audit_after: dict[str, Any],
) -> RunRow:
    """Add a ``queued`` run of ``row_type`` for ``feeder`` with its audit row, and commit."""
    run = row_type(
        run_id=str(uuid.uuid4()),
        feeder_id=feeder.id,
        feeder_version=feeder.version,
        status="queued",
        progress=0.0,
        request=request,
        requested_by=actor.name,
    )
    session.add(run)
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action=action,
        target_type=target_type,
        target_id=run.run_id,
        after=audit_after,
    )
    session.commit()
    return run


def run_public(run: DispatchRunRow | HostingCapacityRunRow, feeder_name: str) -> dict[str, Any]:
    """The API view of a run (a study without its table)."""
    return {
        "run_id": run.run_id,
        "feeder": feeder_name,
        "feeder_version": run.feeder_version,
        "status": run.status,
        "progress": run.progress,
        "request": run.request,
        "summary": run.summary,
        "error": run.error,
        "requested_by": run.requested_by,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def start_run(session: Session, run: DispatchRunRow | HostingCapacityRunRow) -> int:
    """Mark ``run`` running (progress 0.05) and commit; return its primary key."""
    run.status = "running"
    run.started_at = utcnow()
    run.progress = 0.05
    session.commit()
    return run.id


def set_progress(
    factory: sessionmaker[Session], row_type: type[RunRow], run_pk: int, progress: float
) -> None:
    """Store a running job's progress (0..1) in its own short transaction."""
    with factory() as session:
        session.execute(update(row_type).where(row_type.id == run_pk).values(progress=progress))
        session.commit()


def fail_run(session: Session, row_type: type[RunRow], run_pk: int, exc: Exception) -> str:
    """Roll back the job's work and store it ``failed`` with the error; return the status."""
    logger.error("%s %s failed: %s", row_type.__tablename__, run_pk, exc, exc_info=exc)
    session.rollback()
    run = session.get_one(row_type, run_pk)
    run.status = "failed"
    run.error = f"{type(exc).__name__}: {exc}"
    run.finished_at = utcnow()
    session.commit()
    return run.status


def fail_interrupted(session: Session, row_type: type[RunRow]) -> int:
    """Mark runs left ``queued``/``running`` by a stopped service as failed; return how many."""
    result = session.execute(
        update(row_type)
        .where(row_type.status.in_(("queued", "running")))
        .values(status="failed", error="interrupted by a service restart", finished_at=utcnow())
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class JobPool:
    """Runs jobs by id on a thread pool; ``execute(run_id)`` returns the final status."""

    def __init__(self, execute: Callable[[str], str], workers: int, name: str) -> None:
        self._execute = execute
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    def run_inline(self, run_id: str) -> str:
        """Execute ``run_id`` in the calling thread; return its final status."""
        return self._execute(run_id)

    def submit(self, run_id: str) -> Future[str]:
        """Queue ``run_id`` for background execution."""
        return self._pool.submit(self._execute, run_id)

    def shutdown(self) -> None:
        """Stop accepting jobs; wait for the running ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)
