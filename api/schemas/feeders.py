"""Response models of feeders: built-ins, loaded feeders, their location, description,
topology, history, switching results and power flows."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import Field

from api.schemas import Public
from gridderms.persistence.models import FeederRow
from gridderms.service.json_documents import json_safe
from network_models.feeder import Feeder
from network_models.location import FeederLocation
from solvers.powerflow import PowerFlowResult


class BuiltinFeederPublic(Public):
    """A built-in reference feeder that can be loaded."""

    name: str
    description: str
    reference: str


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


#: a feeder's location as it is used: the user's, else its model's, its region's or the default
EffectiveLocation = Annotated[
    FeederLocationPublic, Field(description="The feeder's effective location and time zone")
]


class FeederPublic(Public):
    """A loaded feeder."""

    name: str
    source: str
    version: int
    operating_mode: Literal["manual", "automatic"]
    created_at: datetime
    updated_at: datetime
    location: EffectiveLocation

    @classmethod
    def of(cls, row: FeederRow, location: FeederLocation) -> Self:
        """The feeder of ``row`` at its effective ``location``."""
        return cls.from_row(row, location=location.to_dict())


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
    location: EffectiveLocation

    @classmethod
    def of(cls, row: FeederRow, feeder: Feeder) -> Self:
        """The description of ``row``'s model ``feeder`` (read under the feeder's lock)."""
        net = feeder.net
        levels = Counter(float(v) for v in net.bus.vn_kv)
        topology = feeder.topology()
        return cls.from_row(
            row,
            **feeder.counts(),
            voltage_levels_kv={f"{kv:g}": n for kv, n in sorted(levels.items(), reverse=True)},
            total_load_p_mw=float((net.load.p_mw * net.load.scaling)[net.load.in_service].sum()),
            radial=bool(topology.is_radial),
            islands=len(topology.islands),
            profile_steps=feeder.profiles.n_steps if feeder.profiles else 0,
            notes=list(feeder.notes),
            location=feeder.location.to_dict(),
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

    @classmethod
    def of(cls, row: FeederRow, feeder: Feeder) -> Self:
        """The topology of ``row``'s model ``feeder`` (read under the feeder's lock)."""
        topology = feeder.topology()
        return cls(
            feeder=row.name,
            version=row.version,
            radial=bool(topology.is_radial),
            sources=[int(b) for b in topology.source_buses],
            islands=len(topology.islands),
            meshes=len(topology.meshes()),
            deenergized_buses=sorted(int(b) for b in topology.deenergized_buses),
            feeder_heads={str(int(h)): len(b) for h, b in topology.feeders().items()},
            switches=[
                SwitchPublic(
                    switch_id=int(i),
                    bus=int(s.bus),
                    element=int(s.element),
                    et=str(s.et),
                    closed=bool(s.closed),
                )
                for i, s in feeder.net.switch.iterrows()
            ],
        )


class FeederVersionPublic(Public):
    """One topology change (version 0: the loaded model)."""

    version: int
    change: dict[str, Any]
    actor: str
    created_at: datetime


class SwitchResultPublic(Public):
    """Outcome of a switching request."""

    feeder: str
    switch_id: int
    closed: bool
    changed: bool
    version: int


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

    @classmethod
    def of(cls, row: FeederRow, result: PowerFlowResult, overrides_applied: list[str]) -> Self:
        """The power flow ``result`` of ``row``'s current state (non-finite numbers null)."""
        element = result.max_loading_element
        return cls(
            **json_safe(
                {
                    "feeder": row.name,
                    "feeder_version": row.version,
                    "backend": result.backend,
                    "converged": result.converged,
                    "losses_mw": result.losses_mw,
                    "losses_mvar": result.losses_mvar,
                    "min_vm_pu": result.min_vm_pu,
                    "min_vm_bus": result.min_vm_bus,
                    "max_vm_pu": result.max_vm_pu,
                    "max_vm_bus": result.max_vm_bus,
                    "max_loading_percent": result.max_loading_percent,
                    "max_loading_element": list(element) if element else None,
                    "load_p_mw": result.load_p_mw,
                    "generation_p_mw": result.generation_p_mw,
                    "overrides_applied": overrides_applied,
                    "violations": [v.to_dict() for v in result.violations],
                    "deenergized_buses": list(result.deenergized_buses),
                    "solve_time_s": result.elapsed_s,
                }
            )
        )
