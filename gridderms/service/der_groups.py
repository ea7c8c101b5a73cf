"""Named DER groups of a feeder: a rule (``by`` = ``type``, ``tag`` or ``feeder``, with a
``value``) or an explicit member list (``by`` = ``custom``).

Definitions are stored; members are resolved when read, against the DERs registered now and,
for ``feeder`` groups (``value`` = ``feeder-<head bus>``), the current topology. Validation is
the registry's own (:meth:`gridderms.ders.DerRegistry.create_group`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridderms.ders import DerError, DerRegistry, GroupBy
from gridderms.ders.inventory import feeder_names
from gridderms.persistence.models import DerGroupRow, FeederRow
from gridderms.persistence.repositories import (
    RecordNotFoundError,
    add_audit,
    ders_of,
    feeder_by_name,
)
from gridderms.service.auth import Principal
from gridderms.service.ders import records_of
from gridderms.service.errors import ConflictError, InvalidRequestError
from gridderms.service.feeders import FeederModels


def _definition(row: DerGroupRow) -> dict[str, Any]:
    return {"name": row.name, "by": row.by, "value": row.value, "members": list(row.members)}


def _resolve(
    session: Session,
    models: FeederModels,
    feeder: FeederRow,
    name: str,
    by: GroupBy,
    value: str | None,
    members: list[str] | None,
) -> list[str]:
    """Member ids of the group defined by (``by``, ``value``, ``members``) on the DERs
    registered now; :class:`InvalidRequestError` naming the problem otherwise."""
    registry = DerRegistry(records_of(ders_of(session, feeder)))
    bus_to_feeder = None
    if by == "feeder":
        with models.lock(feeder.name):
            bus_to_feeder = feeder_names(models.model(feeder))
    try:
        group = registry.create_group(
            name,
            by=by,
            value=value,
            members=members if by == "custom" else None,
            bus_to_feeder=bus_to_feeder,
        )
    except DerError as exc:
        raise InvalidRequestError(str(exc)) from None
    return list(group.member_ids)


def public(
    session: Session, models: FeederModels, feeder: FeederRow, row: DerGroupRow
) -> dict[str, Any]:
    """The API view of a group, with its members now."""
    by: GroupBy = row.by  # type: ignore[assignment]
    try:
        members = _resolve(session, models, feeder, row.name, by, row.value, list(row.members))
    except InvalidRequestError:  # a custom member was deleted since: show the others
        registered = {r.der_id for r in ders_of(session, feeder)}
        members = [m for m in row.members if m in registered]
    return {
        "feeder": feeder.name,
        "name": row.name,
        "by": row.by,
        "value": row.value,
        "members": members,
        "created_at": row.created_at,
    }


def group_by_name(session: Session, feeder: FeederRow, name: str) -> DerGroupRow:
    """Group ``name`` of ``feeder`` (:class:`RecordNotFoundError` otherwise)."""
    row = session.scalars(
        select(DerGroupRow).where(DerGroupRow.feeder_id == feeder.id, DerGroupRow.name == name)
    ).one_or_none()
    if row is None:
        raise RecordNotFoundError("DER group", name)
    return row


def list_groups(session: Session, feeder_name: str) -> tuple[FeederRow, list[DerGroupRow]]:
    """The feeder and its groups, oldest first."""
    feeder = feeder_by_name(session, feeder_name)
    rows = session.scalars(
        select(DerGroupRow).where(DerGroupRow.feeder_id == feeder.id).order_by(DerGroupRow.id)
    )
    return feeder, list(rows)


def _audit(
    session: Session, actor: Principal, action: str, feeder: FeederRow, name: str, **states: Any
) -> None:
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action=action,
        target_type="der_group",
        target_id=f"{feeder.name}/{name}",
        **states,
    )


def create(
    session: Session,
    models: FeederModels,
    actor: Principal,
    feeder_name: str,
    name: str,
    by: GroupBy,
    value: str | None,
    members: list[str] | None,
) -> tuple[FeederRow, DerGroupRow]:
    """Define a group (audited).

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    ConflictError
        The feeder has a group of that name.
    InvalidRequestError
        An inconsistent definition (value with ``custom``, unknown DER, unknown type...).
    """
    feeder = feeder_by_name(session, feeder_name)
    if session.scalars(
        select(DerGroupRow.id).where(DerGroupRow.feeder_id == feeder.id, DerGroupRow.name == name)
    ).first():
        raise ConflictError(f"DER group '{name}' already exists on feeder '{feeder_name}'")
    resolved = _resolve(session, models, feeder, name, by, value, members)
    row = DerGroupRow(
        feeder_id=feeder.id,
        name=name,
        by=by,
        value=value,
        members=resolved if by == "custom" else [],
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ConflictError(
            f"DER group '{name}' already exists on feeder '{feeder_name}'"
        ) from None
    _audit(session, actor, "der_group.create", feeder, name, after=_definition(row))
    session.commit()
    return feeder, row


def replace(
    session: Session,
    models: FeederModels,
    actor: Principal,
    feeder_name: str,
    name: str,
    by: GroupBy,
    value: str | None,
    members: list[str] | None,
) -> tuple[FeederRow, DerGroupRow]:
    """Redefine group ``name`` (audited with before and after)."""
    feeder = feeder_by_name(session, feeder_name)
    row = group_by_name(session, feeder, name)
    resolved = _resolve(session, models, feeder, name, by, value, members)
    before = _definition(row)
    row.by = by
    row.value = value
    row.members = resolved if by == "custom" else []
    _audit(session, actor, "der_group.update", feeder, name, before=before, after=_definition(row))
    session.commit()
    return feeder, row


def delete(session: Session, actor: Principal, feeder_name: str, name: str) -> None:
    """Delete group ``name`` (audited; its DERs stay registered)."""
    feeder = feeder_by_name(session, feeder_name)
    row = group_by_name(session, feeder, name)
    before = _definition(row)
    session.delete(row)
    _audit(session, actor, "der_group.delete", feeder, name, before=before)
    session.commit()
