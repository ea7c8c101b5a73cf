"""Load a feeder into a pandapower net from a built-in name, a pandapower JSON file or a
MATPOWER case file, and validate it.

Pipeline: resolve the source -> read it (or build and cache a built-in) -> validate -> Feeder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd

from network_models.builtin import BUILTIN_FEEDERS, BuildResult, simbench_feeder
from network_models.cache_dir import default_cache_dir
from network_models.errors import FeederFileError, FeederNotFoundError
from network_models.feeder import Feeder
from network_models.json_values import json_kind
from network_models.location import (
    DEFAULT_LOCATION,
    FeederLocation,
    LocationError,
    builtin_location,
    default_location_note,
    location_from_mapping,
)
from network_models.profiles import FeederProfiles
from network_models.safe_json import read_pandapower_json
from network_models.validation import validate_net

logger = logging.getLogger(__name__)

#: bump when a built-in's construction changes, so stale caches are rebuilt
CACHE_FORMAT = 4
SIMBENCH_PREFIX = "simbench:"


def load_feeder(
    source: str | Path, *, cache_dir: Path | None = None, validate: bool = True
) -> Feeder:
    """Load and validate a feeder.

    Parameters
    ----------
    source : str or Path
        A built-in name (see :data:`network_models.builtin.BUILTIN_FEEDERS`),
        ``simbench:CODE`` for any SimBench grid, or the path of a pandapower JSON file
        (``.json``) or a MATPOWER case (``.m`` or ``.mat``).
    cache_dir : Path, optional
        Cache for built-in feeders; default :func:`default_cache_dir`. Pass a path to use
        another one.
    validate : bool
        Run :func:`network_models.validation.validate_net` (default). Only tests that build
        broken models on purpose turn this off.

    Raises
    ------
    FeederNotFoundError
        ``source`` is neither a built-in nor an existing file.
    FeederFileError
        The file cannot be read or parsed.
    FeederValidationError
        The model fails a validation check; the message lists every problem.
    """
    text = str(source)
    if text in BUILTIN_FEEDERS or text.startswith(SIMBENCH_PREFIX):
        feeder = _load_builtin(text, cache_dir or default_cache_dir())
    else:
        path = Path(text)
        if not path.exists():
            raise FeederNotFoundError(
                f"feeder '{text}' is neither a built-in feeder ({', '.join(BUILTIN_FEEDERS)}, "
                f"or simbench:CODE) nor an existing file"
            )
        net = read_feeder_file(path)
        feeder = Feeder(name=path.stem, source=str(path), net=net)
    feeder.location, location_notes = feeder_location(feeder.name, text, feeder.net)
    feeder.notes = (*feeder.notes, *location_notes)
    if validate:
        validate_net(feeder.net, feeder.source)
    return feeder


def read_feeder_file(path: Path) -> pp.pandapowerNet:
    """Read a pandapower JSON (``.json``) or MATPOWER (``.m``, ``.mat``) file into a net."""
    suffix = path.suffix.lower()
    if path.is_dir():
        raise FeederFileError(f"cannot read feeder file '{path}': it is a directory")
    try:
        if suffix == ".json":
            return _read_pandapower_json(path)
        if suffix in (".m", ".mat"):
            return _read_matpower(path)
    except FeederFileError:
        raise
    except Exception as exc:  # every parser error becomes one clear message
        raise FeederFileError(
            f"cannot read feeder file '{path}': {type(exc).__name__}: {exc}"
        ) from exc
    raise FeederFileError(
        f"cannot read feeder file '{path}': unsupported extension '{suffix}' "
        f"(expected .json for pandapower, .m or .mat for MATPOWER)"
    )


def _read_pandapower_json(path: Path) -> pp.pandapowerNet:
    """Read a pandapower JSON file with :func:`network_models.safe_json.read_pandapower_json`,
    which imports nothing the file names (unlike ``pandapower.from_json``), and check the
    shape of its entries (:func:`check_net_shape`)."""
    net = read_pandapower_json(path.read_text(encoding="utf-8"), str(path))
    check_net_shape(net, str(path))
    return net


@lru_cache(maxsize=1)
def _empty_net() -> pp.pandapowerNet:
    """An empty network: the type of each standard entry."""
    return pp.create_empty_network()


def check_net_shape(net: pp.pandapowerNet, source: str) -> None:
    """Each standard entry of ``net`` has the shape of pandapower's entry of that name.

    Raises
    ------
    FeederFileError
        A standard table (``bus``, ``line``, ``res_bus``...) that is not a table;
        ``std_types`` or ``user_pf_options`` not an object; ``sn_mva`` or ``f_hz`` not a
        positive number; a text entry (``name``, ``version``) not text.
    """
    where = f"cannot read feeder file '{source}'"
    for key, expected in _empty_net().items():
        if key.startswith("_") or key not in net:
            continue
        value = net[key]
        shown = json_kind(value)
        if isinstance(expected, pd.DataFrame) and not isinstance(value, pd.DataFrame):
            raise FeederFileError(
                f"{where}: table '{key}' is {shown}, not a table (pandapower.to_json writes "
                f"each element table as a pandas DataFrame object)"
            )
        if isinstance(expected, dict) and not isinstance(value, dict):
            raise FeederFileError(f"{where}: '{key}' is {shown}, not an object")
        if key in ("sn_mva", "f_hz") and not (
            isinstance(value, int | float | np.number)
            and not isinstance(value, bool | np.bool_)
            and math.isfinite(float(value))
            and float(value) > 0
        ):
            raise FeederFileError(f"{where}: '{key}' is {shown}, not a positive number")
        if isinstance(expected, str) and not (
            isinstance(value, str) or (key == "name" and value is None)
        ):
            raise FeederFileError(f"{where}: '{key}' is {shown}, not text")


def _read_matpower(path: Path) -> pp.pandapowerNet:
    """Read a MATPOWER case, ``.m`` text (parsed by matpowercaseframes) or ``.mat`` binary
    (``scipy.io.loadmat``), check its matrices (:func:`_matpower_ppc`) and convert it with
    pandapower's ``from_ppc``: what ``pandapower.converter.from_mpc`` does, with the checks
    in between and single-row matrices kept two-dimensional."""
    from pandapower.converter.pypower import from_ppc

    if path.suffix.lower() == ".mat":
        fields, additional = _read_mat_case(path)
    else:
        fields, additional = _read_m_case(path), {}
    net = from_ppc(_matpower_ppc(path, fields), f_hz=50)
    if additional:  # like from_mpc: the struct's other fields are kept in net._options
        if "_options" not in net:
            net["_options"] = {}
        net._options.update(additional)
    if not len(net.bus):
        raise FeederFileError(f"cannot read feeder file '{path}': the case has no buses")
    return net


#: MATPOWER's names of the columns a case matrix must have at least (MATPOWER manual, Appendix B)
MATPOWER_COLUMNS: dict[str, tuple[str, ...]] = {
    "bus": (
        "BUS_I", "BUS_TYPE", "PD", "QD", "GS", "BS", "BUS_AREA", "VM", "VA", "BASE_KV", "ZONE",
        "VMAX", "VMIN",
    ),
    "gen": ("GEN_BUS", "PG", "QG", "QMAX", "QMIN", "VG", "MBASE", "GEN_STATUS", "PMAX", "PMIN"),
    "branch": (
        "F_BUS", "T_BUS", "BR_R", "BR_X", "BR_B", "RATE_A", "RATE_B", "RATE_C", "TAP", "SHIFT",
        "BR_STATUS",
    ),
}  # fmt: skip
#: fields of the ``mpc`` struct of a ``.mat`` case that go into the case (as in from_mpc)
MAT_CASE_FIELDS = ("version", "baseMVA", "bus", "gen", "branch", "gencost")
#: at most this many non-finite entries are named in an error message
MAX_NAMED_ENTRIES = 5


def _read_m_case(path: Path) -> dict[str, object]:
    """The fields of a MATPOWER ``.m`` case, tables as arrays (what ``from_mpc`` parses)."""
    from matpowercaseframes import CaseFrames

    case = CaseFrames(str(path))
    fields: dict[str, object] = {}
    for key in case.attributes:
        value = getattr(case, key)
        fields[key] = value.values if isinstance(value, pd.DataFrame) else value
    return fields


def _read_mat_case(path: Path) -> tuple[dict[str, object], dict[str, object]]:
    """The case fields and the other fields of the ``mpc`` struct of a ``.mat`` file (MATLAB
    level 5/7 or Octave ``-mat7-binary``, as ``scipy.io.loadmat`` reads them).

    Raises
    ------
    FeederFileError
        Not a MAT-file, a MATLAB v7.3 (HDF5) MAT-file, or no struct named ``mpc``.
    """
    import scipy.io

    try:
        variables = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except NotImplementedError as exc:  # scipy's answer to the HDF5-based v7.3 format
        raise FeederFileError(
            f"cannot read feeder file '{path}': a MATLAB v7.3 (HDF5) MAT-file, which is not "
            f"supported; save the case as a v7 MAT-file (MATLAB: save(file, 'mpc', '-v7'); "
            f"Octave: save -mat7-binary)"
        ) from exc
    except Exception as exc:
        raise FeederFileError(
            f"cannot read feeder file '{path}': not a readable MATLAB .mat file "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    names = sorted(name for name in variables if not name.startswith("__"))
    if "mpc" not in variables:
        raise FeederFileError(
            f"cannot read feeder file '{path}': no MATPOWER case struct named 'mpc' in the .mat "
            f"file (its variables: {', '.join(names) or 'none'}); save the case as a struct "
            f"called mpc"
        )
    mpc = variables["mpc"]
    fieldnames = getattr(mpc, "_fieldnames", None)
    if not isinstance(fieldnames, list):
        raise FeederFileError(
            f"cannot read feeder file '{path}': 'mpc' in the .mat file is a "
            f"{type(mpc).__name__}, not a struct with the fields baseMVA, bus, gen and branch"
        )
    fields = {name: getattr(mpc, name) for name in fieldnames if name in MAT_CASE_FIELDS}
    additional = {name: getattr(mpc, name) for name in fieldnames if name not in MAT_CASE_FIELDS}
    return fields, additional


def _matpower_ppc(path: Path, fields: dict[str, object]) -> dict[str, object]:
    """A pypower case (0-based bus numbers, TAP 0 as 1, like ``from_mpc``) from the fields of
    a MATPOWER case, after checking them.

    Raises
    ------
    FeederFileError
        A field missing (baseMVA, bus, gen, branch), a table that is not a numeric matrix with
        MATPOWER's columns, no rows in a table, a non-positive or non-finite baseMVA, or a
        NaN or infinite value in bus or branch data or NaN in generator data (generator
        limits may be infinite); at most :data:`MAX_NAMED_ENTRIES` entries are named.
    """
    where = f"cannot read feeder file '{path}'"
    missing = [key for key in ("baseMVA", "bus", "gen", "branch") if key not in fields]
    if missing:
        raise FeederFileError(
            f"{where}: the MATPOWER case has no {', '.join(missing)} (a case needs baseMVA, "
            f"bus, gen and branch)"
        )
    try:
        base_mva = float(np.asarray(fields["baseMVA"], dtype=float).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        base_mva = float("nan")
    if not (np.isfinite(base_mva) and base_mva > 0):
        raise FeederFileError(f"{where}: mpc.baseMVA must be a positive number [MVA]")
    ppc: dict[str, object] = {**fields, "version": "2", "baseMVA": base_mva}
    bad_entries: list[str] = []
    tables: dict[str, np.ndarray] = {}
    for table, columns in MATPOWER_COLUMNS.items():
        try:
            matrix = np.atleast_2d(np.array(fields[table], dtype=float))
        except (TypeError, ValueError):
            raise FeederFileError(f"{where}: mpc.{table} is not a numeric matrix") from None
        if matrix.ndim != 2 or matrix.size == 0:
            raise FeederFileError(f"{where}: mpc.{table} has no rows")
        if matrix.shape[1] < len(columns):
            raise FeederFileError(
                f"{where}: mpc.{table} has {matrix.shape[1]} columns; MATPOWER {table} data "
                f"needs at least {len(columns)} ({', '.join(columns)})"
            )
        bad = np.isnan(matrix) if table == "gen" else ~np.isfinite(matrix)
        for row, column in zip(*np.nonzero(bad), strict=True):
            name = columns[column] if column < len(columns) else f"column {column + 1}"
            bad_entries.append(f"mpc.{table} row {row + 1} {name} = {matrix[row, column]}")
        tables[table] = matrix
    if bad_entries:
        shown = "; ".join(bad_entries[:MAX_NAMED_ENTRIES])
        more = len(bad_entries) - MAX_NAMED_ENTRIES
        raise FeederFileError(
            f"{where}: {len(bad_entries)} non-finite value(s) in the MATPOWER case: {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )
    if "gencost" in fields:
        try:
            ppc["gencost"] = np.atleast_2d(np.array(fields["gencost"], dtype=float))
        except (TypeError, ValueError):
            raise FeederFileError(f"{where}: mpc.gencost is not a numeric matrix") from None
    bus, gen, branch = tables["bus"], tables["gen"], tables["branch"]
    bus[:, 0] -= 1  # MATPOWER numbers buses from 1, pypower from 0
    branch[:, 0:2] -= 1
    gen[:, 0] -= 1
    branch[branch[:, 8] == 0, 8] = 1  # TAP 0 means no transformer: ratio 1
    ppc.update(bus=bus, gen=gen, branch=branch)
    return ppc


def feeder_location(
    name: str, source: str, net: pp.pandapowerNet
) -> tuple[FeederLocation, tuple[str, ...]]:
    """The location a feeder's model declares, else its built-in region, else the default
    (with a note naming it).

    Raises
    ------
    FeederFileError
        The model's ``location`` entry is not a valid location (the problem named).
    """
    declared = net.get("location") if hasattr(net, "get") else None
    if isinstance(declared, Mapping):
        try:
            return location_from_mapping(declared, "model"), ()
        except LocationError as exc:
            raise FeederFileError(f"{source}: the model's 'location' entry: {exc}") from exc
    builtin = builtin_location(source.removeprefix("builtin:"))
    if builtin is not None:
        return builtin, ()
    return DEFAULT_LOCATION, (default_location_note(name),)


def _load_builtin(name: str, cache_dir: Path) -> Feeder:
    """Build a built-in feeder, or read it from the cache when present and current."""
    stem = hashlib.sha1(f"{CACHE_FORMAT}:{name}".encode()).hexdigest()[:12]
    safe = name.replace(":", "_").replace("/", "_")
    net_path = cache_dir / f"{safe}-{stem}.json"
    profiles_path = cache_dir / f"{safe}-{stem}.profiles.npz"
    meta_path = cache_dir / f"{safe}-{stem}.meta.json"
    source = name if name.startswith(SIMBENCH_PREFIX) else f"builtin:{name}"
    display = name.removeprefix(SIMBENCH_PREFIX)
    if net_path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            # our own file, read like an upload: nothing it names is imported
            text = net_path.read_text(encoding="utf-8")
            net = read_pandapower_json(text, str(net_path), convert=True)
            profiles = FeederProfiles.load_npz(profiles_path) if meta["has_profiles"] else None
            return Feeder(display, source, net, profiles, tuple(meta["notes"]))
        except Exception as exc:  # a broken cache is rebuilt, never trusted
            logger.warning("rebuilding cached feeder %s: %s", name, exc)
    net, profiles, notes = _build(name)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # each file written beside its place and renamed into it: processes sharing the cache
        # (service instances, test workers) never read a half-written file; the meta file,
        # which says the cache is there, comes last
        with _written(net_path) as partial:
            pp.to_json(net, str(partial))
        if profiles is not None:
            with _written(profiles_path) as partial:
                profiles.save_npz(partial)
        with _written(meta_path) as partial:
            partial.write_text(json.dumps({"has_profiles": profiles is not None, "notes": notes}))
    except OSError as exc:
        logger.warning("could not cache feeder %s in %s: %s", name, cache_dir, exc)
    return Feeder(display, source, net, profiles, notes)


@contextmanager
def _written(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` atomically once the
    block has written it; removed if the block fails."""
    partial = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _build(name: str) -> BuildResult:
    if name.startswith(SIMBENCH_PREFIX):
        code = name.removeprefix(SIMBENCH_PREFIX)
        try:
            return simbench_feeder(code)
        except Exception as exc:
            raise FeederNotFoundError(f"SimBench grid '{code}' cannot be built: {exc}") from exc
    return BUILTIN_FEEDERS[name].build()
