"""Response models of jobs: dispatch runs with their schedules, envelopes and diagnoses, and
hosting-capacity studies with their per-bus tables, built from their rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from api.schemas import Public
from gridderms.persistence.models import (
    DispatchRunRow,
    EnvelopeRow,
    HostingCapacityResultRow,
    HostingCapacityRunRow,
    ScheduleRow,
)
from gridderms.service.dispatch_views import ScheduleView


class JobPublic(Public):
    """The fields of a job (a dispatch run or a hosting-capacity study)."""

    run_id: str
    feeder: str
    feeder_version: int
    status: str
    progress: float
    request: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: DispatchRunRow | HostingCapacityRunRow, feeder: str, **more: Any) -> Self:
        """Job ``run`` of feeder ``feeder`` (``more``: the fields of a subclass)."""
        return cls.from_row(run, feeder=feeder, **more)


class DispatchRunPublic(JobPublic):
    """A dispatch run: status, progress, request and the AC-verified summary."""

    status: Literal[
        "queued", "running", "cancelling", "optimal", "infeasible", "failed", "cancelled"
    ]


class LimitRelaxationPublic(Public):
    """A limit that must give for the request to be feasible."""

    limit: str
    element: str
    element_id: int
    period: int
    amount: float | None
    unit: str


class DiagnosisPublic(Public):
    """Why a run is infeasible (empty for a feasible run)."""

    run_id: str
    status: str
    diagnosis: list[LimitRelaxationPublic]

    @classmethod
    def of(cls, run: DispatchRunRow) -> DiagnosisPublic:
        """The diagnosis of ``run`` (empty for a feasible run)."""
        diagnosis = [LimitRelaxationPublic(**item) for item in run.diagnosis or []]
        return cls(run_id=run.run_id, status=run.status, diagnosis=diagnosis)


class SchedulePointPublic(Public):
    """Set-point of one DER in one period."""

    der_id: str
    period: int
    p_mw: float
    q_mvar: float
    p_available_mw: float
    curtailed_mw: float
    mode: str


class EnvelopePointPublic(Public):
    """Dynamic operating envelope of one DER in one period [MW]."""

    der_id: str
    period: int
    p_min_mw: float
    p_max_mw: float


class SchedulePublic(Public):
    """A schedule with its set-points per DER per period."""

    schedule_id: int
    feeder: str
    run_id: str | None
    state: Literal["pending_approval", "active", "superseded", "rejected"]
    start: datetime
    step_minutes: int
    n_periods: int
    ac_feasible: bool
    created_at: datetime
    activated_at: datetime | None
    decided_by: str | None
    points: list[SchedulePointPublic]

    @classmethod
    def of(cls, view: ScheduleView) -> SchedulePublic:
        """The schedule of ``view`` with its points (taken as they are: a schedule may have a
        million)."""
        points = [SchedulePointPublic.model_construct(**p) for p in view.points]
        schedule = view.schedule
        return cls.from_row(
            schedule, schedule_id=schedule.id, feeder=view.feeder, run_id=view.run_id, points=points
        )


class EnvelopesPublic(Public):
    """Operating envelopes of a schedule."""

    schedule_id: int
    feeder: str
    envelopes: list[EnvelopePointPublic]

    @classmethod
    def of(cls, schedule: ScheduleRow, feeder: str, rows: list[EnvelopeRow]) -> EnvelopesPublic:
        """The envelopes ``rows`` of ``schedule`` of feeder ``feeder``."""
        return cls(
            schedule_id=schedule.id,
            feeder=feeder,
            envelopes=[EnvelopePointPublic.model_validate(r) for r in rows],
        )


class HostingCapacityRunPublic(JobPublic):
    """A hosting-capacity study: status, progress, request and summary."""

    status: Literal["queued", "running", "cancelling", "done", "failed", "cancelled"]


class HostingCapacityBusPublic(Public):
    """Hosting capacity of one bus [MW] and the limit that stops more (``null`` for a mode
    not studied, or at a source bus)."""

    bus: int
    feeder: str | None
    hc_gen_mw: float | None
    binding_gen: str | None
    hc_load_mw: float | None
    binding_load: str | None


class HostingCapacityTablePublic(HostingCapacityRunPublic):
    """A study with its per-bus table (empty until ``done``)."""

    buses: list[HostingCapacityBusPublic]

    @classmethod
    def of_table(
        cls, run: HostingCapacityRunRow, feeder: str, rows: list[HostingCapacityResultRow]
    ) -> HostingCapacityTablePublic:
        """Study ``run`` of feeder ``feeder`` with its table ``rows``."""
        buses = [HostingCapacityBusPublic.model_validate(row) for row in rows]
        return cls.of(run, feeder, buses=buses)
