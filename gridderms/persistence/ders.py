"""Queries of DERs and DER groups: look-ups that raise on unknown ids, the DERs of a feeder,
adding and removing rows."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridderms.persistence.errors import one_or_raise
from gridderms.persistence.models import DerGroupRow, DerRow, FeederRow


def der_by_id(session: Session, feeder: FeederRow, der_id: str) -> DerRow:
    """DER ``der_id`` of ``feeder``.

    Raises
    ------
    RecordNotFoundError
    """
    query = select(DerRow).where(DerRow.feeder_id == feeder.id, DerRow.der_id == der_id)
    return one_or_raise(session, query, "DER", der_id)


def ders_of(session: Session, feeder: FeederRow) -> list[DerRow]:
    """Every DER of ``feeder`` in registration order."""
    return list(
        session.scalars(select(DerRow).where(DerRow.feeder_id == feeder.id).order_by(DerRow.id))
    )


def der_ids_of(session: Session, feeder: FeederRow) -> set[str]:
    """The ids of the DERs of ``feeder``."""
    return set(session.scalars(select(DerRow.der_id).where(DerRow.feeder_id == feeder.id)))


def count_ders(session: Session, feeder: FeederRow) -> int:
    """How many DERs ``feeder`` has."""
    return int(
        session.scalar(
            select(func.count()).select_from(DerRow).where(DerRow.feeder_id == feeder.id)
        )
        or 0
    )


def remove(session: Session, row: DerRow | DerGroupRow) -> None:
    """Delete ``row`` (caller commits)."""
    session.delete(row)


def group_by_name(session: Session, feeder: FeederRow, name: str) -> DerGroupRow:
    """Group ``name`` of ``feeder`` (:class:`~.errors.RecordNotFoundError` when none)."""
    query = select(DerGroupRow).where(DerGroupRow.feeder_id == feeder.id, DerGroupRow.name == name)
    return one_or_raise(session, query, "DER group", name)


def group_exists(session: Session, feeder: FeederRow, name: str) -> bool:
    """Whether ``feeder`` has a group called ``name``."""
    query = select(DerGroupRow.id).where(
        DerGroupRow.feeder_id == feeder.id, DerGroupRow.name == name
    )
    return session.scalars(query).first() is not None


def groups_of(session: Session, feeder: FeederRow) -> list[DerGroupRow]:
    """The groups of ``feeder``, oldest first."""
    query = select(DerGroupRow).where(DerGroupRow.feeder_id == feeder.id)
    return list(session.scalars(query.order_by(DerGroupRow.id)))
