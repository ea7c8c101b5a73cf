"""In-memory DER registry: records by id, look-ups by type and bus, and named DER groups.

Groups are defined by a rule and evaluated against the registry's current records every time
they are read, so adding, replacing or removing a DER updates the groups it belongs to:

* ``by="type"``: every DER whose ``der_type`` equals ``value``;
* ``by="tag"``: every DER whose ``tags`` contain ``value``;
* ``by="feeder"``: every DER whose bus maps to feeder ``value`` in ``bus_to_feeder`` (DERs at
  buses missing from the mapping belong to no feeder group);
* ``by="custom"``: an explicit member list; removing a DER drops it from the list.

:class:`DerGroup` is an immutable snapshot of a group's definition and members.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from gridderms.ders.errors import (
    DerBusError,
    DerError,
    DerGroupError,
    DuplicateDerError,
    DuplicateGroupError,
    UnknownDerError,
    UnknownGroupError,
)
from gridderms.ders.records import DER_TYPES, DerRecord, DerRecordBase

GroupBy = Literal["feeder", "type", "tag", "custom"]
"""Rule a DER group is defined by."""

_GROUP_BY: tuple[str, ...] = get_args(GroupBy)


@dataclass(frozen=True)
class DerGroup:
    """Snapshot of a named DER group.

    Attributes
    ----------
    name : str
        Group name, unique in its registry.
    by : {"feeder", "type", "tag", "custom"}
        Rule the group is defined by.
    value : str or None
        Feeder name, ``der_type`` or tag selected; ``None`` for custom groups.
    member_ids : tuple[str, ...]
        Ids of the member DERs when the snapshot was taken, in registry order.
    """

    name: str
    by: GroupBy
    value: str | None
    member_ids: tuple[str, ...]


@dataclass
class _GroupRule:
    name: str
    by: GroupBy
    value: str | None
    members: list[str]
    bus_to_feeder: dict[int, str]


def _check_der_type(der_type: str, error: type[DerError] = DerError, context: str = "") -> None:
    if der_type not in DER_TYPES:
        raise error(
            f"{context}unknown der_type {der_type!r} (expected one of {', '.join(DER_TYPES)})"
        )


class DerRegistry:
    """DER records by ``der_id``, in insertion order, with named groups.

    Parameters
    ----------
    records : Iterable[DerRecord], optional
        Initial records, added with :meth:`add_many`.

    Examples
    --------
    >>> from gridderms.ders import ReactiveCapability, PvSystem
    >>> pv = PvSystem(der_id="pv-1", name="roof", bus=3, p_nameplate_mw=0.01,
    ...               p_available_mw=0.008, curtailable=True,
    ...               reactive=ReactiveCapability(s_rated_mva=0.01, pf_min=0.9,
    ...                                           ieee1547_category="B"))
    >>> registry = DerRegistry([pv])
    >>> [der.der_id for der in registry.at_bus(3)]
    ['pv-1']
    """

    def __init__(self, records: Iterable[DerRecord] = ()) -> None:
        self._records: dict[str, DerRecord] = {}
        self._groups: dict[str, _GroupRule] = {}
        self.add_many(records)

    # -- records --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[DerRecord]:
        return iter(list(self._records.values()))

    def __contains__(self, der_id: object) -> bool:
        return der_id in self._records

    def add(self, record: DerRecord) -> None:
        """Register one record.

        Raises
        ------
        DuplicateDerError
            A record with the same ``der_id`` is already registered.
        TypeError
            ``record`` is not a DER record.
        """
        self.add_many([record])

    def add_many(self, records: Iterable[DerRecord]) -> None:
        """Register several records, all or none.

        Raises
        ------
        DuplicateDerError
            An id is already registered or repeats within ``records``; nothing is added.
        TypeError
            An item is not a DER record; nothing is added.
        """
        batch = list(records)
        seen: set[str] = set()
        for record in batch:
            if not isinstance(record, DerRecordBase):
                raise TypeError(f"expected a DER record, got {type(record).__name__}")
            if record.der_id in self._records or record.der_id in seen:
                raise DuplicateDerError(record.der_id)
            seen.add(record.der_id)
        for record in batch:
            self._records[record.der_id] = record

    def get(self, der_id: str) -> DerRecord:
        """Return the record with id ``der_id``.

        Raises
        ------
        UnknownDerError
            No such record.
        """
        try:
            return self._records[der_id]
        except KeyError:
            raise UnknownDerError(der_id) from None

    def remove(self, der_id: str) -> DerRecord:
        """Unregister a record, drop it from custom groups and return it.

        Raises
        ------
        UnknownDerError
            No such record.
        """
        record = self.get(der_id)
        del self._records[der_id]
        for rule in self._groups.values():
            if der_id in rule.members:
                rule.members.remove(der_id)
        return record

    def replace(self, record: DerRecord) -> DerRecord:
        """Replace the registered record with the same ``der_id``; return the old one.

        The record keeps its position in iteration order and its custom-group memberships.

        Raises
        ------
        UnknownDerError
            No record with that id is registered.
        """
        old = self.get(record.der_id)
        self._records[record.der_id] = record
        return old

    def by_type(self, der_type: str) -> list[DerRecord]:
        """Return the records of one ``der_type`` (``"pv"``, ``"battery"``...), in order.

        Raises
        ------
        DerError
            ``der_type`` is not a known DER type.
        """
        _check_der_type(der_type)
        return [record for record in self._records.values() if record.der_type == der_type]

    def at_bus(self, bus: int) -> list[DerRecord]:
        """Return the records connected to pandapower bus ``bus``, in order."""
        return [record for record in self._records.values() if record.bus == bus]

    def validate_buses(self, bus_ids: Collection[int]) -> None:
        """Check that every DER connects to a bus of the feeder.

        Parameters
        ----------
        bus_ids : Collection[int]
            Bus indices of the feeder, e.g. ``net.bus.index``.

        Raises
        ------
        DerBusError
            Lists every DER (id and bus) whose bus is not in ``bus_ids``.
        """
        known = {int(bus) for bus in bus_ids}
        missing = [
            (record.der_id, record.bus)
            for record in self._records.values()
            if record.bus not in known
        ]
        if missing:
            raise DerBusError(missing)

    # -- groups ---------------------------------------------------------------------------

    def create_group(
        self,
        name: str,
        *,
        by: GroupBy,
        value: str | None = None,
        members: Collection[str] | None = None,
        bus_to_feeder: Mapping[int, str] | None = None,
    ) -> DerGroup:
        """Define a named group and return its current snapshot.

        Parameters
        ----------
        name : str
            Group name, non-empty and unique.
        by : {"feeder", "type", "tag", "custom"}
            Membership rule (see the module docstring).
        value : str, optional
            Feeder name, ``der_type`` or tag; required for ``feeder``, ``type`` and ``tag``,
            not allowed for ``custom``.
        members : Collection[str], optional
            Member ids of a ``custom`` group (required there, non-empty, all registered;
            repeats are dropped); not allowed for other rules.
        bus_to_feeder : Mapping[int, str], optional
            Bus index to feeder name; required for ``feeder`` groups (copied), where
            ``value`` must be one of its feeder names; not allowed for other rules.

        Returns
        -------
        DerGroup
            The group with its members at creation time.

        Raises
        ------
        DuplicateGroupError
            ``name`` is already used.
        UnknownDerError
            A custom member id is not registered.
        DerGroupError
            Any other inconsistent argument (missing ``value``, unknown ``der_type``,
            feeder group without ``bus_to_feeder``...).
        """
        if not name or not name.strip():
            raise DerGroupError("a DER group name must be non-empty")
        if name in self._groups:
            raise DuplicateGroupError(name)
        if by not in _GROUP_BY:
            raise DerGroupError(
                f"group '{name}': unknown rule by={by!r} (expected one of {', '.join(_GROUP_BY)})"
            )
        if by != "custom" and members is not None:
            raise DerGroupError(f"group '{name}': members are only allowed with by='custom'")
        if by != "feeder" and bus_to_feeder is not None:
            raise DerGroupError(f"group '{name}': bus_to_feeder is only allowed with by='feeder'")
        rule = _GroupRule(name=name, by=by, value=value, members=[], bus_to_feeder={})
        if by == "custom":
            if value is not None:
                raise DerGroupError(f"group '{name}': by='custom' takes members, not a value")
            if not members:
                raise DerGroupError(f"group '{name}': a custom group needs at least one member")
            if isinstance(members, str):
                raise DerGroupError(
                    f"group '{name}': members must be a collection of ids, not the string "
                    f"{members!r}"
                )
            for der_id in members:
                if der_id not in self._records:
                    raise UnknownDerError(der_id, context=f"group '{name}'")
            rule.members = list(dict.fromkeys(members))
        else:
            if not value:
                raise DerGroupError(f"group '{name}': by={by!r} needs a value")
            if by == "type":
                _check_der_type(value, DerGroupError, f"group '{name}': ")
            elif by == "feeder":
                if bus_to_feeder is None:
                    raise DerGroupError(
                        f"group '{name}': by='feeder' needs bus_to_feeder (bus -> feeder name)"
                    )
                if value not in set(bus_to_feeder.values()):
                    raise DerGroupError(
                        f"group '{name}': feeder '{value}' does not appear in bus_to_feeder"
                    )
                rule.bus_to_feeder = {int(bus): feeder for bus, feeder in bus_to_feeder.items()}
        self._groups[name] = rule
        return self._snapshot(rule)

    def list_groups(self) -> list[DerGroup]:
        """Return a snapshot of every group, in creation order."""
        return [self._snapshot(rule) for rule in self._groups.values()]

    def get_group(self, name: str) -> DerGroup:
        """Return a snapshot of one group.

        Raises
        ------
        UnknownGroupError
            No group with that name.
        """
        return self._snapshot(self._rule(name))

    def group_members(self, name: str) -> list[DerRecord]:
        """Return the current member records of a group, in registry order.

        Raises
        ------
        UnknownGroupError
            No group with that name.
        """
        return self._members(self._rule(name))

    def delete_group(self, name: str) -> None:
        """Delete a group (its DERs stay registered).

        Raises
        ------
        UnknownGroupError
            No group with that name.
        """
        self._rule(name)
        del self._groups[name]

    def _rule(self, name: str) -> _GroupRule:
        try:
            return self._groups[name]
        except KeyError:
            raise UnknownGroupError(name) from None

    def _members(self, rule: _GroupRule) -> list[DerRecord]:
        records = self._records.values()
        if rule.by == "type":
            return [record for record in records if record.der_type == rule.value]
        if rule.by == "tag":
            return [record for record in records if rule.value in record.tags]
        if rule.by == "feeder":
            feeders = rule.bus_to_feeder
            return [record for record in records if feeders.get(record.bus) == rule.value]
        chosen = set(rule.members)
        return [record for record in records if record.der_id in chosen]

    def _snapshot(self, rule: _GroupRule) -> DerGroup:
        member_ids = tuple(record.der_id for record in self._members(rule))
        return DerGroup(name=rule.name, by=rule.by, value=rule.value, member_ids=member_ids)
