"""Queries of the commands queued for the SCADA bridge: superseding and cancelling pending
ones, bulk insert, and a filtered page of a feeder's commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gridderms.persistence.models import CommandRow


def supersede_pending(
    session: Session, feeder_id: int, kinds: tuple[str, ...], der_id: str | None
) -> None:
    """Mark the pending commands of ``kinds`` on a feeder (of DER ``der_id`` only, when
    given) ``superseded``."""
    query = update(CommandRow).where(
        CommandRow.feeder_id == feeder_id,
        CommandRow.status == "pending",
        CommandRow.kind.in_(kinds),
    )
    if der_id is not None:
        query = query.where(CommandRow.der_id == der_id)
    session.execute(query.values(status="superseded"))


def cancel_pending(session: Session, feeder_id: int, der_id: str, reason: str) -> int:
    """Mark the pending commands of a DER ``cancelled`` with ``reason``; return how many."""
    result = session.execute(
        update(CommandRow)
        .where(
            CommandRow.feeder_id == feeder_id,
            CommandRow.der_id == der_id,
            CommandRow.status == "pending",
        )
        .values(status="cancelled", error=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def insert_commands(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert commands given as column mappings (one statement; caller commits)."""
    if rows:
        session.execute(CommandRow.__table__.insert(), rows)  # type: ignore[attr-defined]


def commands_of(
    session: Session,
    feeder_id: int,
    *,
    status: str | None,
    kind: str | None,
    der_id: str | None,
    since: datetime | None,
    limit: int,
) -> list[CommandRow]:
    """Up to ``limit`` commands of feeder ``feeder_id``, newest first."""
    query = select(CommandRow).where(CommandRow.feeder_id == feeder_id)
    if status is not None:
        query = query.where(CommandRow.status == status)
    if kind is not None:
        query = query.where(CommandRow.kind == kind)
    if der_id is not None:
        query = query.where(CommandRow.der_id == der_id)
    if since is not None:
        query = query.where(CommandRow.created_at >= since)
    return list(session.scalars(query.order_by(CommandRow.id.desc()).limit(limit)))


def pending_of(session: Session, feeder_id: int, der_ids: Sequence[str]) -> list[CommandRow]:
    """The pending commands of the DERs ``der_ids`` on a feeder, oldest first."""
    if not der_ids:
        return []
    query = select(CommandRow).where(
        CommandRow.feeder_id == feeder_id,
        CommandRow.status == "pending",
        CommandRow.der_id.in_(list(der_ids)),
    )
    return list(session.scalars(query.order_by(CommandRow.id)))


def command_by_id(session: Session, feeder_id: int, command_id: int) -> CommandRow | None:
    """Command ``command_id`` of a feeder, locked for update where the database can."""
    query = select(CommandRow).where(
        CommandRow.feeder_id == feeder_id, CommandRow.id == command_id
    )
    return session.scalars(query.with_for_update()).first()

