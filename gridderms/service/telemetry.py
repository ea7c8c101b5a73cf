"""Telemetry ingest: DER and feeder-head measurements with time stamps and quality flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridderms.persistence.models import DerRow, TelemetryRow, utcnow
from gridderms.persistence.repositories import RecordNotFoundError, add_audit, feeder_by_name
from gridderms.service.auth import Principal

QUALITIES = ("good", "suspect", "bad")


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
    """

    der_id: str | None
    measured_at: datetime
    p_mw: float | None
    q_mvar: float | None
    vm_pu: float | None
    soc_percent: float | None
    quality: str


def ingest(
    session: Session, actor: Principal, feeder_name: str, measurements: Sequence[Measurement]
) -> int:
    """Store ``measurements`` of feeder ``feeder_name`` (all or none); return how many.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder or DER (the first unknown DER id is named).
    """
    feeder = feeder_by_name(session, feeder_name)
    known = set(session.scalars(select(DerRow.der_id).where(DerRow.feeder_id == feeder.id)))
    for m in measurements:
        if m.der_id is not None and m.der_id not in known:
            raise RecordNotFoundError("DER", m.der_id)
    now = utcnow()
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
            "received_at": now,
        }
        for m in measurements
    ]
    if rows:
        session.execute(TelemetryRow.__table__.insert(), rows)  # type: ignore[attr-defined]
    times = [m.measured_at for m in measurements]
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action="telemetry.ingest",
        target_type="feeder",
        target_id=feeder_name,
        after={
            "count": len(rows),
            "first": min(times).isoformat() if times else None,
            "last": max(times).isoformat() if times else None,
        },
    )
    session.commit()
    return len(rows)


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
