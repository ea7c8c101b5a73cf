"""Where a feeder is, as the user sets it: the location given through the API (checked, the
field at fault named) and as stored on the feeder row.

A feeder's location is the user's when set, else what its model, its built-in region or the
default gives (see :mod:`network_models.location` and
:meth:`gridderms.service.feeder_models.FeederModels.location`).
"""

from __future__ import annotations

from collections.abc import Mapping

from gridderms.persistence.models import FeederRow
from network_models.location import FeederLocation, LocationError, location_from_mapping

#: the fields of a location the user sets (``altitude_m`` optional, default 0 m)
LOCATION_FIELDS = ("latitude_deg", "longitude_deg", "altitude_m", "tz")
#: the fields a location the user sets must have
REQUIRED_LOCATION_FIELDS = ("latitude_deg", "longitude_deg", "tz")


class FeederLocationError(ValueError):
    """A feeder location that cannot be used (the API answers 422); ``str()`` names the
    problem, ``field`` the location field at fault (``None`` when it is not one field).

    Parameters
    ----------
    message : str
        What is wrong, naming the value (e.g. the unknown time zone).
    field : str or None
        One of :data:`LOCATION_FIELDS`.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _location_field(message: str) -> str | None:
    """The location field a :class:`LocationError` message is about."""
    for name in LOCATION_FIELDS:
        if name in message:
            return name
    return "tz" if "time zone" in message else None


def location_input(values: Mapping[str, object]) -> FeederLocation | None:
    """The location a user gives as ``latitude_deg`` [degrees north], ``longitude_deg``
    [degrees east], ``altitude_m`` [m] (optional, default 0 m) and ``tz`` (IANA time zone);
    ``None`` values count as not given, and nothing given is ``None``.

    Raises
    ------
    FeederLocationError
        Latitude, longitude or time zone missing, a value out of range or an unknown time
        zone (named).
    """
    given = {key: value for key, value in values.items() if value is not None}
    if not given:
        return None
    missing = [key for key in REQUIRED_LOCATION_FIELDS if key not in given]
    if missing:
        raise FeederLocationError(
            f"a feeder location needs {', '.join(REQUIRED_LOCATION_FIELDS)}; missing: "
            f"{', '.join(missing)}",
            missing[0] if len(missing) == 1 else None,
        )
    try:
        return location_from_mapping(given, "user")
    except LocationError as exc:
        raise FeederLocationError(str(exc), _location_field(str(exc))) from None
    except OSError:  # a directory of the time zone database ('Europe') or a too long name
        raise FeederLocationError(
            f"unknown time zone {given['tz']!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'",
            "tz",
        ) from None


def user_location(row: FeederRow) -> FeederLocation | None:
    """The location the user set on ``row`` (source ``user``), or ``None``: not set."""
    if row.latitude_deg is None or row.longitude_deg is None:
        return None
    return FeederLocation(
        latitude_deg=row.latitude_deg,
        longitude_deg=row.longitude_deg,
        altitude_m=0.0 if row.altitude_m is None else row.altitude_m,
        tz=row.tz or "UTC",
        source="user",
    )


def store_location(row: FeederRow, location: FeederLocation | None) -> None:
    """Write the user's ``location`` on ``row`` (``None``: clear it)."""
    row.latitude_deg = None if location is None else float(location.latitude_deg)
    row.longitude_deg = None if location is None else float(location.longitude_deg)
    row.altitude_m = None if location is None else float(location.altitude_m)
    row.tz = None if location is None else location.tz
    row.location_source = None if location is None else location.source
