"""The DER inventory of a loaded feeder: DERs from the model plus DER files, bus-checked and
grouped by type, feeder or tag."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from gridderms.ders.errors import DerImportError
from gridderms.ders.importers import ders_from_csv, ders_from_json, ders_from_net
from gridderms.ders.records import DerRecord
from gridderms.ders.registry import DerRegistry, GroupBy
from network_models.feeder import Feeder


def read_der_file(path: str | os.PathLike[str]) -> list[DerRecord]:
    """Read a DER list from a ``.csv`` or ``.json`` file."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return ders_from_csv(path)
    if suffix == ".json":
        return ders_from_json(path)
    raise DerImportError(f"{path}: unsupported DER file extension '{suffix}' (use .csv or .json)")


def feeder_inventory(
    feeder: Feeder, der_files: Iterable[str | os.PathLike[str]] = ()
) -> DerRegistry:
    """DERs of ``feeder``'s model plus those in ``der_files``, every bus checked.

    Raises
    ------
    DuplicateDerError
        A file repeats a der_id already registered.
    DerBusError
        A DER connects to a bus the feeder does not have (all such DERs are listed).
    """
    registry = DerRegistry(ders_from_net(feeder.net))
    for path in der_files:
        registry.add_many(read_der_file(path))
    registry.validate_buses(feeder.net.bus.index)
    return registry


def feeder_names(feeder: Feeder) -> dict[int, str]:
    """Bus -> feeder name (``"feeder-<head bus>"``) for every energized bus."""
    return {
        bus: f"feeder-{head}"
        for head, buses in feeder.topology().feeders().items()
        for bus in buses
    }


def create_default_groups(
    registry: DerRegistry, by: GroupBy, bus_to_feeder: Mapping[int, str]
) -> None:
    """One group per DER type, feeder or tag present in ``registry``."""
    values: list[str]
    if by == "type":
        values = sorted({str(der.der_type) for der in registry})
    elif by == "feeder":
        values = sorted({bus_to_feeder[der.bus] for der in registry if der.bus in bus_to_feeder})
    elif by == "tag":
        values = sorted({str(tag) for der in registry for tag in der.tags})
    else:
        raise ValueError(f"default groups are by type, feeder or tag, not '{by}'")
    feeders = bus_to_feeder if by == "feeder" else None
    for value in values:
        registry.create_group(f"{by}:{value}", by=by, value=value, bus_to_feeder=feeders)


def rated_p_mw(der: DerRecord) -> float:
    """Largest active power the DER can inject or draw [MW]."""
    if der.der_type == "pv":
        return der.p_nameplate_mw
    if der.der_type == "battery":
        return max(der.p_charge_max_mw, der.p_discharge_max_mw)
    return der.p_max_mw
