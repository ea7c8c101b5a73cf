"""Bounds of every input the service and the DER registry accept, checked at the door.

One constant per quantity, used by every request model, DER record and importer:

* :data:`NAME_PATTERN` / :data:`Name`: ids and names (feeders, DERs, DER groups, API keys,
  telemetry client ids): ASCII letters, digits, ``.``, ``_``, ``:`` and ``-``, starting with a
  letter or digit, at most :data:`MAX_NAME_LENGTH` characters (the database columns are
  ``String(200)``). So no ``/`` (an id must fit one URL path segment), no white space, no
  control, format or bidirectional characters;
* :data:`Label`: a human-readable text (a DER's name, its technology, a tag): printable (no
  control, format or bidirectional characters; ``/`` and non-ASCII letters are fine), at
  most :data:`MAX_NAME_LENGTH` characters;
* :data:`DATETIME_YEARS` / :data:`DateTime`: a date-time is an ISO 8601 string with a time and
  a UTC offset (``2024-06-21T10:00:00+02:00``; not a number, not a date alone), in the years
  :data:`DATETIME_YEARS`. Inside them converting to UTC (up to +-24 h) cannot overflow;
* :data:`MAX_POWER_MW`, :data:`MAX_ENERGY_MWH`, :data:`MAX_PRICE_PER_MWH`: magnitudes of a
  power ([MW], and [MVAr], [MVA]), an energy and a price;
* :data:`MAX_JSON_DEPTH`: request bodies and JSON files nested deeper are refused before they
  are parsed (:func:`check_json_depth`), so no parser recurses into them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, Strict, ValidationInfo

MAX_NAME_LENGTH: Final = 200
"""Longest id or name [characters] (the database columns are ``String(200)``)."""

NAME_PATTERN: Final = rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_NAME_LENGTH - 1}}}$"
"""Pattern of every id and name: feeders, DERs, DER groups, API keys, telemetry client ids."""

DATETIME_YEARS: Final = (1900, 2200)
"""First and last year of a date-time any request, DER record or horizon may give."""

MAX_POWER_MW: Final = 1e4
"""Largest magnitude of a power [MW] (also of a reactive [MVAr] or apparent [MVA] power): a
rating, limit, set-point or measurement of one DER or of a feeder head."""

MAX_ENERGY_MWH: Final = 1e5
"""Largest energy [MWh]: a storage capacity or an EV's energy need."""

MAX_PRICE_PER_MWH: Final = 1e6
"""Largest magnitude of an energy price [currency/MWh]."""

MAX_JSON_DEPTH: Final = 64
"""Deepest nesting of arrays and objects in a JSON request body or DER file."""

MAX_JSON_BODY_BYTES: Final = 16 * 2**20
"""Largest JSON request body [bytes] (16 MiB: a batch of 10,000 measurements is about 2 MiB;
feeder files are uploaded separately, up to their own limit)."""

_NAME = re.compile(NAME_PATTERN)
_NAME_CHAR = re.compile(r"[A-Za-z0-9._:-]")
#: a date, then a time (ISO 8601 extended format); the rest is left to pydantic
_DATETIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_DATETIME_EXAMPLE = "e.g. 2024-06-21T10:00:00+02:00 or 2024-06-21T08:00:00Z"
#: a JSON string (escapes skipped), a bracket, or a quote that opens no complete string
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.DOTALL)


class JsonTooDeepError(ValueError):
    """A JSON text nests arrays and objects deeper than allowed."""


def _field(info: ValidationInfo, default: str) -> str:
    return info.field_name or default


def _subject(field: str | None) -> str:
    """``field 'x'`` for a message; ``the date-time`` when the field is not known (a query
    parameter: the error's location names it)."""
    return f"field '{field}'" if field else "the date-time"


def _shown(value: str) -> str:
    """``value`` for a message: its ``repr`` (control and bidi characters escaped), cut short."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def check_name(value: str, field: str = "name") -> str:
    """``value`` if it is a valid id or name (:data:`NAME_PATTERN`).

    Parameters
    ----------
    value : str
        The id or name.
    field : str, optional
        What it is, for the message (e.g. ``der_id``).

    Returns
    -------
    str
        ``value`` unchanged.

    Raises
    ------
    ValueError
        Empty, white space around it, longer than :data:`MAX_NAME_LENGTH`, or a character
        outside the pattern; the message names the field and the character.
    """
    if not value:
        raise ValueError(f"{field} must not be empty")
    if value != value.strip():
        raise ValueError(f"{field} {_shown(value)} must not have leading or trailing whitespace")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{field} {_shown(value)} has {len(value)} characters; at most {MAX_NAME_LENGTH}"
        )
    if not _NAME.fullmatch(value):
        bad = next((c for c in value if not _NAME_CHAR.fullmatch(c)), value[0])
        raise ValueError(
            f"{field} {_shown(value)} may not contain {bad!r} (U+{ord(bad):04X}): use ASCII "
            f"letters, digits, '.', '_', ':' and '-', starting with a letter or digit"
        )
    return value


def is_name(value: object) -> bool:
    """Whether ``value`` is a string of the :data:`NAME_PATTERN`."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _name(value: str, info: ValidationInfo) -> str:
    return check_name(value, _field(info, "name"))


