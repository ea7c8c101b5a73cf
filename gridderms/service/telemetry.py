"""Telemetry ingest: DER and feeder-head measurements with time stamps and quality flags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gridderms.persistence.ders import der_ids_of
from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.models import TelemetryRow, utcnow
from gridderms.persistence.telemetry_store import insert_measurements, latest_measurements
from gridderms.service.alarms import Condition, sync_conditions
from gridderms.service.audit_log import audit
from gridderms.service.errors import InvalidRequestError
from gridderms.service.principals import Principal

QUALITIES = ("good", "suspect", "bad")
#: the columns a measurement gives (``client_id`` apart: ``""`` when not given)
COLUMNS = ("der_id", "measured_at", "p_mw", "q_mvar", "vm_pu", "soc_percent", "quality")
#: how far in the future [s] of the service clock a measurement may be time stamped
MAX_CLOCK_SKEW_S = 300.0


#: one measurement, as the columns of :class:`~gridderms.persistence.models.TelemetryRow`:
#: ``der_id`` (``None``: the feeder head), ``measured_at`` (timezone-aware), ``p_mw`` [MW] and
#: ``q_mvar`` [MVAr] (generation positive for DERs, import positive at the feeder head),
#: ``vm_pu`` [pu], ``soc_percent`` [%] (each optional), ``quality`` (``good``, ``suspect`` or
#: ``bad``) and optionally ``client_id``, the sender's id of the measurement: with the DER
#: and ``measured_at`` it identifies it (a second copy is a duplicate, counted, not stored)
Measurement = Mapping[str, Any]


@dataclass(frozen=True)
class IngestResult:
    """What a batch did: measurements ``stored`` and ``duplicates`` (already stored, or
    repeated within the batch) dropped."""

    stored: int
    duplicates: int


def ingest(
    session: Session,
    actor: Principal,
    feeder_name: str,
    measurements: Sequence[Measurement],
    vm_band_pu: tuple[float, float] | None = None,
) -> IngestResult:
    """Store ``measurements`` of feeder ``feeder_name`` (all or none, each once: a
    measurement already stored is counted as a duplicate, not stored again).

    With ``vm_band_pu`` (min, max) [pu], the newest good voltage of each DER or feeder head in
    the batch raises its ``voltage_out_of_band`` alarm when outside the band and clears it
    when inside.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder or DER (the first unknown DER id is named).
    InvalidRequestError
        A measurement time stamped more than :data:`MAX_CLOCK_SKEW_S` in the future.
    """
    feeder = feeder_by_name(session, feeder_name)
    known = der_ids_of(session, feeder)
    now = utcnow()
    for i, m in enumerate(measurements):
        der_id, measured_at = m["der_id"], m["measured_at"]
        if der_id is not None and der_id not in known:
            raise RecordNotFoundError("DER", der_id)
        if (measured_at - now).total_seconds() > MAX_CLOCK_SKEW_S:
            raise InvalidRequestError(
                f"measurement {i} ({der_id or 'feeder head'}) is time stamped "
                f"{measured_at.isoformat()}, in the future of the service clock "
                f"({now.isoformat()}) by more than {MAX_CLOCK_SKEW_S:.0f} s"
            )
    rows = [
        {
            "feeder_id": feeder.id,
            **{column: m.get(column) for column in COLUMNS},
            "client_id": m.get("client_id") or "",
            "received_at": now,
        }
        for m in measurements
    ]
    stored, duplicates = insert_measurements(session, feeder.id, rows)
    if vm_band_pu is not None:
        _sync_voltage_alarms(session, feeder.id, measurements, vm_band_pu)
    times = [m["measured_at"] for m in measurements]
    audit(
        session,
        actor,
        "telemetry.ingest",
        ("feeder", feeder_name),
        after={
            "count": stored,
            "duplicates": duplicates,
            "first": min(times).isoformat() if times else None,
            "last": max(times).isoformat() if times else None,
        },
    )
    session.commit()
    return IngestResult(stored, duplicates)


def _sync_voltage_alarms(
    session: Session,
    feeder_id: int,
    measurements: Sequence[Measurement],
    band_pu: tuple[float, float],
) -> None:
    newest: dict[str | None, Measurement] = {}
    for m in measurements:
        if m.get("vm_pu") is None or m["quality"] != "good":
            continue
        seen = newest.get(m["der_id"])
        if seen is None or m["measured_at"] >= seen["measured_at"]:
            newest[m["der_id"]] = m
    if not newest:
        return  # no good voltage in the batch: nothing raises or clears
    low, high = band_pu
    present: dict[str | None, Condition] = {}
    for der_id, m in newest.items():
        vm_pu, measured_at = float(m["vm_pu"]), m["measured_at"]
        if low <= vm_pu <= high:
            continue
        where = f"DER '{der_id}'" if der_id else "feeder head"
        side, by = ("above", vm_pu - high) if vm_pu > high else ("below", low - vm_pu)
        present[der_id] = Condition(
            "major",
            f"{where}: measured {vm_pu:.4f} pu at {measured_at.isoformat()}, {by:.4f} pu "
            f"{side} the band [{low:g}, {high:g}] pu",
            {"vm_pu": m["vm_pu"], "measured_at": measured_at.isoformat()},
        )
    sync_conditions(session, feeder_id, "voltage_out_of_band", present, scope=newest.keys())


def latest(
    session: Session, feeder_name: str, der_id: str | None, limit: int
) -> list[TelemetryRow]:
    """The newest ``limit`` measurements of a feeder (of one DER when ``der_id`` is given)."""
    feeder = feeder_by_name(session, feeder_name)
    return latest_measurements(session, feeder.id, der_id, limit)
