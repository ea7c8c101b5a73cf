"""Response models of DERs and DER groups, built from their rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from api.schemas import Public
from gridderms.persistence.models import DerRow
from gridderms.service.der_groups import GroupView
from gridderms.service.ders import AVAILABILITY_FIELDS, CAPABILITY_FIELDS


def _pick(row: DerRow, fields: tuple[str, ...]) -> dict[str, Any]:
    """The ``fields`` of ``row``'s record that it has."""
    return {name: row.record[name] for name in fields if name in row.record}


class OverridePublic(Public):
    """An operator set-point."""

    p_mw: float
    q_mvar: float


class DerPublic(Public):
    """A registered DER: indexed fields, override and the full typed record."""

    der_id: str
    der_type: str
    bus: int
    status: str
    override: OverridePublic | None
    record: dict[str, Any]


class DerCapabilityPublic(Public):
    """A DER's ratings: the capability fields of its type and its reactive capability."""

    der_id: str
    der_type: str
    capability: dict[str, Any]

    @classmethod
    def of(cls, row: DerRow) -> DerCapabilityPublic:
        """The capability fields of ``row``'s type (and ``reactive``) in its record."""
        fields = (*CAPABILITY_FIELDS[row.der_type], "reactive")
        return cls(der_id=row.der_id, der_type=row.der_type, capability=_pick(row, fields))


class DerAvailabilityPublic(Public):
    """A DER's status and what it can do now."""

    der_id: str
    der_type: str
    status: str
    availability: dict[str, Any]

    @classmethod
    def of(cls, row: DerRow) -> DerAvailabilityPublic:
        """The status and the availability fields of ``row``'s type in its record."""
        return cls(
            der_id=row.der_id,
            der_type=row.der_type,
            status=row.status,
            availability=_pick(row, AVAILABILITY_FIELDS[row.der_type]),
        )


class DerGroupPublic(Public):
    """A DER group with its members now (rules are resolved against the registered DERs and
    the current topology)."""

    feeder: str
    name: str
    by: Literal["type", "tag", "feeder", "custom"]
    value: str | None
    members: list[str]
    created_at: datetime

    @classmethod
    def of(cls, view: GroupView) -> DerGroupPublic:
        """The group of ``view`` with its members now."""
        return cls.from_row(view.group, feeder=view.feeder, members=view.members)
