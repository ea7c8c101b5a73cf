"""DERs of a feeder in the service: registration, replacement, removal, operator lock-out and
set-point overrides (carried into every later dispatch), all audited.

Records are the typed pydantic models of :mod:`gridderms.ders`, stored as their JSON form
(:func:`gridderms.ders.der_to_json_dict`) and read back with
:func:`gridderms.ders.ders_from_json`, which applies the same strict checks.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy.orm import Session

from gridderms.ders import DerError, DerRecord, der_to_json_dict, ders_from_json
from gridderms.ders.setpoints import SetpointError, check_setpoint
from gridderms.persistence.commands import cancel_pending
from gridderms.persistence.ders import der_by_id, ders_of, remove
from gridderms.persistence.errors import DuplicateRowError, add_unique
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.models import DerRow, FeederRow
from gridderms.service import commands
from gridderms.service.audit_log import audit
from gridderms.service.errors import ConflictError, InvalidRequestError, OutsideCapabilityError
from gridderms.service.feeder_models import FeederModels
from gridderms.service.principals import Principal


def records_of(rows: list[DerRow]) -> list[DerRecord]:
    """The typed records of ``rows`` (one strict parse of their stored JSON)."""
    if not rows:
        return []
    return ders_from_json(json.dumps([row.record for row in rows]))


#: the fields of a DER in its audit rows (``before``/``after``)
AUDIT_FIELDS = ("der_id", "der_type", "bus", "status", "override", "record")


def audit_state(row: DerRow) -> dict[str, Any]:
    """The state of a DER kept in its audit rows: indexed fields, override, record."""
    return {name: getattr(row, name) for name in AUDIT_FIELDS}


def new_row(feeder_pk: int, record: DerRecord) -> DerRow:
    """The row of ``record`` registered on the feeder of primary key ``feeder_pk``."""
    return DerRow(
        feeder_id=feeder_pk,
        der_id=record.der_id,
        bus=record.bus,
        der_type=record.der_type,
        status=record.status,
        record=der_to_json_dict(record),
    )


def touch(row: DerRow) -> None:
    """Count a change of the DER's status, override or record (``state_version``): a dispatch
    run that read an older version does not command this DER (see
    :mod:`gridderms.service.activation`)."""
    row.state_version = (row.state_version or 0) + 1


def _locked(session: Session, feeder_name: str, der_id: str) -> tuple[FeederRow, DerRow]:
    """The feeder (row locked on PostgreSQL, so that a run activating on this feeder waits
    for this change or this change for it) and its DER ``der_id``."""
    feeder = feeder_by_name(session, feeder_name, for_update=True)
    return feeder, der_by_id(session, feeder, der_id)


def _check_bus(models: FeederModels, feeder: FeederRow, record: DerRecord) -> None:
    with models.lock(feeder.name):
        buses = models.model(feeder).net.bus.index
    if record.bus not in buses:
        raise InvalidRequestError(
            f"DER '{record.der_id}': bus {record.bus} does not exist in feeder '{feeder.name}'"
        )


def _audit(
    session: Session,
    actor: Principal,
    action: str,
    feeder: FeederRow,
    der_id: str,
    before: Any,
    after: Any,
) -> None:
    audit(session, actor, action, ("der", f"{feeder.name}/{der_id}"), before=before, after=after)


def create(
    session: Session, models: FeederModels, actor: Principal, feeder_name: str, record: DerRecord
) -> DerRow:
    """Register ``record`` on feeder ``feeder_name``.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    InvalidRequestError
        The DER's bus is not in the feeder.
    ConflictError
        The id is taken on this feeder.
    """
    feeder = feeder_by_name(session, feeder_name)
    _check_bus(models, feeder, record)
    row = new_row(feeder.id, record)
    try:
        add_unique(session, row)
    except DuplicateRowError:
        raise ConflictError(
            f"DER '{record.der_id}' is already registered on feeder '{feeder_name}'"
        ) from None
    _audit(session, actor, "der.create", feeder, record.der_id, None, audit_state(row))
    session.commit()
    return row


def replace(
    session: Session,
    models: FeederModels,
    actor: Principal,
    feeder_name: str,
    der_id: str,
    record: DerRecord,
) -> DerRow:
    """Replace the record of DER ``der_id`` (same id; overrides are kept)."""
    if record.der_id != der_id:
        raise InvalidRequestError(
            f"the record's der_id '{record.der_id}' differs from the DER '{der_id}' in the path"
        )
    feeder, row = _locked(session, feeder_name, der_id)
    _check_bus(models, feeder, record)
    before = audit_state(row)
    touch(row)
    row.bus = record.bus
    row.der_type = record.der_type
    row.status = record.status
    row.record = der_to_json_dict(record)
    _audit(session, actor, "der.replace", feeder, der_id, before, audit_state(row))
    session.commit()
    return row


def delete(session: Session, actor: Principal, feeder_name: str, der_id: str) -> None:
    """Unregister DER ``der_id``."""
    feeder, row = _locked(session, feeder_name, der_id)
    before = audit_state(row)
    remove(session, row)
    cancel_pending(session, feeder.id, der_id, "DER removed from the registry")
    _audit(session, actor, "der.delete", feeder, der_id, before, None)
    session.commit()


def set_status(
    session: Session, actor: Principal, feeder_name: str, der_id: str, *, locked_out: bool
) -> DerRow:
    """Lock a DER out (the optimiser no longer moves it) or release it (``available``)."""
    feeder, row = _locked(session, feeder_name, der_id)
    status = "locked_out" if locked_out else "available"
    before = _merge(row, {"status": status}, ("status",), "status")
    touch(row)
    if locked_out:
        cancel_pending(session, feeder.id, der_id, "DER locked out by an operator")
    action = "der.lockout" if locked_out else "der.release"
    _audit(session, actor, action, feeder, der_id, before, audit_state(row))
    session.commit()
    return row


def set_override(
    session: Session,
    actor: Principal,
    feeder_name: str,
    der_id: str,
    setpoint: tuple[float, float] | None,
) -> DerRow:
    """Fix DER ``der_id`` at ``(p_mw, q_mvar)`` in every later dispatch, or clear the fix.

    Raises
    ------
    ConflictError
        The DER is locked out or offline: no command may be sent to it.
    InvalidRequestError
        The set-point is outside the DER's capability (its active-power range, or its
        reactive capability at that active power): the message names the limit.
    """
    feeder, row = _locked(session, feeder_name, der_id)
    if setpoint is not None:
        if row.status != "available":
            raise ConflictError(
                f"DER '{der_id}' is {row.status}: no set-point may be sent to it"
                + ("; release it first" if row.status == "locked_out" else "")
            )
        if not all(math.isfinite(v) for v in setpoint):
            raise InvalidRequestError(f"override of DER '{der_id}' must be finite")
        (record,) = records_of([row])
        try:
            setpoint = check_setpoint(record, *setpoint, what="override")
        except SetpointError as exc:
            raise OutsideCapabilityError(str(exc)) from None
    before = audit_state(row)
    touch(row)
    row.override_p_mw, row.override_q_mvar = setpoint if setpoint else (None, None)
    commands.queue_setpoint(session, feeder.id, der_id, setpoint, actor.name)
    action = "der.override" if setpoint else "der.override_clear"
    _audit(session, actor, action, feeder, der_id, before, audit_state(row))
    session.commit()
    return row


#: fields of each DER type an asset owner may change: its ratings (``reactive`` for every type)
CAPABILITY_FIELDS: dict[str, tuple[str, ...]] = {
    "pv": ("p_nameplate_mw", "curtailable"),
    "battery": (
        "p_charge_max_mw",
        "p_discharge_max_mw",
        "e_capacity_mwh",
        "soc_min_percent",
        "soc_max_percent",
        "charge_efficiency",
        "discharge_efficiency",
    ),
    "ev_charger": ("p_max_mw",),
    "flexible_load": ("p_min_mw", "p_max_mw"),
    "generator": ("p_max_mw", "curtailable"),
}
#: fields of each DER type that say what it can do now
AVAILABILITY_FIELDS: dict[str, tuple[str, ...]] = {
    "pv": ("p_available_mw",),
    "battery": ("soc_initial_percent",),
    "ev_charger": ("energy_need_mwh", "arrival", "departure"),
    "flexible_load": ("p_baseline_mw", "window_start", "window_end"),
    "generator": ("p_available_mw",),
}


def _merge(
    row: DerRow, changes: dict[str, Any], permitted: tuple[str, ...], what: str
) -> dict[str, Any]:
    """Apply ``changes`` (JSON values of the fields ``permitted`` for this DER) to its
    record, validated whole like a new record; return the DER's view before the change."""
    foreign = sorted(set(changes) - set(permitted))
    if foreign:
        raise InvalidRequestError(
            f"{', '.join(foreign)} not {what} field(s) of DER '{row.der_id}' ({row.der_type}); "
            f"its {what} fields: {', '.join(permitted)}"
        )
    try:
        (record,) = ders_from_json(json.dumps([{**row.record, **changes}]))
    except DerError as exc:
        raise InvalidRequestError(str(exc)) from None
    before = audit_state(row)
    row.status = record.status
    row.record = der_to_json_dict(record)
    return before


