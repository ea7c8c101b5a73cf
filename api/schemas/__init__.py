"""Request and response models of the API (OpenAPI 3 components).

Request models (this module) are strict (no coercion, no booleans as numbers, NaN/infinity
rejected, unknown fields rejected) and are validated from the raw JSON (:mod:`api.body`).
Response models live by aggregate in the submodules (:mod:`api.schemas.feeders`,
:mod:`api.schemas.ders`, :mod:`api.schemas.monitoring`, :mod:`api.schemas.runs`,
:mod:`api.schemas.system`), each built from the rows or domain objects of the services
(``model_validate(row)`` or a classmethod ``of``), so a shape is written once. Units are in the
field names.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridderms.bounds import MAX_ENERGY_MWH, MAX_POWER_MW, DateTime, Label, Name
from gridderms.service.dispatch_spec import DispatchSpec
from gridderms.service.hosting_capacity_spec import HostingCapacitySpec
from gridderms.service.json_documents import STRICT

Role = Literal["viewer", "operator", "adms", "admin"]


class Public(BaseModel):
    """Base of response models."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def from_row(cls, row: object, **given: Any) -> Self:
        """The model of ``row``: every field its attribute of the same name, but those
        ``given`` (fields the row does not have, or has under another name)."""
        taken = {name: getattr(row, name) for name in cls.model_fields if name not in given}
        return cls(**taken, **given)


# -- feeders --------------------------------------------------------------------------------


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


class SwitchOperation(BaseModel):
    """Open or close a switch; with ``expected_version`` the change is refused (409) when the
    feeder's topology moved on."""

    model_config = STRICT

    expected_version: int | None = Field(default=None, ge=0)


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


class DerGroupUpdate(BaseModel):
    """A DER group's definition: a rule (``by`` = ``type``/``tag``/``feeder`` with a ``value``;
    ``feeder`` values are ``feeder-<head bus>``) or explicit ``members`` (``by`` = ``custom``)."""

    model_config = STRICT

    by: Literal["type", "tag", "feeder", "custom"]
    value: Label | None = Field(default=None, min_length=1)
    members: list[Name] | None = Field(default=None, min_length=1, max_length=10_000)


class DerGroupCreate(DerGroupUpdate):
    """A new DER group of the feeder."""

    name: Name


# -- telemetry, dispatch, studies, keys -----------------------------------------------------


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


class DispatchRunCreate(DispatchSpec):
    """Request a dispatch of the feeder's DERs (see the field descriptions)."""


class HostingCapacityCreate(HostingCapacitySpec):
    """Request a hosting-capacity study of the feeder (a background job)."""


class ApiKeyCreate(BaseModel):
    """Create an API key with a role."""

    model_config = STRICT

    name: Name
    role: Role