Name = Annotated[
    str,
    AfterValidator(_name),
    Field(json_schema_extra={"pattern": NAME_PATTERN, "maxLength": MAX_NAME_LENGTH}),
]
"""An id or a name (:func:`check_name`)."""


def check_label(value: str, field: str = "text") -> str:
    """``value`` if it is a valid human-readable text (see :data:`Label`).

    Parameters
    ----------
    value : str
        The text (may be empty).
    field : str, optional
        What it is, for the message (e.g. ``name``).

    Returns
    -------
    str
        The same text, not altered.

    Raises
    ------
    ValueError
        Longer than :data:`MAX_NAME_LENGTH`, or a character that is not printable (a
        control, format, bidirectional or separator character other than the space); the
        message names the field and the character, escaped.
    """
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{field} {_shown(value)} has {len(value)} characters; at most {MAX_NAME_LENGTH}"
        )
    bad = next((c for c in value if c != " " and not c.isprintable()), None)
    if bad is not None:
        raise ValueError(
            f"{field} {_shown(value)} may not contain {bad!r} (U+{ord(bad):04X}): no control, "
            f"format or bidirectional characters"
        )
    return value


def _label(value: str, info: ValidationInfo) -> str:
    return check_label(value, _field(info, "text"))


Label = Annotated[str, AfterValidator(_label), Field(max_length=MAX_NAME_LENGTH)]
"""A human-readable text (:func:`check_label`)."""


def _datetime_input(value: object, info: ValidationInfo) -> object:
    """Admit only a ``datetime`` or an ISO 8601 date-time text (no number, no date alone)."""
    field = _subject(info.field_name)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if not _DATETIME_TEXT.match(value):
            raise ValueError(
                f"{field} = {_shown(value)} is not an ISO 8601 date-time with a time "
                f"and a UTC offset ({_DATETIME_EXAMPLE})"
            )
        return value
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int | float):
        kind = "a number"
    elif isinstance(value, date):
        kind = "a date without a time"
    else:
        kind = type(value).__name__
    raise ValueError(
        f"{field} must be an ISO 8601 date-time string with a UTC offset "
        f"({_DATETIME_EXAMPLE}), not {kind}"
    )


def check_datetime_years(value: datetime, field: str | None = None) -> datetime:
    """``value`` if its year (at its own offset) is within :data:`DATETIME_YEARS`.

    Parameters
    ----------
    value : datetime
        A timezone-aware date-time.
    field : str, optional
        Its field, for the message (e.g. ``start``).

    Returns
    -------
    datetime
        ``value`` unchanged (its offset kept); within the years, ``value.astimezone(UTC)`` and
        every comparison with another aware date-time are safe from overflow.

    Raises
    ------
    ValueError
        The year is outside :data:`DATETIME_YEARS`.
    """
    first, last = DATETIME_YEARS
    if not first <= value.year <= last:
        raise ValueError(
            f"{_subject(field)} = {value.isoformat()} is outside the years {first}..{last}"
        )
    return value


def _datetime_years(value: datetime, info: ValidationInfo) -> datetime:
    return check_datetime_years(value, info.field_name)


DateTime = Annotated[
    AwareDatetime,
    Strict(False),
    BeforeValidator(_datetime_input),
    AfterValidator(_datetime_years),
]
"""A timezone-aware date-time of every request body, query parameter and DER record: an ISO
8601 string with a time and a UTC offset (or a ``datetime`` given in Python), in the years
:data:`DATETIME_YEARS`; the offset is kept."""


def check_json_depth(text: bytes | str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a JSON text whose arrays and objects nest deeper than ``limit``.

    An iterative scan of the brackets outside strings (escapes inside strings skipped); the
    text need not be valid JSON (the parser reports that), it must only not be too deep for
    a recursive parser.

    Parameters
    ----------
    text : bytes or str
        The JSON text (UTF-8 when bytes).
    limit : int, optional
        Deepest nesting allowed, default :data:`MAX_JSON_DEPTH`.

    Raises
    ------
    JsonTooDeepError
        The nesting is deeper than ``limit``; the message names the limit.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    depth = 0
    for token in _JSON_TOKEN.finditer(raw):
        kind = token.group()
        if kind in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise JsonTooDeepError(
                    f"JSON nested deeper than the limit of {limit} levels of arrays and objects"
                )
        elif kind in (b"]", b"}"):
            depth -= 1
        elif kind == b'"':  # an unterminated string: the parser will refuse the text
            return
