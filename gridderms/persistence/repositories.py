"""Data access shared by the domain services: look-ups that raise on unknown ids, the audit
trail, API keys and the one-transaction schedule write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from gridderms.persistence.models import (
    ApiKeyRow,
    AuditRow,
    DerRow,
    DispatchRunRow,
    EnvelopeRow,
    FeederRow,
    SchedulePointRow,
    ScheduleRow,
    utcnow,
)

#: rows inserted per statement when streaming schedule points and envelopes
WRITE_BATCH = 500


class RecordNotFoundError(LookupError):
    """A row looked up by its public id does not exist; ``str()`` names kind and id."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} '{ident}' not found")

    def __str__(self) -> str:
        return str(self.args[0])


def feeder_by_name(session: Session, name: str, *, for_update: bool = False) -> FeederRow:
    """The feeder called ``name``; ``for_update`` locks its row (PostgreSQL) for the
    transaction.

    Raises
    ------
    RecordNotFoundError
    """
    query: Select[tuple[FeederRow]] = select(FeederRow).where(FeederRow.name == name)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise RecordNotFoundError("feeder", name)
    return row


def der_by_id(session: Session, feeder: FeederRow, der_id: str) -> DerRow:
    """DER ``der_id`` of ``feeder``.

    Raises
    ------
    RecordNotFoundError
    """
    row = session.scalars(
        select(DerRow).where(DerRow.feeder_id == feeder.id, DerRow.der_id == der_id)
    ).one_or_none()
    if row is None:
        raise RecordNotFoundError("DER", der_id)
    return row


def ders_of(session: Session, feeder: FeederRow) -> list[DerRow]:
    """Every DER of ``feeder`` in registration order."""
    return list(
        session.scalars(select(DerRow).where(DerRow.feeder_id == feeder.id).order_by(DerRow.id))
    )


def run_by_id(session: Session, run_id: str) -> DispatchRunRow:
    """Dispatch run ``run_id``.

    Raises
    ------
    RecordNotFoundError
    """
    row = session.scalars(
        select(DispatchRunRow).where(DispatchRunRow.run_id == run_id)
    ).one_or_none()
    if row is None:
        raise RecordNotFoundError("dispatch run", run_id)
    return row


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


def add_audit(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    target_type: str,
    target_id: str,
    before: Any = None,
    after: Any = None,
    outcome: str = "ok",
) -> AuditRow:
    """Append an audit row (committed with the caller's transaction)."""
    row = AuditRow(
        at=utcnow(),
        actor=actor,
        role=role,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        outcome=outcome,
    )
    session.add(row)
    return row


def hash_api_key(key: str) -> str:
    """SHA-256 hex digest of an API key (keys are 256-bit random tokens, so a fast hash is
    enough: there is nothing to brute-force)."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_by_secret(session: Session, key: str) -> ApiKeyRow | None:
    """The unrevoked key whose hash matches ``key``."""
    return session.scalars(
        select(ApiKeyRow).where(
            ApiKeyRow.key_hash == hash_api_key(key), ApiKeyRow.revoked_at.is_(None)
        )
    ).one_or_none()


def revoked_api_key_by_secret(session: Session, key: str) -> ApiKeyRow | None:
    """The revoked key whose hash matches ``key`` (to name it in the audit of a refusal)."""
    return session.scalars(
        select(ApiKeyRow).where(
            ApiKeyRow.key_hash == hash_api_key(key), ApiKeyRow.revoked_at.is_not(None)
        )
    ).one_or_none()
