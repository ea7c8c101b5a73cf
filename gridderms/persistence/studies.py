"""Queries of hosting-capacity studies: look-ups that raise on unknown ids, the studies of a
feeder, and the per-bus table."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridderms.persistence.errors import one_or_raise
from gridderms.persistence.models import HostingCapacityResultRow, HostingCapacityRunRow


def study_by_id(session: Session, run_id: str) -> HostingCapacityRunRow:
    """Hosting-capacity run ``run_id`` (:class:`~.errors.RecordNotFoundError` when none)."""
    query = select(HostingCapacityRunRow).where(HostingCapacityRunRow.run_id == run_id)
    return one_or_raise(session, query, "hosting-capacity run", run_id)


def study_by_pk(session: Session, run_pk: int) -> HostingCapacityRunRow:
    """Hosting-capacity run of primary key ``run_pk`` (it exists: the caller holds its id)."""
    return session.get_one(HostingCapacityRunRow, run_pk)


def results_of(session: Session, run: HostingCapacityRunRow) -> list[HostingCapacityResultRow]:
    """The per-bus table of ``run``, by bus."""
    return list(
        session.scalars(
            select(HostingCapacityResultRow)
            .where(HostingCapacityResultRow.run_pk == run.id)
            .order_by(HostingCapacityResultRow.bus)
        )
    )
