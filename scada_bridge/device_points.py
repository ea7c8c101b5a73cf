"""A point map's points in dnp3py's terms: an outstation database holding values given in
gridderms's units, and what a master's poll received read back into those units.

Values travel as the map says: integers scaled by the point's multiplier (rounded, never
truncated: dnp3py serves analog inputs as 32-bit integers, g30v1, and would drop the fraction
of an unscaled value) or floats where the map names a float variation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dnp3.core.flags import AnalogQuality, BinaryQuality
from dnp3.database import Database
from dnp3.master.handler import AnalogValue, BinaryValue, DefaultSOEHandler

from scada_bridge.point_map import UNITS, Point, PointMap


@dataclass(frozen=True)
class Reading:
    """One point's value as received, in gridderms's unit of its quantity.

    Attributes
    ----------
    point : Point
        The map's point.
    value : float or bool
        The value [:attr:`unit`]; a bool for binary points.
    unit : str or None
        gridderms's unit (MW, MVAr, kV, %, ...); None for binary points.
    online : bool
        Whether the device flagged the value ONLINE (its quality bit 0).
    """

    point: Point
    value: float | bool
    unit: str | None
    online: bool


def device_database(points: PointMap, values: Mapping[str, float | bool]) -> Database:
    """An outstation database with every point of ``points``; those named in ``values`` (by
    point name, analog values in gridderms's unit of the quantity, e.g. MW for a ``W`` point)
    hold their raw value and are ONLINE, the others are at 0 with the RESTART flag.

    Raises
    ------
    KeyError
        A name in ``values`` that no point of the map carries.
    """
    unknown = sorted(set(values) - {p.name for p in points.points})
    if unknown:
        raise KeyError(f"no point carries {unknown} in the point map {points.source}")
    database = Database()
    for point in points.points:
        given = point.name in values
        if point.type in ("AI", "AO"):
            raw = float(point.to_raw(float(values[point.name]))) if given else 0.0
            quality = AnalogQuality.ONLINE if given else AnalogQuality.RESTART
            add = database.add_analog_input if point.type == "AI" else database.add_analog_output
            add(point.index, value=raw, quality=quality)
        else:
            state = bool(values[point.name]) if given else False
            binary = BinaryQuality.ONLINE if given else BinaryQuality.RESTART
            add_binary = (
                database.add_binary_input if point.type == "BI" else database.add_binary_output
            )
            add_binary(point.index, value=state, quality=binary)
    return database


def readings(points: PointMap, received: DefaultSOEHandler) -> dict[str, Reading]:
    """What a master's handler ``received``, by point name, in gridderms's units; points the
    map does not hold are ignored (a device may serve more than the map uses)."""
    tables: dict[str, Mapping[int, AnalogValue | BinaryValue]] = {
        "AI": received.analog_inputs,
        "AO": received.analog_outputs,
        "BI": received.binary_inputs,
        "BO": received.binary_outputs,
    }
    found: dict[str, Reading] = {}
    for point in points.points:
        value = tables[point.type].get(point.index)
        if value is None:
            continue
        online = bool(value.quality & 0x01)
        if point.type in ("AI", "AO"):
            unit = UNITS[point.unit or "n/a"][0]
            found[point.name] = Reading(point, point.to_ours(float(value.value)), unit, online)
        else:
            found[point.name] = Reading(point, bool(value.value), None, online)
    return found
