"""Request and response models of the API (OpenAPI 3 components).

Request models are strict (no coercion, no booleans as numbers, NaN/infinity rejected,
unknown fields rejected) and are validated from the raw JSON (:mod:`api.body`). Units are in
the field names. Create, update and public (response) models are separate classes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridderms.bounds import MAX_ENERGY_MWH, MAX_POWER_MW, DateTime, Label, Name
from gridderms.service.dispatch import DispatchSpec
from gridderms.service.hosting_capacity import HostingCapacitySpec

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

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
    name: Name | None = None


class FeederLocationUpdate(BaseModel):
    """Where a feeder is and its time zone, set by the user: replaces what its model, its
    built-in region or the default gives. PV forecasts follow the sun's path there; load
    profiles and dates given without an offset follow its local clock."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={
            "examples": [
                {
                    "latitude_deg": 48.4,
                    "longitude_deg": 7.9,
                    "altitude_m": 150.0,
                    "tz": "Europe/Berlin",
                }
            ]
        },
    )

    latitude_deg: float = Field(
        ge=-90, le=90, description="Latitude [degrees north], -90 .. 90", examples=[48.4]
    )
    longitude_deg: float = Field(
        ge=-180, le=180, description="Longitude [degrees east], -180 .. 180", examples=[7.9]
    )
    altitude_m: float = Field(
        default=0.0,
        ge=-500,
        le=9000,
        description="Altitude above sea level [m], -500 .. 9000; default 0 m",
        examples=[150.0],
    )
    tz: str = Field(
        min_length=1,
        max_length=64,
        description="IANA time zone name (an unknown zone is 422 naming it)",
        examples=["Europe/Berlin"],
    )


class FeederLocationPublic(Public):
    """Where a feeder is and its time zone, and where that came from."""

    latitude_deg: float = Field(description="Latitude [degrees north]", examples=[48.4])
    longitude_deg: float = Field(description="Longitude [degrees east]", examples=[7.9])
    altitude_m: float = Field(description="Altitude above sea level [m]", examples=[150.0])
    tz: str = Field(description="IANA time zone name", examples=["Europe/Berlin"])
    source: Literal["user", "model", "builtin", "default"] = Field(
        description="Where the location came from: set by the user, declared by the model "
        "(its `location` entry), the built-in feeder's real region, or the default (a note "
        "on the feeder says so)",
        examples=["user"],
    )


class FeederPublic(Public):
    """A loaded feeder."""

    name: str
    source: str
    version: int
    operating_mode: Literal["manual", "automatic"]
    created_at: datetime
    updated_at: datetime
    location: FeederLocationPublic = Field(
        description="The feeder's effective location and time zone"
    )


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
    location: FeederLocationPublic = Field(
        description="The feeder's effective location and time zone"
    )


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

    p_mw: float = Field(ge=-MAX_POWER_MW, le=MAX_POWER_MW)
    q_mvar: float = Field(default=0.0, ge=-MAX_POWER_MW, le=MAX_POWER_MW)


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


class ReactiveCapabilitySet(BaseModel):
    """Reactive capability: apparent-power rating [MVA], minimum power factor, IEEE 1547-2018
    category."""

    model_config = STRICT

    s_rated_mva: float = Field(gt=0, le=MAX_POWER_MW)
    pf_min: float = Field(gt=0, le=1)
    ieee1547_category: Literal["A", "B"]


class DerCapabilityUpdate(BaseModel):
    """New ratings of a DER: only the fields of its type (400 naming any other). The DER is
    re-validated as a whole, e.g. ``p_available_mw`` may not exceed a lowered
    ``p_nameplate_mw``."""

    model_config = STRICT

    p_nameplate_mw: float | None = Field(default=None, gt=0, le=MAX_POWER_MW)
    curtailable: bool | None = None
    p_charge_max_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    p_discharge_max_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    e_capacity_mwh: float | None = Field(default=None, gt=0, le=MAX_ENERGY_MWH)
    soc_min_percent: float | None = Field(default=None, ge=0, le=100)
    soc_max_percent: float | None = Field(default=None, ge=0, le=100)
    charge_efficiency: float | None = Field(default=None, gt=0, le=1)
    discharge_efficiency: float | None = Field(default=None, gt=0, le=1)
    p_max_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    p_min_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    reactive: ReactiveCapabilitySet | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> DerCapabilityUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one capability field")
        return self


class DerAvailabilityUpdate(BaseModel):
    """What a DER can do now: ``available`` or ``offline`` (a locked-out DER is the
    operator's: 409) and the current fields of its type (400 naming any other)."""

    model_config = STRICT

    status: Literal["available", "offline"] | None = None
    p_available_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    soc_initial_percent: float | None = Field(default=None, ge=0, le=100)
    energy_need_mwh: float | None = Field(default=None, ge=0, le=MAX_ENERGY_MWH)
    arrival: DateTime | None = None
    departure: DateTime | None = None
    p_baseline_mw: float | None = Field(default=None, ge=-MAX_POWER_MW, le=MAX_POWER_MW)
    window_start: DateTime | None = None
    window_end: DateTime | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> DerAvailabilityUpdate:
        if not self.model_fields_set:
            raise ValueError("give the status or at least one availability field")
        return self


class DerCapabilityPublic(Public):
    """A DER's ratings: the capability fields of its type and its reactive capability."""

    der_id: str
    der_type: str
    capability: dict[str, Any]


class DerAvailabilityPublic(Public):
    """A DER's status and what it can do now."""

    der_id: str
    der_type: str
    status: str
    availability: dict[str, Any]


# -- alarms and commands --------------------------------------------------------------------


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


# -- telemetry ------------------------------------------------------------------------------


class MeasurementCreate(BaseModel):
    """One measurement: of a DER (``der_id``) or of the feeder head (``der_id`` null)."""

    model_config = STRICT

    der_id: Name | None = None
    measured_at: DateTime
    p_mw: float | None = Field(default=None, ge=-MAX_POWER_MW, le=MAX_POWER_MW)
    q_mvar: float | None = Field(default=None, ge=-MAX_POWER_MW, le=MAX_POWER_MW)
    vm_pu: float | None = Field(default=None, ge=0, le=3)
    soc_percent: float | None = Field(default=None, ge=0, le=100)
    quality: Literal["good", "suspect", "bad"] = "good"
    client_id: Name | None = Field(
        default=None,
        description="The sender's id of this measurement: with der_id and measured_at it "
        "identifies it, so a retried batch is not stored twice",
    )


class TelemetryBatchCreate(BaseModel):
    """A batch of measurements, stored all or none."""

    model_config = STRICT

    measurements: list[MeasurementCreate] = Field(min_length=1, max_length=10_000)


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
    status: Literal[
        "queued", "running", "cancelling", "optimal", "infeasible", "failed", "cancelled"
    ]
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

    name: Name
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
    status: Literal["queued", "running", "cancelling", "done", "failed", "cancelled"]
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
    value: Label | None = Field(default=None, min_length=1)
    members: list[Name] | None = Field(
        default=None, min_length=1, max_length=10_000
    )


class DerGroupCreate(DerGroupUpdate):
    """A new DER group of the feeder."""

    name: Name


class DerGroupPublic(Public):
    """A DER group with its members now (rules are resolved against the registered DERs and
    the current topology)."""

    feeder: str
    name: str
    by: Literal["type", "tag", "feeder", "custom"]
    value: str | None
    members: list[str]
    created_at: datetime
