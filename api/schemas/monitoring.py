"""Response models of what the service watches and sends: alarms, the commands queued for
the DERs and the telemetry stored, built from their rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from api.schemas import Public
from gridderms.persistence.models import AlarmRow, CommandRow


class AlarmPublic(Public):
    """An alarm of a feeder (``der_id`` null) or of a DER; ``active`` until its condition
    ends."""

    alarm_id: int
    feeder: str
    der_id: str | None
    kind: str
    severity: Literal["info", "warning", "major", "critical"]
    message: str
    details: dict[str, Any] | None
    active: bool
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None

    @classmethod
    def of(cls, row: AlarmRow, feeder: str) -> AlarmPublic:
        """Alarm ``row`` of feeder ``feeder``."""
        return cls.from_row(row, alarm_id=row.id, feeder=feeder, active=row.cleared_at is None)


class CommandPublic(Public):
    """A command to a DER queued for the SCADA bridge (``payload`` in [MW]/[MVAr])."""

    command_id: int
    feeder: str
    der_id: str | None
    schedule_id: int | None
    kind: Literal["schedule", "setpoint", "setpoint_release"]
    payload: dict[str, Any]
    status: Literal["pending", "sent", "acknowledged", "failed", "superseded", "cancelled"]
    requested_by: str
    created_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, row: CommandRow, feeder: str) -> CommandPublic:
        """Command ``row`` of feeder ``feeder``."""
        return cls.from_row(row, command_id=row.id, feeder=feeder)


class TelemetryAcceptedPublic(Public):
    """How many measurements were stored, and how many were duplicates of stored ones (the
    same DER, ``measured_at`` and ``client_id``: not stored again)."""

    feeder: str
    accepted: int
    duplicates: int


class MeasurementPublic(Public):
    """A stored measurement."""

    der_id: str | None
    measured_at: datetime
    p_mw: float | None
    q_mvar: float | None
    vm_pu: float | None
    soc_percent: float | None
    quality: str
    client_id: str
    received_at: datetime
