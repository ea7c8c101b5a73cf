"""Request and response models of the API (OpenAPI 3 components).

Request models are strict (no coercion, no booleans as numbers, NaN/infinity rejected,
unknown fields rejected) and are validated from the raw JSON (:mod:`api.body`). Units are in
the field names. Create, update and public (response) models are separate classes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridderms.service.dispatch import DispatchSpec
from gridderms.service.hosting_capacity import HostingCapacitySpec

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"

Role = Literal["viewer", "operator", "adms", "admin"]


class Public(BaseModel):
    """Base of response models."""

    model_config = ConfigDict(from_attributes=True)


# -- health ---------------------------------------------------------------------------------


class HealthPublic(Public):
    """Liveness: the process answers."""

    status: Literal["ok"]


class ReadinessPublic(Public):
    """Readiness: the database answers and is migrated to the revision the code needs."""

    status: Literal["ready", "not_ready"]
    database: str
    revision: str | None
    required_revision: str
    detail: str | None = None


class ErrorPublic(Public):
    """An error: ``detail`` is the message (names the id involved)."""

    detail: str


# -- feeders --------------------------------------------------------------------------------


class BuiltinFeederPublic(Public):
    """A built-in reference feeder that can be loaded."""

    name: str
    description: str
    reference: str


class FeederCreate(BaseModel):
    """Load a built-in feeder (under ``name``, default the built-in's name)."""

    model_config = STRICT

    builtin: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, pattern=NAME_PATTERN)


class FeederPublic(Public):
    """A loaded feeder."""

    name: str
    source: str
    version: int
    operating_mode: Literal["manual", "automatic"]
    created_at: datetime
    updated_at: datetime


class FeederDetailPublic(Public):
    """Description of a feeder: size, levels, topology summary and model notes."""

    name: str
    source: str
    version: int
    operating_mode: str
    buses: int
    lines: int
    trafos: int
    switches: int
    loads: int
    ders: int
    voltage_levels_kv: dict[str, int]
    total_load_p_mw: float
    radial: bool
    islands: int
    profile_steps: int
    notes: list[str]


class SwitchPublic(Public):
    """State of one switch."""

    switch_id: int
    bus: int
    element: int
    et: str
    closed: bool


class TopologyPublic(Public):
    """The in-service topology at the feeder's current version."""

    feeder: str
    version: int
    radial: bool
    sources: list[int]
    islands: int
    meshes: int
    deenergized_buses: list[int]
    feeder_heads: dict[str, int]
    switches: list[SwitchPublic]


class FeederVersionPublic(Public):
    """One topology change (version 0: the loaded model)."""

    version: int
    change: dict[str, Any]
    actor: str
    created_at: datetime


class SwitchOperation(BaseModel):
    """Open or close a switch; with ``expected_version`` the change is refused (409) when the
    feeder's topology moved on."""

    model_config = STRICT

    expected_version: int | None = Field(default=None, ge=0)


class SwitchResultPublic(Public):
    """Outcome of a switching request."""

    feeder: str
    switch_id: int
    closed: bool
    changed: bool
    version: int


class ModeUpdate(BaseModel):
    """Operating mode: ``manual`` (operator approves schedules) or ``automatic``."""

    model_config = STRICT

    operating_mode: Literal["manual", "automatic"]


# -- DERs -----------------------------------------------------------------------------------


class OverrideSet(BaseModel):
    """Operator set-point held fixed in every later dispatch."""

    model_config = STRICT

    p_mw: float = Field(ge=-1e4, le=1e4)
    q_mvar: float = Field(default=0.0, ge=-1e4, le=1e4)


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


# -- telemetry ------------------------------------------------------------------------------


class MeasurementCreate(BaseModel):
    """One measurement: of a DER (``der_id``) or of the feeder head (``der_id`` null)."""

    model_config = STRICT

    der_id: str | None = Field(default=None, min_length=1, max_length=200)
    measured_at: AwareDatetime = Field(strict=False)
    p_mw: float | None = Field(default=None, ge=-1e4, le=1e4)
    q_mvar: float | None = Field(default=None, ge=-1e4, le=1e4)
    vm_pu: float | None = Field(default=None, ge=0, le=3)
    soc_percent: float | None = Field(default=None, ge=0, le=100)
    quality: Literal["good", "suspect", "bad"] = "good"


