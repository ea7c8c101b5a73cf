"""DER endpoint files: where each DER's DNP3 device listens, as the simulator writes them and
the bridge reads them.

An endpoint file is JSON::

    {"feeder": "cigre-mv-der",
     "endpoints": [{"der_id": "sgen-0", "host": "127.0.0.1", "port": 20100,
                    "master_address": 1, "outstation_address": 10,
                    "point_map": "der_an2018_001"}, ...]}

Every problem is named by the file, the entry and the field: a missing or mistyped field, a
port outside 1-65535, a link address outside 0-65519, an unknown point map, a DER or an
address (host and port) given twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scada_bridge.point_map import POINTS_DIR

#: highest DNP3 link address a device may use (0xFFF0 and up are reserved)
MAX_LINK_ADDRESS = 65519


class EndpointFileError(ValueError):
    """An endpoint file that cannot be used, named with the entry and field."""


@dataclass(frozen=True)
class Endpoint:
    """Where a DER's device listens and how it speaks.

    Attributes
    ----------
    der_id : str
        The registered DER the device is.
    host, port : str, int
        Its TCP address.
    master_address, outstation_address : int
        DNP3 link addresses (ours, the device's).
    point_map : str
        A shipped point map's name (``der_an2018_001``).
    """

    der_id: str
    host: str
    port: int
    master_address: int = 1
    outstation_address: int = 10
    point_map: str = "der_an2018_001"


_FIELDS: dict[str, tuple[type, bool]] = {
    "der_id": (str, True),
    "host": (str, True),
    "port": (int, True),
    "master_address": (int, False),
    "outstation_address": (int, False),
    "point_map": (str, False),
}


def _endpoint(source: str, i: int, entry: Any) -> Endpoint:
    where = f"{source}: endpoints[{i}]"
    if not isinstance(entry, dict):
        raise EndpointFileError(f"{where}: expected an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise EndpointFileError(f"{where}: unknown field(s) {unknown}")
    for name, (kind, required) in _FIELDS.items():
        if name not in entry:
            if required:
                raise EndpointFileError(f"{where}: field '{name}' is missing")
            continue
        value = entry[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise EndpointFileError(
                f"{where}: field '{name}' must be {kind.__name__}, got {value!r}"
            )
    endpoint = Endpoint(**entry)
    if not endpoint.der_id.strip() or not endpoint.host.strip():
        raise EndpointFileError(f"{where}: fields 'der_id' and 'host' must not be empty")
    if not 1 <= endpoint.port <= 65535:
        raise EndpointFileError(f"{where}: field 'port' {endpoint.port} is outside 1-65535")
    for name in ("master_address", "outstation_address"):
        value = getattr(endpoint, name)
        if not 0 <= value <= MAX_LINK_ADDRESS:
            raise EndpointFileError(
                f"{where}: field '{name}' {value} is outside 0-{MAX_LINK_ADDRESS}"
            )
    if not (POINTS_DIR / f"{endpoint.point_map}.csv").is_file():
        raise EndpointFileError(
            f"{where}: field 'point_map' {endpoint.point_map!r} is not a shipped point map"
        )
    return endpoint


def parse_endpoints(text: str, source: str = "<endpoints>") -> tuple[str, list[Endpoint]]:
    """The feeder and endpoints of an endpoint file's ``text``.

    Raises
    ------
    EndpointFileError
        Anything that makes the file unusable, named with the entry and field.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EndpointFileError(f"{source}: not JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("endpoints"), list):
        raise EndpointFileError(f"{source}: expected an object with a list 'endpoints'")
    feeder = document.get("feeder")
    if not isinstance(feeder, str) or not feeder:
        raise EndpointFileError(f"{source}: field 'feeder' must name the feeder")
    endpoints = [_endpoint(source, i, e) for i, e in enumerate(document["endpoints"])]
    seen_der: dict[str, int] = {}
    seen_address: dict[tuple[str, int], int] = {}
    for i, e in enumerate(endpoints):
        if e.der_id in seen_der:
            raise EndpointFileError(
                f"{source}: endpoints[{i}]: DER '{e.der_id}' already has endpoints"
                f"[{seen_der[e.der_id]}]"
            )
        if (e.host, e.port) in seen_address:
            raise EndpointFileError(
                f"{source}: endpoints[{i}]: {e.host}:{e.port} is already endpoints"
                f"[{seen_address[(e.host, e.port)]}]"
            )
        seen_der[e.der_id] = i
        seen_address[(e.host, e.port)] = i
    return feeder, endpoints


def load_endpoints(path: Path) -> tuple[str, list[Endpoint]]:
    """Read an endpoint file (see :func:`parse_endpoints`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EndpointFileError(f"{path}: cannot be read: {exc}") from exc
    return parse_endpoints(text, str(path))


def write_endpoints(path: Path, feeder: str, endpoints: list[Endpoint]) -> None:
    """Write an endpoint file (atomically: a reader never sees half of it)."""
    document = {"feeder": feeder, "endpoints": [asdict(e) for e in endpoints]}
    partial = Path(path).with_name(Path(path).name + ".partial")
    partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


__all__ = [
    "Endpoint",
    "EndpointFileError",
    "load_endpoints",
    "parse_endpoints",
    "write_endpoints",
]
