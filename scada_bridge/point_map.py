"""DNP3 point maps as configuration: which point carries which quantity, in which unit and
scaling, read back on which point, operated how.

A map is a CSV or YAML file with one point per row (YAML: a list of mappings with the same
keys), checked whole at load: every problem is reported with the file, the row (CSV: its line;
YAML: its entry) and the field, and nothing of a map that fails is used.

Columns
-------
``type``
    ``AI`` analog input, ``AO`` analog output (g41 command, g40 status), ``BI`` binary input,
    ``BO`` binary output (g12 CROB, g10 status).
``index``
    The point index, 0 to 65535.
``name``
    The quantity it carries, unique in the map; the unit in the name where it has one
    (``p_w``, ``soc_percent``).
``unit``
    Unit of the engineering value on the device side (:data:`UNITS`); analog points only.
``multiplier``
    Engineering value = raw value x multiplier (AN2018-001 / IEEE 1815.2 integer scaling, e.g.
    0.1 V); non-zero and finite; analog points only.
``variation``
    The object variation the value travels in: ``g30v1`` (32-bit integer), ``g30v2`` (16-bit),
    ``g30v5`` (32-bit float) for AI; ``g41v1``, ``g41v2``, ``g41v3`` for AO. Integers carry
    fractions only through the multiplier, so a float variation takes multiplier 1.
``paired``
    The read-back or command point of a control (``AI149`` for ``AO88``, ``BI69`` for
    ``BO17``): AO pairs with AI, BO with BI; it must be in the map.
``operate``
    How a command point is operated: ``sbo`` (select before operate) or ``direct``; command
    points (AO, BO) only, and required there.
``meaning``
    Free text: what the point means and, where the standards differ, which reading was chosen.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

#: the maps shipped with gridderms: ``der_an2018_001`` (a DER device, AN2018-001 / IEEE 1815.2
#: points) and ``adms_outstation`` (what the control centre reads and commands)
POINTS_DIR = Path(__file__).with_name("points")

PointType = Literal["AI", "AO", "BI", "BO"]
POINT_TYPES: tuple[PointType, ...] = ("AI", "AO", "BI", "BO")
COLUMNS = (
    "type",
    "index",
    "name",
    "unit",
    "multiplier",
    "variation",
    "paired",
    "operate",
    "meaning",
)
REQUIRED = ("type", "index", "name")
MAX_INDEX = 65535

#: the object variations each analog type may travel in, and whether they carry floats
VARIATIONS: dict[str, dict[str, bool]] = {
    "AI": {"g30v1": False, "g30v2": False, "g30v5": True},
    "AO": {"g41v1": False, "g41v2": False, "g41v3": True},
}
#: which point type reads back (or commands) which
PAIRS = {"AO": "AI", "AI": "AO", "BO": "BI", "BI": "BO"}

#: device-side units and the factor to gridderms's unit of the same quantity
#: (pandapower's: MW, MVAr, MVA, MWh, kV, Hz, %, pu)
UNITS: dict[str, tuple[str, float]] = {
    "W": ("MW", 1e-6),
    "kW": ("MW", 1e-3),
    "MW": ("MW", 1.0),
    "var": ("MVAr", 1e-6),
    "kvar": ("MVAr", 1e-3),
    "MVAr": ("MVAr", 1.0),
    "VA": ("MVA", 1e-6),
    "MVA": ("MVA", 1.0),
    "Wh": ("MWh", 1e-6),
    "MWh": ("MWh", 1.0),
    "V": ("kV", 1e-3),
    "kV": ("kV", 1.0),
    "A": ("kA", 1e-3),
    "Hz": ("Hz", 1.0),
    "%": ("%", 1.0),
    "%WMax": ("%WMax", 1.0),
    "pu": ("pu", 1.0),
    "pf": ("pf", 1.0),
    "count": ("count", 1.0),
    "n/a": ("n/a", 1.0),
}


class PointMapError(ValueError):
    """A point map that cannot be used; the message lists every problem with its file, row
    and field."""


@dataclass(frozen=True)
class Point:
    """One DNP3 point of a map (see the module docstring for the fields)."""

    type: PointType
    index: int
    name: str
    unit: str | None = None
    multiplier: float = 1.0
    variation: str | None = None
    paired: str | None = None
    operate: Literal["sbo", "direct"] | None = None
    meaning: str = ""

    @property
    def ref(self) -> str:
        """``type`` and ``index`` as one word, e.g. ``AO88``."""
        return f"{self.type}{self.index}"

    @property
    def is_float(self) -> bool:
        """Whether the value travels as a float (``g30v5``, ``g41v3``)."""
        return bool(self.variation and VARIATIONS.get(self.type, {}).get(self.variation))

    def to_engineering(self, raw: float) -> float:
        """The device-side value [:attr:`unit`] of ``raw`` (raw x multiplier)."""
        return raw * self.multiplier

    def to_ours(self, raw: float) -> float:
        """The value in gridderms's unit of the quantity (:data:`UNITS`, e.g. W -> MW)."""
        return self.to_engineering(raw) * UNITS[self.unit or "n/a"][1]

    def to_raw(self, ours: float) -> float | int:
        """The raw value that carries ``ours`` (in gridderms's unit): rounded to the nearest
        integer for integer variations."""
        raw = ours / UNITS[self.unit or "n/a"][1] / self.multiplier
        return raw if self.is_float else round(raw)


