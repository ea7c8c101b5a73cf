"""Where a feeder is: geographic location and IANA time zone.

The location sets the sun's path for PV forecasts; the time zone sets the local clock of load
profiles and of dates given without an offset. A feeder takes its location from, in order:

1. what the user set (upload, ``PUT /feeders/{f}/location``, ``--location`` / ``--tz``);
2. the model itself: a pandapower net may carry a ``"location"`` entry
   (``{"latitude_deg": .., "longitude_deg": .., "altitude_m": .., "tz": ..}``), which
   gridderms writes into the JSON it stores;
3. the built-in feeder's real region (:data:`BUILTIN_LOCATIONS`);
4. :data:`DEFAULT_LOCATION`, with a note saying so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LocationSource = Literal["user", "model", "builtin", "default"]


@dataclass(frozen=True)
class FeederLocation:
    """Geographic location and local time zone of a feeder.

    Attributes
    ----------
    latitude_deg : float
        Latitude [degrees north], -90 .. 90.
    longitude_deg : float
        Longitude [degrees east], -180 .. 180.
    altitude_m : float
        Altitude above sea level [m], -500 .. 9000.
    tz : str
        IANA time zone name, e.g. ``"Europe/Berlin"``.
    source : {"user", "model", "builtin", "default"}
        Where the location came from.
    """

    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0
    tz: str = "UTC"
    source: LocationSource = "user"

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("latitude_deg", self.latitude_deg, -90.0, 90.0),
            ("longitude_deg", self.longitude_deg, -180.0, 180.0),
            ("altitude_m", self.altitude_m, -500.0, 9000.0),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise LocationError(f"location {name} must be a number, got {value!r}")
            if not (math.isfinite(value) and low <= value <= high):
                raise LocationError(f"location {name} must be in [{low:g}, {high:g}], got {value}")
        zone(self.tz)

    @property
    def zoneinfo(self) -> ZoneInfo:
        """The time zone as a :class:`zoneinfo.ZoneInfo`."""
        return zone(self.tz)

    def label(self) -> str:
        """Short text, e.g. ``"48.4 N 7.9 E"``."""
        lat = f"{abs(self.latitude_deg):.1f} {'N' if self.latitude_deg >= 0 else 'S'}"
        lon = f"{abs(self.longitude_deg):.1f} {'E' if self.longitude_deg >= 0 else 'W'}"
        return f"{lat} {lon}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def with_source(self, source: LocationSource) -> FeederLocation:
        """The same place from another source."""
        return FeederLocation(
            self.latitude_deg, self.longitude_deg, self.altitude_m, self.tz, source
        )


class LocationError(ValueError):
    """A location or time zone that cannot be used (named in the message)."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises
    ------
    LocationError
        For a name that is not an IANA time zone.
    """
    if not isinstance(name, str) or not name.strip():
        raise LocationError(f"time zone must be an IANA name such as 'Europe/Berlin', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise LocationError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from exc


def location_from_mapping(data: Mapping[str, Any], source: LocationSource) -> FeederLocation:
    """A location from ``{"latitude_deg", "longitude_deg", "altitude_m"?, "tz"?}``.

    Raises
    ------
    LocationError
        For a missing or invalid field (named).
    """
    missing = [key for key in ("latitude_deg", "longitude_deg") if key not in data]
    if missing:
        raise LocationError(f"location needs {', '.join(missing)}")
    unknown = set(data) - {"latitude_deg", "longitude_deg", "altitude_m", "tz", "source"}
    if unknown:
        raise LocationError(f"unknown location field(s): {', '.join(sorted(unknown))}")
    return FeederLocation(
        latitude_deg=data["latitude_deg"],
        longitude_deg=data["longitude_deg"],
        altitude_m=data.get("altitude_m", 0.0),
        tz=data.get("tz", "UTC"),
        source=source,
    )


def parse_location(text: str, tz: str | None = None) -> FeederLocation:
    """A user location from ``"LAT,LON[,ALT]"`` [degrees, degrees, m] and a time zone.

    Raises
    ------
    LocationError
        For text that is not two or three numbers.
    """
    parts = [part.strip() for part in text.split(",")]
    if len(parts) not in (2, 3):
        raise LocationError(f"--location must be LAT,LON[,ALT] (degrees, degrees, m), got {text!r}")
    try:
        numbers = [float(part) for part in parts]
    except ValueError as exc:
        raise LocationError(f"--location must be numbers LAT,LON[,ALT], got {text!r}") from exc
    altitude_m = numbers[2] if len(numbers) == 3 else 0.0
    return FeederLocation(numbers[0], numbers[1], altitude_m, tz=tz or "UTC", source="user")


#: Germany: every built-in feeder but Baran & Wu (pandapower's and SimBench's grids are German).
_GERMANY = FeederLocation(51.2, 10.4, 300.0, "Europe/Berlin", "builtin")

#: Real region of each built-in feeder.
BUILTIN_LOCATIONS: Mapping[str, FeederLocation] = {
    # Oberrhein: the Upper Rhine plain near Offenburg (Meinecke et al. 2017)
    "mv-oberrhein": FeederLocation(48.4, 7.9, 150.0, "Europe/Berlin", "builtin"),
    # Schutterwald, a village next to Offenburg
    "lv-schutterwald": FeederLocation(48.45, 7.88, 150.0, "Europe/Berlin", "builtin"),
    # the CIGRE benchmark's European MV/LV networks are built on German feeders
    "cigre-mv-der": _GERMANY,
    "cigre-lv": _GERMANY,
}

#: Used where neither the user, the model nor the built-in list gives a location: central
#: Germany in Europe/Berlin, like the other reference feeders; printed as a note.
DEFAULT_LOCATION = FeederLocation(51.2, 10.4, 300.0, "Europe/Berlin", "default")


def builtin_location(name: str) -> FeederLocation | None:
    """The real region of built-in feeder ``name`` (SimBench grids: Germany)."""
    if name in BUILTIN_LOCATIONS:
        return BUILTIN_LOCATIONS[name]
    if name.startswith("simbench:") or name.startswith("1-"):
        return _GERMANY
    return None


def default_location_note(name: str) -> str:
    """The note printed when a feeder gets :data:`DEFAULT_LOCATION`."""
    loc = DEFAULT_LOCATION
    return (
        f"feeder '{name}' declares no location: PV forecasts and local time use the default "
        f"{loc.label()}, {loc.altitude_m:g} m, {loc.tz} (set it with --location LAT,LON[,ALT] "
        f"--tz ZONE or PUT /feeders/{{f}}/location)"
    )
