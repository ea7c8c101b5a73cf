"""SQLAlchemy 2.0 typed ORM models of the dispatch service's database.

The schema is owned by the Alembic migrations in :mod:`gridderms.persistence.migrations`; these
classes describe it for the ORM and must stay in step with the latest migration (a test checks
that the migrated schema and the metadata agree).

Units are in the column names: ``p_mw`` [MW], ``q_mvar`` [MVAr], ``vm_pu`` [pu]. Every time
stamp is stored as UTC and read back timezone-aware (:class:`UtcDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

#: constraint names are deterministic so that migrations can refer to them on every backend
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON documents: ``jsonb`` on PostgreSQL, JSON text on SQLite
JsonDocument = JSON().with_variant(JSONB(), "postgresql")
#: 64-bit surrogate keys (SQLite only auto-increments ``INTEGER PRIMARY KEY``)
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware time stamp stored in UTC.

    Naive datetimes are refused (an ambiguous time stamp is a bug, not a default); SQLite,
    which has no time zones, returns naive values that are read back as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC before writing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class FeederRow(Base):
    """A feeder loaded into the service.

    ``version`` counts topology changes; ``switch_closed`` is the current state of every
    switch (switch id as a string -> closed), so the in-memory pandapower model can be rebuilt
    from ``source`` after a restart.

    ``latitude_deg`` [degrees north], ``longitude_deg`` [degrees east], ``altitude_m`` [m],
    ``tz`` (IANA time zone) and ``location_source`` (``user``) are the location the user set;
    all NULL: not set, the feeder uses what its model, its built-in region or the default
    gives (see :mod:`network_models.location`).
    """

    __tablename__ = "feeders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=0)
    operating_mode: Mapped[str] = mapped_column(String(20), default="manual")
    switch_closed: Mapped[dict[str, bool]] = mapped_column(JsonDocument, default=dict)
    latitude_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    altitude_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    tz: Mapped[str | None] = mapped_column(String(64), nullable=True)
    location_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class FeederVersionRow(Base):
    """One entry of a feeder's topology history (version 0 is the loaded model)."""

    __tablename__ = "feeder_versions"
    __table_args__ = (UniqueConstraint("feeder_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    switch_closed: Mapped[dict[str, bool]] = mapped_column(JsonDocument)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DerRow(Base):
    """A registered DER: the pydantic record as JSON plus indexed columns for look-ups.

    ``override_p_mw``/``override_q_mvar`` hold an operator set-point that wins over the
    optimiser in every later dispatch until it is cleared. ``state_version`` counts changes
    of the status, override and record (:func:`gridderms.service.ders.touch`): a dispatch
    run compares it, when it activates, with the versions it read.
    """

    __tablename__ = "ders"
    __table_args__ = (UniqueConstraint("feeder_id", "der_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"), index=True)
    der_id: Mapped[str] = mapped_column(String(200), index=True)
    bus: Mapped[int] = mapped_column(Integer, index=True)
    der_type: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(40), index=True)
    record: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    override_p_mw: Mapped[float | None] = mapped_column(Float, nullable=True)
    override_q_mvar: Mapped[float | None] = mapped_column(Float, nullable=True)
    state_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    @property
    def override(self) -> dict[str, float] | None:
        """The operator set-point ``{"p_mw": [MW], "q_mvar": [MVAr]}``, or ``None``."""
        if self.override_p_mw is None:
            return None
        return {"p_mw": self.override_p_mw, "q_mvar": self.override_q_mvar or 0.0}


class DerGroupRow(Base):
    """A named DER group of a feeder (rule ``by``/``value`` or explicit ``members``)."""

    __tablename__ = "der_groups"
    __table_args__ = (UniqueConstraint("feeder_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    by: Mapped[str] = mapped_column(String(20))
    value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    members: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TelemetryRow(Base):
    """One measurement: of a DER (``der_id``) or of the feeder head (``der_id`` null).

    Its identity is (feeder, DER, ``measured_at``, ``client_id``): a retried batch is not
    stored twice (``client_id`` is ``""`` when the sender gives none).
    """

    __tablename__ = "telemetry"
    __table_args__ = (
        Index("ix_telemetry_feeder_der_time", "feeder_id", "der_id", "measured_at"),
        Index("ix_telemetry_feeder_time", "feeder_id", "measured_at"),
        Index(
            "uq_telemetry_identity",
            "feeder_id",
            "der_id",
            "measured_at",
            "client_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"))
    der_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    p_mw: Mapped[float | None] = mapped_column(Float, nullable=True)
    q_mvar: Mapped[float | None] = mapped_column(Float, nullable=True)
    vm_pu: Mapped[float | None] = mapped_column(Float, nullable=True)
    soc_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    quality: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(200), default="", server_default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class JobColumns:
    """The columns every job row has (:class:`DispatchRunRow`, :class:`HostingCapacityRunRow`):
    the feeder's topology version it ran on, ``progress`` in [0, 1], the ``request`` and
    ``summary`` JSON documents, the ``error`` of a failed job, who requested it and when it was
    requested, started and finished."""

    feeder_version: Mapped[int] = mapped_column(Integer)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    request: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PerDerPeriodColumns:
    """The key columns of a row per DER and period of a schedule (:class:`SchedulePointRow`,
    :class:`EnvelopeRow`): one row per (schedule, DER, period)."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[UniqueConstraint]:  # noqa: N805 (a declared_attr)
        """One row per (schedule, DER, period); a constraint of each table's own."""
        return (UniqueConstraint("schedule_id", "der_id", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True, sort_order=-4)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), sort_order=-3
    )
    der_id: Mapped[str] = mapped_column(String(200), sort_order=-2)
    period: Mapped[int] = mapped_column(Integer, sort_order=-1)


class DispatchRunRow(JobColumns, Base):
    """One dispatch request and its outcome.

    ``status``: ``queued``, ``running``, ``cancelling`` (asked to stop at its next
    checkpoint), then ``optimal``, ``infeasible``, ``failed`` or ``cancelled``;
    ``progress`` in [0, 1]; ``summary`` is :meth:`DispatchResult.summary` (AC verification)
    with the telemetry the run started from,
    ``diagnosis`` the limits that must give when infeasible.
    """

    __tablename__ = "dispatch_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), unique=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    diagnosis: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonDocument, nullable=True)
    der_state: Mapped[dict[str, int] | None] = mapped_column(JsonDocument, nullable=True)


class ScheduleRow(Base):
    """A schedule computed by a dispatch run.

    ``state``: ``pending_approval`` (manual mode, or not AC-feasible), ``active``,
    ``superseded`` or ``rejected``. A partial unique index allows one ``active`` schedule per
    feeder, so a crash can never leave two, and the swap happens in one transaction.
    """

    __tablename__ = "schedules"
    __table_args__ = (
        Index(
            "ux_schedules_one_active_per_feeder",
            "feeder_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("dispatch_runs.id", ondelete="SET NULL"), nullable=True
    )
    state: Mapped[str] = mapped_column(String(20))
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    step_minutes: Mapped[int] = mapped_column(Integer)
    n_periods: Mapped[int] = mapped_column(Integer)
    ac_feasible: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SchedulePointRow(PerDerPeriodColumns, Base):
    """Set-point of one DER in one period of a schedule."""

    __tablename__ = "schedule_points"

    p_mw: Mapped[float] = mapped_column(Float)
    q_mvar: Mapped[float] = mapped_column(Float)
    p_available_mw: Mapped[float] = mapped_column(Float)
    curtailed_mw: Mapped[float] = mapped_column(Float)
    mode: Mapped[str] = mapped_column(String(40))


class EnvelopeRow(PerDerPeriodColumns, Base):
    """Dynamic operating envelope of one DER in one period of a schedule [MW]."""

    __tablename__ = "envelopes"

    p_min_mw: Mapped[float] = mapped_column(Float)
    p_max_mw: Mapped[float] = mapped_column(Float)


class CommandRow(Base):
    """A command to a DER (or to SCADA), queued by the service for the SCADA bridge.

    ``kind``: ``schedule`` (the DER's set-points of an activated schedule), ``setpoint`` (an
    operator override) or ``setpoint_release``; ``status``: ``pending``, ``sent``,
    ``acknowledged``, ``failed``, ``superseded`` (a newer command replaced it before it was
    sent) or ``cancelled`` (the DER was locked out or removed).
    """

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_feeder_status_der", "feeder_id", "status", "der_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"), index=True)
    der_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(200), server_default="system")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AlarmRow(Base):
    """An alarm raised on a feeder or a DER (``der_id`` null: the feeder itself).

    At most one alarm of a ``kind`` is active (``cleared_at`` null) per feeder and DER: a
    condition that persists updates it, a condition that ends clears it. An operator
    acknowledges it (``acknowledged_by``/``acknowledged_at``) whether it is active or not.
    """

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_feeder_kind_der", "feeder_id", "kind", "der_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"), index=True)
    der_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    severity: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditRow(Base):
    """Who changed what, when, with the state before and after (JSON)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(300))
    before: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    after: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), default="ok")


class ApiKeyRow(Base):
    """An API key: only its SHA-256 hash is stored, with the role it grants."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class FeederFileRow(Base):
    """The file an uploaded feeder was loaded from (pandapower JSON or MATPOWER ``.m`` text
    as it is; a binary MATPOWER ``.mat``, format ``matpower-mat``, base64-encoded), so its
    model can be rebuilt by any service instance."""

    __tablename__ = "feeder_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feeder_id: Mapped[int] = mapped_column(
        ForeignKey("feeders.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HostingCapacityRunRow(JobColumns, Base):
    """A hosting-capacity study of a feeder: request, status, progress and summary."""

    __tablename__ = "hosting_capacity_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))


class HostingCapacityResultRow(Base):
    """Hosting capacity of one bus in a study [MW] and the limit that stops more (``None``
    for a mode the study did not compute)."""

    __tablename__ = "hosting_capacity_results"
    __table_args__ = (UniqueConstraint("run_pk", "bus"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("hosting_capacity_runs.id", ondelete="CASCADE"))
    bus: Mapped[int] = mapped_column(Integer)
    feeder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hc_gen_mw: Mapped[float | None] = mapped_column(Float, nullable=True)
    binding_gen: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hc_load_mw: Mapped[float | None] = mapped_column(Float, nullable=True)
    binding_load: Mapped[str | None] = mapped_column(String(200), nullable=True)
