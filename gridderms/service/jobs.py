"""The life of a service job, shared by dispatch runs and hosting-capacity studies.

A job is a run row (:class:`~gridderms.persistence.models.DispatchRunRow` or
:class:`~gridderms.persistence.models.HostingCapacityRunRow`): requested (``queued``, audited),
started (``running`` with a progress from 0 to 1), then stored by its own service with its
outcome, or ``failed`` with the error. Runs a stopped service left behind are marked failed at
start-up.

Cancellation (:func:`cancel_run`): a ``queued`` job becomes ``cancelled`` at once and is skipped
when its turn comes (:func:`start_run` only starts a ``queued`` job); a ``running`` job becomes
``cancelling`` and stops at its next checkpoint (:func:`set_progress`, :func:`claim_finish`),
which reads the status from the database (any service process may have cancelled it), rolls
back its work and stores it ``cancelled`` (:func:`finish_cancelled`). Inside a long phase the
solvers ask a :class:`StopProbe` (the status, read at most every 0.5 s) at every HiGHS
iteration, build step and AC iteration and stop with :class:`~solvers.cancel.SolveCancelled`,
which ends the job ``cancelled`` the same way. Every status change is a
compare-and-set (:func:`gridderms.persistence.jobs.transition`), so a job and a cancel racing on
SQLite or PostgreSQL end in one consistent state: a job ends with its result or cancelled,
never both.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.feeders import feeder_by_pk
from gridderms.persistence.jobs import (
    RunRow,
    RunType,
    job_by_run_id,
    job_status,
    jobs_in,
    transition,
)
from gridderms.persistence.models import (
    DispatchRunRow,
    FeederRow,
    HostingCapacityRunRow,
    utcnow,
)
from gridderms.service.audit_log import audit
from gridderms.service.errors import ConflictError
from gridderms.service.principals import SYSTEM, Principal
from solvers.cancel import SolveCancelled

logger = logging.getLogger(__name__)

#: statuses of a job that has not finished
ACTIVE = ("queued", "running", "cancelling")
#: per run type: the name in messages, the audit action prefix and the audit target type
_KINDS: dict[type[Any], tuple[str, str, str]] = {
    DispatchRunRow: ("dispatch run", "dispatch", "dispatch_run"),
    HostingCapacityRunRow: ("hosting-capacity run", "hosting_capacity", "hosting_capacity_run"),
}


class JobCancelledError(Exception):
    """Raised at a checkpoint of a job that was cancelled while running."""


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
    audit(session, actor, action, (target_type, run.run_id), after=audit_after)
    session.commit()
    return run


def feeder_name_of(session: Session, run: DispatchRunRow | HostingCapacityRunRow) -> str:
    """The name of the feeder of ``run``."""
    return feeder_by_pk(session, run.feeder_id).name


def cancel(
    session: Session, row_type: type[RunRow], run_id: str, actor: Principal
) -> tuple[RunRow, str, bool]:
    """:func:`cancel_run` of job ``run_id``; return the run, its feeder's name and whether it
    is cancelled already."""
    run, cancelled = cancel_run(session, row_type, run_id, actor)
    return run, feeder_name_of(session, run), cancelled


def start_run(session: Session, run: DispatchRunRow | HostingCapacityRunRow) -> int | None:
    """Mark ``run`` running (progress 0.05) and commit; return its primary key, or ``None``
    when it is no longer ``queued`` (cancelled while it waited: the job must not run)."""
    row_type = type(run)
    started = transition(
        session, row_type, run.id, "queued", status="running", started_at=utcnow(), progress=0.05
    )
    session.commit()
    session.refresh(run)
    if not started:
        logger.info("%s %s is %s: not started", row_type.__tablename__, run.run_id, run.status)
        return None
    return run.id


def set_progress(
    factory: sessionmaker[Session], row_type: RunType, run_pk: int, progress: float
) -> None:
    """Store a running job's progress (0..1) in its own short transaction; this is the job's
    cancellation checkpoint (one ``UPDATE``).

    Raises
    ------
    JobCancelledError
        The job is no longer ``running`` (it was cancelled, possibly by another process).
    """
    with factory() as session:
        running = transition(session, row_type, run_pk, "running", progress=progress)
        session.commit()
    if not running:
        raise JobCancelledError(f"{row_type.__tablename__} {run_pk} was cancelled")


def check_cancelled(factory: sessionmaker[Session], row_type: RunType, run_pk: int) -> None:
    """A checkpoint without progress: one small query of the job's status.

    Raises
    ------
    JobCancelledError
        The job is no longer ``running``.
    """
    with factory() as session:
        current = job_status(session, row_type, run_pk)
    if current != "running":
        raise JobCancelledError(f"{row_type.__tablename__} {run_pk} is {current}")


class StopProbe:
    """``should_stop()`` of a running job for the solvers (:mod:`solvers.cancel`): whether the
    job is no longer ``running`` (cancelled, possibly by another process), read from the
    database at most every ``interval_s`` [s] and remembered in between, so it is cheap enough
    to ask at every simplex iteration. Once true it stays true. A failed read answers false
    (the job goes on; the next checkpoint reads again).
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        row_type: RunType,
        run_pk: int,
        interval_s: float = 0.5,
    ) -> None:
        self.factory = factory
        self.row_type: RunType = row_type
        self.run_pk = run_pk
        self.interval_s = interval_s
        self.stopped = False
        self._read_at = time.monotonic()  # the job was running when it was started

    def __call__(self) -> bool:
        """Whether the job should stop."""
        if self.stopped or time.monotonic() - self._read_at < self.interval_s:
            return self.stopped
        self._read_at = time.monotonic()
        row_type = self.row_type
        try:
            with self.factory() as session:
                current = job_status(session, row_type, self.run_pk)
        except Exception:  # a busy database must not fail the solve it interrupts
            logger.warning("cannot read the status of %s %s", row_type.__tablename__, self.run_pk)
            return False
        self.stopped = current != "running"
        return self.stopped


