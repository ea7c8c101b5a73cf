"""Queries of feeders: look-ups by name, the list, the topology history and the stored file
of an uploaded feeder."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gridderms.persistence.errors import one_or_raise
from gridderms.persistence.models import FeederFileRow, FeederRow, FeederVersionRow


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
    return one_or_raise(session, query, "feeder", name)


def feeder_by_pk(session: Session, feeder_pk: int) -> FeederRow:
    """The feeder of primary key ``feeder_pk`` (it exists: a foreign key names it)."""
    return session.get_one(FeederRow, feeder_pk)


def feeder_name_taken(session: Session, name: str) -> bool:
    """Whether a feeder called ``name`` is loaded."""
    return session.scalars(select(FeederRow.id).where(FeederRow.name == name)).first() is not None


def list_feeders(session: Session) -> list[FeederRow]:
    """Every loaded feeder, oldest first."""
    return list(session.scalars(select(FeederRow).order_by(FeederRow.id)))


def count_feeders(session: Session) -> int:
    """How many feeders are loaded."""
    return int(session.scalar(select(func.count()).select_from(FeederRow)) or 0)


def add_version(
    session: Session, feeder: FeederRow, change: dict[str, object], actor: str
) -> FeederVersionRow:
    """Append the entry of ``feeder``'s current version and switch states to its topology
    history (caller commits)."""
    row = FeederVersionRow(
        feeder_id=feeder.id,
        version=feeder.version,
        change=change,
        switch_closed=dict(feeder.switch_closed),
        actor=actor,
    )
    session.add(row)
    return row


def versions_of(session: Session, feeder: FeederRow) -> list[FeederVersionRow]:
    """The topology history of ``feeder``, oldest first."""
    return list(
        session.scalars(
            select(FeederVersionRow)
            .where(FeederVersionRow.feeder_id == feeder.id)
            .order_by(FeederVersionRow.version)
        )
    )


def file_of(session: Session, feeder: FeederRow) -> FeederFileRow:
    """The stored file of the uploaded ``feeder``."""
    return session.scalars(select(FeederFileRow).where(FeederFileRow.feeder_id == feeder.id)).one()
