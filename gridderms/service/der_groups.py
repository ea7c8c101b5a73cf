"""Named DER groups of a feeder: a rule (``by`` = ``type``, ``tag`` or ``feeder``, with a
``value``) or an explicit member list (``by`` = ``custom``).

Definitions are stored; members are resolved when read, against the DERs registered now and,
for ``feeder`` groups (``value`` = ``feeder-<head bus>``), the current topology. Validation is
the registry's own (:meth:`gridderms.ders.DerRegistry.create_group`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gridderms.ders import DerError, DerRegistry, GroupBy
from gridderms.ders.inventory import feeder_names
from gridderms.persistence.ders import ders_of, group_by_name, group_exists, groups_of, remove
from gridderms.persistence.errors import DuplicateRowError, add_unique
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.models import DerGroupRow, FeederRow
from gridderms.service.audit_log import audit
from gridderms.service.ders import records_of
from gridderms.service.errors import ConflictError, InvalidRequestError
from gridderms.service.feeder_models import FeederModels
from gridderms.service.principals import Principal


def _definition(row: DerGroupRow) -> dict[str, Any]:
    return {"name": row.name, "by": row.by, "value": row.value, "members": list(row.members)}


@dataclass(frozen=True)
class GroupRule:
    """How a group is defined: a rule ``by`` (``type``, ``tag`` or ``feeder``) with a
    ``value``, or explicit ``members`` (``by`` = ``custom``)."""

    by: GroupBy
    value: str | None = None
    members: list[str] | None = None


def _resolve(
    session: Session, models: FeederModels, feeder: FeederRow, name: str, rule: GroupRule
) -> list[str]:
    """Member ids of group ``name`` defined by ``rule`` on the DERs registered now;
    :class:`InvalidRequestError` naming the problem otherwise."""
    by, value, members = rule.by, rule.value, rule.members
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


def members_now(
    session: Session, models: FeederModels, feeder: FeederRow, row: DerGroupRow
) -> list[str]:
    """The members of group ``row`` now: its rule resolved against the DERs registered now
    (and the current topology); of a ``custom`` group, its members still registered."""
    rule = GroupRule(row.by, row.value, list(row.members))  # type: ignore[arg-type]
    try:
        members = _resolve(session, models, feeder, row.name, rule)
    except InvalidRequestError:  # a custom member was deleted since: show the others
        registered = {r.der_id for r in ders_of(session, feeder)}
        members = [m for m in row.members if m in registered]
    return members


@dataclass(frozen=True)
class GroupView:
    """A group as it is read: its feeder's name, its row and its members now."""

    feeder: str
    group: DerGroupRow
    members: list[str]


def view(session: Session, models: FeederModels, feeder: FeederRow, row: DerGroupRow) -> GroupView:
    """Group ``row`` of ``feeder`` with its members now (:func:`members_now`)."""
    return GroupView(feeder.name, row, members_now(session, models, feeder, row))


def get(session: Session, feeder_name: str, name: str) -> tuple[FeederRow, DerGroupRow]:
    """The feeder and its group ``name``.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder or group.
    """
    feeder = feeder_by_name(session, feeder_name)
    return feeder, group_by_name(session, feeder, name)


def list_groups(session: Session, feeder_name: str) -> tuple[FeederRow, list[DerGroupRow]]:
    """The feeder and its groups, oldest first."""
    feeder = feeder_by_name(session, feeder_name)
    return feeder, groups_of(session, feeder)


def _define(row: DerGroupRow, rule: GroupRule, resolved: list[str]) -> None:
    """Give ``row`` the definition ``rule`` (a custom group stores its ``resolved`` members)."""
    row.by = rule.by
    row.value = rule.value
    row.members = resolved if rule.by == "custom" else []


def _audit(
    session: Session, actor: Principal, action: str, feeder: FeederRow, name: str, **states: Any
) -> None:
    audit(session, actor, action, ("der_group", f"{feeder.name}/{name}"), **states)


def define(
    session: Session,
    models: FeederModels,
    actor: Principal,
    feeder_name: str,
    name: str,
    rule: GroupRule,
    *,
    new: bool,
) -> tuple[FeederRow, DerGroupRow]:
    """Define a new group ``name`` by ``rule`` (``new``), or redefine it; audited
    (``der_group.create``, or ``der_group.update`` with before and after).

    Raises
    ------
    RecordNotFoundError
        Unknown feeder, or (not ``new``) unknown group.
    ConflictError
        ``new``, and the feeder has a group of that name.
    InvalidRequestError
        An inconsistent definition (value with ``custom``, unknown DER, unknown type...).
    """
    if not new:
        feeder, row = get(session, feeder_name, name)
        before = _definition(row)
        _define(row, rule, _resolve(session, models, feeder, name, rule))
        audit_row = {"before": before, "after": _definition(row)}
        _audit(session, actor, "der_group.update", feeder, name, **audit_row)
        session.commit()
        return feeder, row
    feeder = feeder_by_name(session, feeder_name)
    taken = ConflictError(f"DER group '{name}' already exists on feeder '{feeder_name}'")
    if group_exists(session, feeder, name):
        raise taken
    row = DerGroupRow(feeder_id=feeder.id, name=name)
    _define(row, rule, _resolve(session, models, feeder, name, rule))
    try:
        add_unique(session, row)
    except DuplicateRowError:
        raise taken from None
    _audit(session, actor, "der_group.create", feeder, name, after=_definition(row))
    session.commit()
    return feeder, row


def delete(session: Session, actor: Principal, feeder_name: str, name: str) -> None:
    """Delete group ``name`` (audited; its DERs stay registered)."""
    feeder, row = get(session, feeder_name, name)
    before = _definition(row)
    remove(session, row)
    _audit(session, actor, "der_group.delete", feeder, name, before=before)
    session.commit()