def claim_finish(session: Session, row_type: RunType, run_pk: int) -> None:
    """The last checkpoint, in the transaction that stores the job's result: lock the run row
    while it is still ``running`` (a cancel arriving now waits for the commit, then finds the
    job finished). Call before writing the result; the caller commits.

    Raises
    ------
    JobCancelledError
        The job was cancelled (the caller rolls back: :func:`finish_cancelled`).
    """
    if not transition(session, row_type, run_pk, "running", progress=row_type.progress):
        raise JobCancelledError(f"{row_type.__tablename__} {run_pk} was cancelled")


def finish_cancelled(session: Session, row_type: RunType, run_pk: int) -> str:
    """Roll back the job's work and store it ``cancelled``; return the status."""
    session.rollback()
    transition(session, row_type, run_pk, "cancelling", status="cancelled", finished_at=utcnow())
    session.commit()
    status = job_status(session, row_type, run_pk)
    logger.info("%s %s stopped: %s", row_type.__tablename__, run_pk, status)
    return str(status)


def _transition_audited(
    session: Session,
    row_type: RunType,
    run: tuple[int, str, str],
    values: dict[str, Any],
    actor: Principal,
    action: str,
    after: dict[str, Any],
) -> bool:
    """Move job ``run = (primary key, run id, status before)`` to ``values`` if it is still
    in that status, with its audit row (action ``<kind>.<action>``, the status before and
    ``after``); return whether it was (the caller commits)."""
    run_pk, run_id, before = run
    _, prefix, target_type = _KINDS[row_type]
    if not transition(session, row_type, run_pk, before, **values):
        return False
    audit(
        session,
        actor,
        f"{prefix}.{action}",
        (target_type, run_id),
        before={"status": before},
        after=after,
    )
    return True


def cancel_run(
    session: Session, row_type: type[RunRow], run_id: str, actor: Principal
) -> tuple[RunRow, bool]:
    """Cancel job ``run_id`` (audited with the status before and after); return the run and
    whether it is cancelled already (``False``: a running job that stops at its next
    checkpoint).

    Raises
    ------
    RecordNotFoundError
        Unknown run.
    ConflictError
        The job has finished.
    """
    label = _KINDS[row_type][0]
    for _ in range(10):  # the job may change status between the read and the update
        run = job_by_run_id(session, row_type, run_id)
        if run is None:
            raise RecordNotFoundError(label, run_id)
        before = run.status
        if before not in ACTIVE:
            raise ConflictError(
                f"{label} '{run_id}' is {before}; only a queued or running job can be cancelled"
            )
        values: dict[str, Any] = {"status": "cancelled" if before == "queued" else "cancelling"}
        if values["status"] == "cancelled":
            values["finished_at"] = utcnow()
        after = {"status": values["status"]}
        if not _transition_audited(
            session, row_type, (run.id, run_id, before), values, actor, "cancel", after
        ):
            session.rollback()
            continue
        session.commit()
        session.refresh(run)
        return run, run.status == "cancelled"
    raise ConflictError(f"{label} '{run_id}' keeps changing status; retry the cancel")


def fail_run(session: Session, row_type: RunType, run_pk: int, exc: Exception) -> str:
    """Roll back the job's work and store it ``failed`` with the error (``cancelled`` when it
    was being cancelled); return the status."""
    if isinstance(exc, JobCancelledError | SolveCancelled):
        logger.info("%s %s: %s", row_type.__tablename__, run_pk, exc)
        return finish_cancelled(session, row_type, run_pk)
    logger.error("%s %s failed: %s", row_type.__tablename__, run_pk, exc, exc_info=exc)
    session.rollback()
    error = f"{type(exc).__name__}: {exc}"
    if not transition(
        session, row_type, run_pk, "running", status="failed", error=error, finished_at=utcnow()
    ):
        return finish_cancelled(session, row_type, run_pk)
    session.commit()
    return "failed"


INTERRUPTED = "interrupted by a service restart"


def fail_interrupted(session: Session, row_type: RunType) -> int:
    """Mark runs left ``queued``/``running`` by a stopped service as failed (``cancelling`` ones
    as ``cancelled``: their cancel is done), each with an audit row (actor ``system``, action
    ``<kind>.fail_interrupted``, the status before and after with the reason); return how
    many."""
    now = utcnow()
    changed = 0
    for run in jobs_in(session, row_type, ACTIVE):
        values: dict[str, Any] = {"finished_at": now}
        if run[2] == "cancelling":
            values["status"] = "cancelled"
        else:
            values.update(status="failed", error=INTERRUPTED)
        after = {"status": values["status"], "reason": INTERRUPTED}
        if _transition_audited(session, row_type, run, values, SYSTEM, "fail_interrupted", after):
            changed += 1
    session.commit()
    if changed:
        logger.warning(
            "%s: %d unfinished run(s) of a stopped service ended", row_type.__tablename__, changed
        )
    return changed


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
