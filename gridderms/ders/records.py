"""Typed, immutable DER records: PV, battery storage, EV charger, flexible load, generator.

Every record is a frozen, strict pydantic v2 model: unknown fields are rejected, nothing is
coerced (``"1.0"`` or ``True`` is not a number), and every number must be finite. The record
type is selected by the ``der_type`` discriminator; :data:`DerRecord` is the union type.

Units follow pandapower: [MW], [MVAr], [MVA], [MWh], [%]; generation positive, load positive
for :class:`FlexibleLoad` and :class:`EvCharger` (they only consume). The bounds are those of
every input (:mod:`gridderms.bounds`): powers at most ``MAX_POWER_MW`` in magnitude, energies
at most ``MAX_ENERGY_MWH``, date-times ISO 8601 with an offset within ``DATETIME_YEARS``, ids
of the ``NAME_PATTERN``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gridderms.bounds import MAX_ENERGY_MWH, MAX_POWER_MW, DateTime, Label, Name, check_label
from gridderms.ders._checks import STRICT_FROZEN, check_numeric_inputs
from gridderms.ders.capability import ReactiveCapability

DerStatus = Literal["available", "offline", "locked_out"]
"""Operational status: dispatchable, out of service, or locked out by the operator."""

DerType = Literal["pv", "battery", "ev_charger", "flexible_load", "generator"]
"""Value of the ``der_type`` discriminator."""

_REL_TOL = 1e-9


def _fmt(value: float) -> str:
    """Format a number for an error message (up to 6 significant digits)."""
    return f"{value:g}"


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600.0


class DerRecordBase(BaseModel):
    """Fields common to every DER record.

    Attributes
    ----------
    der_id : str
        Unique id of the DER in the registry: ASCII letters, digits, ``.``, ``_``, ``:`` and
        ``-``, starting with a letter or digit, at most 200 characters
        (:data:`gridderms.bounds.NAME_PATTERN`).
    name : str
        Human-readable name (may be empty; printable, at most 200 characters:
        :data:`gridderms.bounds.Label`).
    bus : int
        pandapower bus index the DER connects to, >= 0.
    status : {"available", "offline", "locked_out"}
        Operational status; default ``"available"``.
    reactive : ReactiveCapability
        Reactive power capability ([MVA] rating, minimum power factor, IEEE 1547 category).
    tags : frozenset[str]
        Free-form labels used for grouping; each non-empty, without ``;`` (the CSV separator),
        printable and at most 200 characters.
        A ``set``, ``list`` or ``tuple`` of strings is accepted and stored as a frozenset.
    source_element : tuple[str, int] or None
        pandapower element the record was imported from, e.g. ``("sgen", 3)``.
    """

    model_config = STRICT_FROZEN

    der_type: DerType
    der_id: Name
    name: Label
    bus: int = Field(ge=0)
    status: DerStatus = "available"
    reactive: ReactiveCapability
    tags: frozenset[str] = frozenset()
    source_element: tuple[str, int] | None = None

    @model_validator(mode="before")
    @classmethod
    def _check_raw_input(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        der_id = data.get("der_id")
        check_numeric_inputs(cls, data, der_id=der_id)
        check_numeric_inputs(
            ReactiveCapability, data.get("reactive"), der_id=der_id, prefix="reactive."
        )
        tags = data.get("tags")
        if isinstance(tags, set | list | tuple):
            return {**data, "tags": frozenset(tags)}
        return data

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: frozenset[str], info: ValidationInfo) -> frozenset[str]:
        for tag in value:
            if not tag.strip() or ";" in tag:
                raise ValueError(
                    f"tag {tag!r} of DER '{info.data.get('der_id')}' must be non-empty and "
                    "must not contain ';'"
                )
            check_label(tag, "tag")
        return value

    @field_validator("source_element")
    @classmethod
    def _check_source(
        cls, value: tuple[str, int] | None, info: ValidationInfo
    ) -> tuple[str, int] | None:
        if value is not None and (not value[0] or value[1] < 0):
            raise ValueError(
                f"source_element {value!r} of DER '{info.data.get('der_id')}' must be "
                "(non-empty table name, index >= 0)"
            )
        return value


class PvSystem(DerRecordBase):
    """Photovoltaic system (inverter-based, curtailable or not).

    Attributes
    ----------
    p_nameplate_mw : float
        Nameplate (DC-limited AC) active power [MW], > 0.
    p_available_mw : float
        Active power currently available from the sun [MW], ``0 <= p <= p_nameplate_mw``.
    curtailable : bool
        Whether the DERMS may curtail the output below ``p_available_mw``.
    p_min_mw : float
        Lowest output the DERMS may curtail to [MW] (pandapower ``min_p_mw``), default 0.
    p_limit_mw : float, optional
        Declared highest output [MW] (pandapower ``max_p_mw``, an export limit): caps the
        available power of every period.
    tilt_deg, azimuth_deg : float, optional
        Array tilt from horizontal and azimuth clockwise from north [degrees] for the PV
        forecast; defaults in :mod:`gridderms.forecast.solar`.
    """

    der_type: Literal["pv"] = "pv"
    p_nameplate_mw: float = Field(gt=0, le=MAX_POWER_MW)
    p_available_mw: float = Field(ge=0, le=MAX_POWER_MW)
    curtailable: bool
    p_min_mw: float = Field(default=0.0, ge=0, le=MAX_POWER_MW)
    p_limit_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    tilt_deg: float | None = Field(default=None, ge=0, le=90)
    azimuth_deg: float | None = Field(default=None, ge=0, le=360)

    @model_validator(mode="after")
    def _check_available(self) -> PvSystem:
        if self.p_available_mw > self.p_nameplate_mw:
            raise ValueError(
                f"field 'p_available_mw' = {_fmt(self.p_available_mw)} exceeds "
                f"p_nameplate_mw = {_fmt(self.p_nameplate_mw)}"
            )
        _check_p_range(self.p_min_mw, self.p_limit_mw, self.p_nameplate_mw)
        return self


class BatteryStorage(DerRecordBase):
    """Battery energy storage system.

    Attributes
    ----------
    p_charge_max_mw : float
        Maximum charging power [MW], >= 0 (a magnitude).
    p_discharge_max_mw : float
        Maximum discharging power [MW], >= 0 (a magnitude).
    e_capacity_mwh : float
        Usable energy capacity at 100 % state of charge [MWh], > 0.
    soc_min_percent, soc_max_percent : float
        State-of-charge operating band [%] of ``e_capacity_mwh``, ``0 <= min < max <= 100``.
    soc_initial_percent : float
        State of charge at the start of the horizon [%], within the band.
    charge_efficiency, discharge_efficiency : float
        One-way conversion efficiencies [-], ``0 < eff <= 1``.
    """

    der_type: Literal["battery"] = "battery"
    p_charge_max_mw: float = Field(ge=0, le=MAX_POWER_MW)
    p_discharge_max_mw: float = Field(ge=0, le=MAX_POWER_MW)
    e_capacity_mwh: float = Field(gt=0, le=MAX_ENERGY_MWH)
    soc_min_percent: float = Field(ge=0, le=100)
    soc_max_percent: float = Field(ge=0, le=100)
    soc_initial_percent: float = Field(ge=0, le=100)
    charge_efficiency: float = Field(gt=0, le=1)
    discharge_efficiency: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _check_soc(self) -> BatteryStorage:
        if self.soc_min_percent >= self.soc_max_percent:
            raise ValueError(
                f"field 'soc_min_percent' = {_fmt(self.soc_min_percent)} must be below "
                f"soc_max_percent = {_fmt(self.soc_max_percent)}"
            )
        if not self.soc_min_percent <= self.soc_initial_percent <= self.soc_max_percent:
            raise ValueError(
                f"field 'soc_initial_percent' = {_fmt(self.soc_initial_percent)} is outside "
                f"[soc_min_percent, soc_max_percent] = [{_fmt(self.soc_min_percent)}, "
                f"{_fmt(self.soc_max_percent)}]"
            )
        return self

    @property
    def e_initial_mwh(self) -> float:
        """Stored energy at the start of the horizon [MWh]."""
        return self.e_capacity_mwh * self.soc_initial_percent / 100.0

    @property
    def e_min_mwh(self) -> float:
        """Lowest allowed stored energy [MWh]."""
        return self.e_capacity_mwh * self.soc_min_percent / 100.0

    @property
    def e_max_mwh(self) -> float:
        """Highest allowed stored energy [MWh]."""
        return self.e_capacity_mwh * self.soc_max_percent / 100.0


class EvCharger(DerRecordBase):
    """EV charging point with one connected session (charging only, no V2G).

    Attributes
    ----------
    p_max_mw : float
        Maximum charging power [MW], > 0.
    energy_need_mwh : float
        Energy to deliver before departure, measured at the grid connection [MWh], >= 0.
    arrival, departure : datetime
        Timezone-aware start and end of the connection, ``arrival < departure``. The need must
        be deliverable: ``energy_need_mwh <= p_max_mw * (departure - arrival) [h]``.
    """

    der_type: Literal["ev_charger"] = "ev_charger"
    p_max_mw: float = Field(gt=0, le=MAX_POWER_MW)
    energy_need_mwh: float = Field(ge=0, le=MAX_ENERGY_MWH)
    arrival: DateTime
    departure: DateTime

    @model_validator(mode="after")
    def _check_session(self) -> EvCharger:
        if self.arrival >= self.departure:
            raise ValueError(
                f"field 'departure' = {self.departure.isoformat()} must be after "
                f"arrival = {self.arrival.isoformat()}"
            )
        deliverable = self.energy_deliverable_mwh
        if self.energy_need_mwh > deliverable * (1.0 + _REL_TOL):
            raise ValueError(
                f"field 'energy_need_mwh' = {_fmt(self.energy_need_mwh)} cannot be delivered: "
                f"p_max_mw = {_fmt(self.p_max_mw)} over the {_fmt(self.connection_hours)} h "
                f"connection delivers at most {_fmt(deliverable)} MWh, shortfall "
                f"{_fmt(self.energy_need_mwh - deliverable)} MWh"
            )
        return self

    @property
    def connection_hours(self) -> float:
        """Length of the connection [h]."""
        return _hours(self.arrival, self.departure)

    @property
    def energy_deliverable_mwh(self) -> float:
        """Most energy the charger can deliver while the EV is connected [MWh]."""
        return self.p_max_mw * self.connection_hours


class FlexibleLoad(DerRecordBase):
    """Load that can shift consumption within a window but must stay energy-neutral.

    Over ``[window_start, window_end]`` the energy consumed must equal the energy of the
    baseline, ``p_baseline_mw * (window_end - window_start) [h]``.

    Attributes
    ----------
    p_min_mw, p_baseline_mw, p_max_mw : float
        Consumption bounds and baseline [MW], load positive,
        ``0 <= p_min_mw <= p_baseline_mw <= p_max_mw``.
    window_start, window_end : datetime
        Timezone-aware flexibility window, ``window_start < window_end``.
    """

    der_type: Literal["flexible_load"] = "flexible_load"
    p_min_mw: float = Field(ge=0, le=MAX_POWER_MW)
    p_baseline_mw: float = Field(ge=-MAX_POWER_MW, le=MAX_POWER_MW)
    p_max_mw: float = Field(ge=-MAX_POWER_MW, le=MAX_POWER_MW)
    window_start: DateTime
    window_end: DateTime

    @model_validator(mode="after")
    def _check_bounds(self) -> FlexibleLoad:
        if not self.p_min_mw <= self.p_baseline_mw <= self.p_max_mw:
            raise ValueError(
                f"field 'p_baseline_mw' = {_fmt(self.p_baseline_mw)} must lie within "
                f"[p_min_mw, p_max_mw] = [{_fmt(self.p_min_mw)}, {_fmt(self.p_max_mw)}]"
            )
        if self.window_start >= self.window_end:
            raise ValueError(
                f"field 'window_end' = {self.window_end.isoformat()} must be after "
                f"window_start = {self.window_start.isoformat()}"
            )
        return self

    @property
    def window_hours(self) -> float:
        """Length of the flexibility window [h]."""
        return _hours(self.window_start, self.window_end)

    @property
    def baseline_energy_mwh(self) -> float:
        """Energy the load must consume over the window [MWh]."""
        return self.p_baseline_mw * self.window_hours


class DistributedGenerator(DerRecordBase):
    """Non-PV static generator: wind turbine, CHP, fuel cell, small hydro...

    Attributes
    ----------
    p_max_mw : float
        Maximum active power [MW], > 0.
    p_available_mw : float
        Active power currently available [MW], ``0 <= p <= p_max_mw``.
    curtailable : bool
        Whether the DERMS may reduce the output below ``p_available_mw``.
    technology : str
        Technology, e.g. ``"WP"``, ``"CHP diesel"``, ``"Fuel cell"``; non-empty.
    p_min_mw : float
        Lowest output the DERMS may reduce to [MW] (pandapower ``min_p_mw``), default 0.
    p_limit_mw : float, optional
        Declared highest output [MW] (pandapower ``max_p_mw``): caps the available power.
    """

    der_type: Literal["generator"] = "generator"
    p_max_mw: float = Field(gt=0, le=MAX_POWER_MW)
    p_available_mw: float = Field(ge=0, le=MAX_POWER_MW)
    curtailable: bool
    technology: Label = Field(min_length=1)
    p_min_mw: float = Field(default=0.0, ge=0, le=MAX_POWER_MW)
    p_limit_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)

    @model_validator(mode="after")
    def _check_available(self) -> DistributedGenerator:
        if self.p_available_mw > self.p_max_mw:
            raise ValueError(
                f"field 'p_available_mw' = {_fmt(self.p_available_mw)} exceeds "
                f"p_max_mw = {_fmt(self.p_max_mw)}"
            )
        _check_p_range(self.p_min_mw, self.p_limit_mw, self.p_max_mw)
        return self


def _check_p_range(p_min_mw: float, p_limit_mw: float | None, p_rated_mw: float) -> None:
    top = p_rated_mw if p_limit_mw is None else min(p_limit_mw, p_rated_mw)
    if p_min_mw > top:
        raise ValueError(
            f"field 'p_min_mw' = {_fmt(p_min_mw)} exceeds the highest output {_fmt(top)} MW"
        )


DerRecord = Annotated[
    PvSystem | BatteryStorage | EvCharger | FlexibleLoad | DistributedGenerator,
    Field(discriminator="der_type"),
]
"""Any DER record; pydantic picks the class from ``der_type``."""

DER_RECORD_CLASSES: Mapping[str, type[DerRecordBase]] = {
    "pv": PvSystem,
    "battery": BatteryStorage,
    "ev_charger": EvCharger,
    "flexible_load": FlexibleLoad,
    "generator": DistributedGenerator,
}
"""Record class for each ``der_type``."""

DER_TYPES: tuple[str, ...] = tuple(DER_RECORD_CLASSES)
"""Every valid ``der_type``, in declaration order."""