def set_capability(
    session: Session, actor: Principal, feeder_name: str, der_id: str, changes: dict[str, Any]
) -> DerRow:
    """Change ratings of DER ``der_id`` (fields of :data:`CAPABILITY_FIELDS` of its type, and
    ``reactive``); the DER is re-validated as a whole (400 naming the field that breaks).

    Raises
    ------
    InvalidRequestError
        A field its type does not have, or a record that fails validation.
    """
    feeder, row = _locked(session, feeder_name, der_id)
    before = _merge(row, changes, (*CAPABILITY_FIELDS[row.der_type], "reactive"), "capability")
    touch(row)
    _audit(session, actor, "der.capability", feeder, der_id, before, audit_state(row))
    session.commit()
    return row


def set_availability(
    session: Session,
    actor: Principal,
    feeder_name: str,
    der_id: str,
    status: str | None,
    changes: dict[str, Any],
) -> DerRow:
    """Declare a DER ``available`` or ``offline`` and/or what it can do now
    (:data:`AVAILABILITY_FIELDS` of its type). Taking it offline cancels its pending commands.

    Raises
    ------
    ConflictError
        The DER is locked out by an operator (release it first).
    InvalidRequestError
        A field its type does not have, or a record that fails validation.
    """
    feeder, row = _locked(session, feeder_name, der_id)
    if row.status == "locked_out" and status is not None:
        raise ConflictError(
            f"DER '{der_id}' is locked out by an operator; release it before declaring it {status}"
        )
    if status is not None:
        changes = {**changes, "status": status}
    permitted = (*AVAILABILITY_FIELDS[row.der_type], "status")
    before = _merge(row, changes, permitted, "availability")
    touch(row)
    if status == "offline":
        cancel_pending(session, feeder.id, der_id, "DER declared offline")
    _audit(session, actor, "der.availability", feeder, der_id, before, audit_state(row))
    session.commit()
    return row


def overrides_of(rows: list[DerRow]) -> dict[str, tuple[float, float]]:
    """``der_id -> (p_mw, q_mvar)`` of every DER with an operator set-point."""
    return {
        row.der_id: (row.override_p_mw, row.override_q_mvar or 0.0)
        for row in rows
        if row.override_p_mw is not None
    }


def list_ders(session: Session, feeder_name: str) -> list[DerRow]:
    """DERs of a feeder, in registration order."""
    return ders_of(session, feeder_by_name(session, feeder_name))


def get(session: Session, feeder_name: str, der_id: str) -> DerRow:
    """DER ``der_id`` of feeder ``feeder_name``.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder or DER.
    """
    return der_by_id(session, feeder_by_name(session, feeder_name), der_id)
