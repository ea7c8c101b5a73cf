"""The DER inventory of a loaded feeder: DERs from the model plus DER files, bus-checked and
grouped by type, feeder or tag."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from gridderms.ders.csv_import import ders_from_csv
from gridderms.ders.errors import DerImportError
from gridderms.ders.json_import import ders_from_json
from gridderms.ders.net_import import ders_from_net
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

    A file entry whose ``der_id`` is one of the model's DERs (``"sgen-3"``) replaces the
    model's record: the registry takes precedence over the model.

    Raises
    ------
    DuplicateDerError
        A file repeats a der_id another file (or the same file) already registered.
    DerBusError
        A DER connects to a bus the feeder does not have (all such DERs are listed).
    """
    registry = DerRegistry(ders_from_net(feeder.net))
    from_model = {der.der_id for der in registry}
    for path in der_files:
        records = read_der_file(path)
        for record in records:
            if record.der_id in from_model:
                registry.replace(record)
                from_model.discard(record.der_id)
        registry.add_many(r for r in records if r.der_id not in registry)
    registry.validate_buses(feeder.net.bus.index)
    return registry


def default_capability_note(ders: Iterable[DerRecord]) -> str | None:
    """The note naming the DERs whose reactive range is the IEEE 1547 default (their model
    declares none, see ``ReactiveCapability.defaulted``), or None when there are none."""
    defaulted = [der for der in ders if der.reactive.defaulted]
    if not defaulted:
        return None
    ids = ", ".join(der.der_id for der in defaulted[:8])
    more = f", ... ({len(defaulted)} in all)" if len(defaulted) > 8 else ""
    first = defaulted[0].reactive
    return (
        f"{len(defaulted)} DER(s) declare no reactive range (min_q_mvar/max_q_mvar or a "
        f"capability curve): IEEE 1547 category limits and pf_min {first.pf_min:g} applied "
        f"to {ids}{more}"
    )


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