class TelemetryBatchCreate(BaseModel):
    """A batch of measurements, stored all or none."""

    model_config = STRICT

    measurements: list[MeasurementCreate] = Field(min_length=1, max_length=10_000)


class TelemetryAcceptedPublic(Public):
    """How many measurements were stored."""

    feeder: str
    accepted: int


class MeasurementPublic(Public):
    """A stored measurement."""

    der_id: str | None
    measured_at: datetime
    p_mw: float | None
    q_mvar: float | None
    vm_pu: float | None
    soc_percent: float | None
    quality: str
    received_at: datetime


# -- power flow -----------------------------------------------------------------------------


class PowerFlowPublic(Public):
    """AC power flow of the feeder's current state."""

    feeder: str
    feeder_version: int
    backend: str
    converged: bool
    losses_mw: float | None
    losses_mvar: float | None
    min_vm_pu: float | None
    min_vm_bus: int
    max_vm_pu: float | None
    max_vm_bus: int
    max_loading_percent: float | None
    max_loading_element: list[Any] | None
    load_p_mw: float | None
    generation_p_mw: float | None
    overrides_applied: list[str]
    violations: list[dict[str, Any]]
    deenergized_buses: list[int]
    solve_time_s: float | None


# -- dispatch -------------------------------------------------------------------------------


class DispatchRunCreate(DispatchSpec):
    """Request a dispatch of the feeder's DERs (see the field descriptions)."""


class DispatchRunPublic(Public):
    """A dispatch run: status, progress, request and the AC-verified summary."""

    run_id: str
    feeder: str
    feeder_version: int
    status: Literal["queued", "running", "optimal", "infeasible", "failed"]
    progress: float
    request: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


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


class EnvelopesPublic(Public):
    """Operating envelopes of a schedule."""

    schedule_id: int
    feeder: str
    envelopes: list[EnvelopePointPublic]


# -- audit and keys -------------------------------------------------------------------------


class AuditPublic(Public):
    """One audit row."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target_type: str
    target_id: str
    before: Any
    after: Any
    outcome: str


class ApiKeyCreate(BaseModel):
    """Create an API key with a role."""

    model_config = STRICT

    name: str = Field(pattern=NAME_PATTERN)
    role: Role


class ApiKeyPublic(Public):
    """An API key, without the key."""

    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreatedPublic(ApiKeyPublic):
    """A new API key: ``key`` is shown only in this response."""

    key: str


# -- hosting capacity -----------------------------------------------------------------------


class HostingCapacityCreate(HostingCapacitySpec):
    """Request a hosting-capacity study of the feeder (a background job)."""


class HostingCapacityRunPublic(Public):
    """A hosting-capacity study: status, progress, request and summary."""

    run_id: str
    feeder: str
    feeder_version: int
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    request: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


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


# -- DER groups -----------------------------------------------------------------------------


class DerGroupUpdate(BaseModel):
    """A DER group's definition: a rule (``by`` = ``type``/``tag``/``feeder`` with a ``value``;
    ``feeder`` values are ``feeder-<head bus>``) or explicit ``members`` (``by`` = ``custom``)."""

    model_config = STRICT

    by: Literal["type", "tag", "feeder", "custom"]
    value: str | None = Field(default=None, min_length=1, max_length=200)
    members: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, min_length=1, max_length=10_000
    )


class DerGroupCreate(DerGroupUpdate):
    """A new DER group of the feeder."""

    name: str = Field(pattern=NAME_PATTERN)


class DerGroupPublic(Public):
    """A DER group with its members now (rules are resolved against the registered DERs and
    the current topology)."""

    feeder: str
    name: str
    by: Literal["type", "tag", "feeder", "custom"]
    value: str | None
    members: list[str]
    created_at: datetime