@dataclass(frozen=True)
class PointMap:
    """The points of one map, by reference (``AO88``) and by name."""

    source: str
    points: tuple[Point, ...]
    _by_ref: dict[str, Point] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, Point] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_ref", {p.ref: p for p in self.points})
        object.__setattr__(self, "_by_name", {p.name: p for p in self.points})

    def __len__(self) -> int:
        return len(self.points)

    def point(self, ref: str) -> Point:
        """The point ``ref`` (``AI537``); :class:`KeyError` naming the map when absent."""
        try:
            return self._by_ref[ref]
        except KeyError:
            raise KeyError(f"point {ref} is not in the point map {self.source}") from None

    def named(self, name: str) -> Point:
        """The point carrying ``name``; :class:`KeyError` naming the map when absent."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no point carries '{name}' in the point map {self.source}") from None

    def of_type(self, point_type: PointType) -> tuple[Point, ...]:
        """The points of ``point_type``, by index."""
        return tuple(
            sorted((p for p in self.points if p.type == point_type), key=lambda p: p.index)
        )


def shipped_map(name: str) -> PointMap:
    """The shipped map ``name`` (a file stem in :data:`POINTS_DIR`).

    Raises
    ------
    PointMapError
        No such map (the message lists the shipped ones).
    """
    path = POINTS_DIR / f"{name}.csv"
    if not path.is_file():
        known = sorted(p.stem for p in POINTS_DIR.glob("*.csv"))
        raise PointMapError(f"no shipped point map '{name}'; the shipped maps: {known}")
    return load_point_map(path)


def load_point_map(path: str | Path) -> PointMap:
    """Read and check the point map at ``path`` (``.csv``, ``.yaml`` or ``.yml``).

    Raises
    ------
    PointMapError
        The file cannot be read, or any row breaks a rule; the message names each problem's
        file, row and field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PointMapError(f"{path}: cannot read the point map: {exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(text, str(path))
    elif suffix in (".yaml", ".yml"):
        rows = _yaml_rows(text, str(path))
    else:
        raise PointMapError(f"{path}: a point map is a .csv, .yaml or .yml file")
    return parse_point_map(rows, str(path))


def parse_point_map(rows: Iterable[tuple[str, Mapping[str, object]]], source: str) -> PointMap:
    """The map of ``rows`` (``(where, fields)``, ``where`` naming the row, e.g. ``line 4``).

    Raises
    ------
    PointMapError
        Every problem of every row, and of the map as a whole (duplicates, dangling pairs).
    """
    problems: list[str] = []
    points: list[tuple[str, Point]] = []
    for where, fields in rows:
        found = [f"{source}, {where}: {p}" for p in _row_problems(fields)]
        problems += found
        if not found:
            points.append((where, _point(fields)))
    problems += [f"{source}, {p}" for p in _map_problems(points)]
    if problems:
        raise PointMapError("point map refused:\n  " + "\n  ".join(problems))
    if not points:
        raise PointMapError(f"{source}: the point map has no points")
    return PointMap(source, tuple(p for _, p in points))


def _csv_rows(text: str, source: str) -> list[tuple[str, Mapping[str, object]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        raise PointMapError(
            f"{source}, line 1 (header): "
            + "; ".join(
                (
                    [f"unknown column(s) {unknown}; the columns are {list(COLUMNS)}"]
                    if unknown
                    else []
                )
                + ([f"missing column(s) {missing}"] if missing else [])
            )
        )
    rows: list[tuple[str, Mapping[str, object]]] = []
    for row in reader:
        if None in row:
            raise PointMapError(f"{source}, line {reader.line_num}: more cells than columns")
        rows.append(
            (f"line {reader.line_num}", {k: v for k, v in row.items() if v not in ("", None)})
        )
    return rows


def _yaml_rows(text: str, source: str) -> list[tuple[str, Mapping[str, object]]]:
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PointMapError(f"{source}: not YAML: {exc}") from None
    if not isinstance(document, list):
        raise PointMapError(f"{source}: a YAML point map is a list of points")
    rows: list[tuple[str, Mapping[str, object]]] = []
    for number, entry in enumerate(document, start=1):
        if not isinstance(entry, dict):
            raise PointMapError(f"{source}, entry {number}: a point is a mapping of the columns")
        unknown = sorted(str(k) for k in entry if k not in COLUMNS)
        if unknown:
            raise PointMapError(f"{source}, entry {number}: unknown field(s) {unknown}")
        rows.append((f"entry {number}", {k: v for k, v in entry.items() if v not in ("", None)}))
    return rows


def _row_problems(fields: Mapping[str, object]) -> list[str]:
    """What is wrong with one row, each naming its field."""
    problems = [f"field '{c}' is required" for c in REQUIRED if c not in fields]
    kind = str(fields.get("type", ""))
    if "type" in fields and kind not in POINT_TYPES:
        problems.append(f"field 'type': '{kind}' is not one of {list(POINT_TYPES)}")
    if "index" in fields and _index(fields["index"]) is None:
        problems.append(f"field 'index': '{fields['index']}' is not an integer 0..{MAX_INDEX}")
    analog = kind in ("AI", "AO")
    if analog:
        unit = fields.get("unit")
        if unit is None:
            problems.append("field 'unit' is required for an analog point")
        elif str(unit) not in UNITS:
            problems.append(f"field 'unit': '{unit}' is not one of {list(UNITS)}")
        multiplier = _number(fields.get("multiplier", 1.0))
        if multiplier is None or multiplier == 0.0:
            problems.append(
                f"field 'multiplier': '{fields.get('multiplier')}' is not a finite non-zero number"
            )
        variation = fields.get("variation")
        if variation is not None and str(variation) not in VARIATIONS[kind]:
            problems.append(
                f"field 'variation': '{variation}' is not one of "
                f"{list(VARIATIONS[kind])} for {kind}"
            )
        elif (
            variation is not None
            and VARIATIONS[kind][str(variation)]
            and multiplier not in (None, 1.0)
        ):
            problems.append(
                f"field 'multiplier': a float variation ({variation}) travels the value "
                "itself; use 1"
            )
    elif kind in ("BI", "BO"):
        for column in ("unit", "multiplier", "variation"):
            if column in fields:
                problems.append(f"field '{column}': a binary point has none")
    operate = fields.get("operate")
    if kind in ("AO", "BO") and operate not in ("sbo", "direct"):
        problems.append(
            f"field 'operate': '{operate}' must be 'sbo' or 'direct' for a command point"
        )
    elif kind in ("AI", "BI") and operate is not None:
        problems.append("field 'operate': only command points (AO, BO) are operated")
    paired = fields.get("paired")
    if paired is not None and kind in PAIRS and not str(paired).startswith(PAIRS[kind]):
        problems.append(
            f"field 'paired': '{paired}' is not an {PAIRS[kind]} point "
            f"({kind} pairs with {PAIRS[kind]})"
        )
    return problems


def _map_problems(points: list[tuple[str, Point]]) -> list[str]:
    """Duplicate references and names, pairs that name a point not in the map."""
    problems: list[str] = []
    refs: dict[str, str] = {}
    names: dict[str, str] = {}
    for where, point in points:
        if point.ref in refs:
            problems.append(
                f"{where}: field 'index': {point.ref} is already defined on {refs[point.ref]}"
            )
        refs.setdefault(point.ref, where)
        if point.name in names:
            problems.append(
                f"{where}: field 'name': '{point.name}' is already carried on {names[point.name]}"
            )
        names.setdefault(point.name, where)
    for where, point in points:
        if point.paired is not None and point.paired not in refs:
            problems.append(f"{where}: field 'paired': {point.paired} is not a point of this map")
    return problems


def _point(fields: Mapping[str, object]) -> Point:
    """The point of a row that passed :func:`_row_problems`."""
    kind: PointType = str(fields["type"])  # type: ignore[assignment]
    operate = fields.get("operate")
    return Point(
        type=kind,
        index=_index(fields["index"]) or 0,
        name=str(fields["name"]),
        unit=str(fields["unit"]) if "unit" in fields else None,
        multiplier=_number(fields.get("multiplier", 1.0)) or 1.0,
        variation=str(fields["variation"]) if "variation" in fields else None,
        paired=str(fields["paired"]) if "paired" in fields else None,
        operate=operate if operate in ("sbo", "direct") else None,
        meaning=str(fields.get("meaning", "")),
    )


def _index(value: object) -> int | None:
    """``value`` as a point index, or None."""
    if isinstance(value, bool):
        return None
    try:
        index = int(str(value).strip())
    except ValueError:
        return None
    return index if 0 <= index <= MAX_INDEX else None


def _number(value: object) -> float | None:
    """``value`` as a finite number, or None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def main(argv: list[str] | None = None) -> int:
    """``python -m scada_bridge.point_map FILE...``: check point maps; one line per map, or
    the problems and exit status 2."""
    import sys

    paths = sys.argv[1:] if argv is None else argv
    status = 0
    for path in paths:
        try:
            checked = load_point_map(path)
        except PointMapError as exc:
            print(exc, file=sys.stderr)
            status = 2
            continue
        counts = ", ".join(f"{len(checked.of_type(t))} {t}" for t in POINT_TYPES)
        print(f"{path}: {len(checked)} points ({counts})")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
