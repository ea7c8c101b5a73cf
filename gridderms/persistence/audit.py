"""The audit trail: appending a row, filtered pages by keyset on the row id, a streaming read
of every matching row for exports, and the count update of an aggregated refusal row.

Rows are appended by :func:`add_audit`; the id grows with
every row, so ``id < before_id`` (newest first) and ``id > after_id`` (oldest first) page
through the trail without gaps or repeats however many rows are added meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from gridderms.persistence.models import AuditRow, utcnow

#: rows read per query when streaming the trail
EXPORT_BATCH = 1000


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


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows to read; ``None`` does not filter.

    Attributes
    ----------
    target_type, target_id, action, actor, outcome : str or None
        Exact matches.
    since, until : datetime or None
        ``since <= at < until`` (timezone-aware).
    before_id, after_id : int or None
        ``after_id < id < before_id`` (the keyset cursor).
    """

    target_type: str | None = None
    target_id: str | None = None
    action: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    after_id: int | None = None

    def query(self) -> Select[tuple[AuditRow]]:
        """The ``SELECT`` of the matching rows (unordered)."""
        query = select(AuditRow)
        for column, value in (
            (AuditRow.target_type, self.target_type),
            (AuditRow.target_id, self.target_id),
            (AuditRow.action, self.action),
            (AuditRow.actor, self.actor),
            (AuditRow.outcome, self.outcome),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(AuditRow.at >= self.since)
        if self.until is not None:
            query = query.where(AuditRow.at < self.until)
        if self.before_id is not None:
            query = query.where(AuditRow.id < self.before_id)
        if self.after_id is not None:
            query = query.where(AuditRow.id > self.after_id)
        return query


def audit_page(
    session: Session, filters: AuditFilter, *, limit: int, newest_first: bool = True
) -> list[AuditRow]:
    """Up to ``limit`` matching rows, newest (highest id) first or oldest first.

    The next page: ``before_id`` = the last row's id (newest first), ``after_id`` = the last
    row's id (oldest first), with the same other filters.
    """
    order = AuditRow.id.desc() if newest_first else AuditRow.id.asc()
    return list(session.scalars(filters.query().order_by(order).limit(limit)))


def last_audit_id(session: Session) -> int:
    """The highest audit row id (0 for an empty trail)."""
    return int(session.scalar(select(func.max(AuditRow.id))) or 0)


def iter_audit(
    factory: sessionmaker[Session], filters: AuditFilter, *, batch: int = EXPORT_BATCH
) -> Iterator[AuditRow]:
    """Every matching row, oldest first, read ``batch`` rows per query, each query in its own
    short session (the caller may consume the iterator from several threads in turn).

    The rows are those present when the iteration starts: rows appended meanwhile (ids above
    the highest id at the start) are left out, so an export is a consistent snapshot.
    """
    with factory() as session:
        end = last_audit_id(session) + 1
    before_id = end if filters.before_id is None else min(end, filters.before_id)
    after_id = filters.after_id or 0
    while True:
        page_filter = replace(filters, before_id=before_id, after_id=after_id)
        with factory() as session:
            rows = audit_page(session, page_filter, limit=batch, newest_first=False)
        yield from rows
        if len(rows) < batch:
            return
        after_id = rows[-1].id


def set_audit_after(session: Session, row_id: int, after: Any) -> None:
    """Replace the ``after`` document of audit row ``row_id`` (the running count of an
    aggregated refusal row; caller commits)."""
    session.execute(update(AuditRow).where(AuditRow.id == row_id).values(after=after))
