"""Queries of telemetry: storing measurements once, the latest of a feeder, and the latest per
DER in a time window.

A measurement's identity is (feeder, DER or feeder head,
``measured_at``, ``client_id``), so a batch posted again (a retry after a lost answer) adds
nothing.

Duplicates are found before the insert (within the batch and against what is stored, so they
can be counted and reported); the unique index ``uq_telemetry_identity`` with
``ON CONFLICT DO NOTHING`` also drops a DER measurement that a concurrent request stored in
between.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ScalarResult, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gridderms.persistence.models import TelemetryRow

Identity = tuple[str | None, datetime, str]


def _identity(der_id: str | None, measured_at: datetime, client_id: str | None) -> Identity:
    if measured_at.tzinfo is None:  # SQLite reads back naive UTC
        measured_at = measured_at.replace(tzinfo=UTC)
    return der_id, measured_at.astimezone(UTC), client_id or ""


def insert_measurements(
    session: Session, feeder_id: int, rows: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Insert the telemetry ``rows`` (column mappings of :class:`TelemetryRow`) of feeder
    ``feeder_id`` that are not stored yet; return ``(stored, duplicates)``."""
    if not rows:
        return 0, 0
    times = [row["measured_at"] for row in rows]
    stored = {
        _identity(der_id, measured_at, client_id)
        for der_id, measured_at, client_id in session.execute(
            select(TelemetryRow.der_id, TelemetryRow.measured_at, TelemetryRow.client_id).where(
                TelemetryRow.feeder_id == feeder_id,
                TelemetryRow.measured_at >= min(times),
                TelemetryRow.measured_at <= max(times),
            )
        )
    }
    new: list[dict[str, Any]] = []
    for row in rows:
        identity = _identity(row["der_id"], row["measured_at"], row.get("client_id"))
        if identity in stored:
            continue
        stored.add(identity)
        new.append({**row, "client_id": identity[2]})
    if new:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(TelemetryRow).on_conflict_do_nothing(), new)
    return len(new), len(rows) - len(new)


def latest_measurements(
    session: Session, feeder_id: int, der_id: str | None, limit: int
) -> list[TelemetryRow]:
    """Up to ``limit`` measurements of feeder ``feeder_id``, newest first (of DER ``der_id``
    only, when given)."""
    query = select(TelemetryRow).where(TelemetryRow.feeder_id == feeder_id)
    if der_id is not None:
        query = query.where(TelemetryRow.der_id == der_id)
    query = query.order_by(TelemetryRow.measured_at.desc(), TelemetryRow.id.desc()).limit(limit)
    return list(session.scalars(query))


def latest_per_der(
    session: Session, feeder_id: int, since: datetime | None, until: datetime, *, good: bool
) -> ScalarResult[TelemetryRow]:
    """The latest measurement per DER of a feeder in ``[since, until]`` (of good quality
    only, with ``good``)."""
    rank = (
        func.row_number()
        .over(
            partition_by=TelemetryRow.der_id,
            order_by=(TelemetryRow.measured_at.desc(), TelemetryRow.id.desc()),
        )
        .label("rank")
    )
    inner = select(TelemetryRow.id, rank).where(
        TelemetryRow.feeder_id == feeder_id,
        TelemetryRow.der_id.is_not(None),
        TelemetryRow.measured_at <= until,
    )
    if since is not None:
        inner = inner.where(TelemetryRow.measured_at >= since)
    if good:
        inner = inner.where(TelemetryRow.quality == "good")
    ranked = inner.subquery()
    query = (
        select(TelemetryRow).join(ranked, ranked.c.id == TelemetryRow.id).where(ranked.c.rank == 1)
    )
    return session.scalars(query)
