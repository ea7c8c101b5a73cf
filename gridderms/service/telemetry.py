"""Telemetry ingest: DER and feeder-head measurements with time stamps and quality flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridderms.persistence.models import DerRow, TelemetryRow, utcnow
from gridderms.persistence.repositories import RecordNotFoundError, add_audit, feeder_by_name
from gridderms.persistence.telemetry_store import insert_measurements
from gridderms.service.alarms import Condition, sync_conditions
from gridderms.service.auth import Principal
from gridderms.service.errors import InvalidRequestError

QUALITIES = ("good", "suspect", "bad")
#: how far in the future [s] of the service clock a measurement may be time stamped
MAX_CLOCK_SKEW_S = 300.0


@dataclass(frozen=True)
class Measurement:
    """One measurement; ``der_id`` ``None`` is the feeder head.

    Attributes
    ----------
    measured_at : datetime
        When it was measured (timezone-aware).
    p_mw, q_mvar : float, optional
        Active [MW] and reactive [MVAr] power, generation positive for DERs, import positive
        at the feeder head.
    vm_pu : float, optional
        Voltage magnitude [pu].
    soc_percent : float, optional
        State of charge of a battery [%].
    quality : {"good", "suspect", "bad"}
    client_id : str, optional
        The sender's id of the measurement; with the DER and ``measured_at`` it identifies
        the measurement (a second copy is a duplicate, counted and not stored).
    """

    der_id: str | None
    measured_at: datetime
    p_mw: float | None
    q_mvar: float | None
    vm_pu: float | None
    soc_percent: float | None
    quality: str
    client_id: str | None = None


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
    known = set(session.scalars(select(DerRow.der_id).where(DerRow.feeder_id == feeder.id)))
    now = utcnow()
    for i, m in enumerate(measurements):
        if m.der_id is not None and m.der_id not in known:
            raise RecordNotFoundError("DER", m.der_id)
        if (m.measured_at - now).total_seconds() > MAX_CLOCK_SKEW_S:
            raise InvalidRequestError(
                f"measurement {i} ({m.der_id or 'feeder head'}) is time stamped "
                f"{m.measured_at.isoformat()}, in the future of the service clock "
                f"({now.isoformat()}) by more than {MAX_CLOCK_SKEW_S:.0f} s"
            )
    rows = [
        {
            "feeder_id": feeder.id,
            "der_id": m.der_id,
            "measured_at": m.measured_at,
            "p_mw": m.p_mw,
            "q_mvar": m.q_mvar,
            "vm_pu": m.vm_pu,
            "soc_percent": m.soc_percent,
            "quality": m.quality,
            "client_id": m.client_id or "",
            "received_at": now,
        }
        for m in measurements
    ]
    stored, duplicates = insert_measurements(session, feeder.id, rows)
    if vm_band_pu is not None:
        _sync_voltage_alarms(session, feeder.id, measurements, vm_band_pu)
    times = [m.measured_at for m in measurements]
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action="telemetry.ingest",
        target_type="feeder",
        target_id=feeder_name,
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
        if m.vm_pu is None or m.quality != "good":
            continue
        seen = newest.get(m.der_id)
        if seen is None or m.measured_at >= seen.measured_at:
            newest[m.der_id] = m
    if not newest:
        return  # no good voltage in the batch: nothing raises or clears
    low, high = band_pu
    present: dict[str | None, Condition] = {}
    for der_id, m in newest.items():
        assert m.vm_pu is not None
        if low <= m.vm_pu <= high:
            continue
        where = f"DER '{der_id}'" if der_id else "feeder head"
        side, by = ("above", m.vm_pu - high) if m.vm_pu > high else ("below", low - m.vm_pu)
        present[der_id] = Condition(
            "major",
            f"{where}: measured {m.vm_pu:.4f} pu at {m.measured_at.isoformat()}, {by:.4f} pu "
            f"{side} the band [{low:g}, {high:g}] pu",
            {"vm_pu": m.vm_pu, "measured_at": m.measured_at.isoformat()},
        )
    sync_conditions(session, feeder_id, "voltage_out_of_band", present, scope=newest.keys())


def latest(
    session: Session, feeder_name: str, der_id: str | None, limit: int
) -> list[TelemetryRow]:
    """The newest ``limit`` measurements of a feeder (of one DER when ``der_id`` is given)."""
    feeder = feeder_by_name(session, feeder_name)
    query = select(TelemetryRow).where(TelemetryRow.feeder_id == feeder.id)
    if der_id is not None:
        query = query.where(TelemetryRow.der_id == der_id)
    query = query.order_by(TelemetryRow.measured_at.desc(), TelemetryRow.id.desc()).limit(limit)
    return list(session.scalars(query))
