"""Load a feeder into a pandapower net from a built-in name, a pandapower JSON file or a
MATPOWER case file, and validate it.

Pipeline: resolve the source -> read it (or build and cache a built-in) -> validate -> Feeder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pandapower as pp

from network_models.builtin import BUILTIN_FEEDERS, BuildResult, simbench_feeder
from network_models.errors import FeederFileError, FeederNotFoundError
from network_models.feeder import Feeder
from network_models.profiles import FeederProfiles
from network_models.validation import validate_net

logger = logging.getLogger(__name__)

#: bump when a built-in's construction changes, so stale caches are rebuilt
CACHE_FORMAT = 3
SIMBENCH_PREFIX = "simbench:"


def default_cache_dir() -> Path:
    """``$GRIDDERMS_CACHE_DIR`` or ``~/.cache/gridderms``."""
    env = os.environ.get("GRIDDERMS_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "gridderms"


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
        feeder = Feeder(name=path.stem, source=str(path), net=read_feeder_file(path))
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
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeederFileError(
            f"cannot read feeder file '{path}': not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno})"
        ) from exc
    if not (isinstance(document, dict) and document.get("_module", "").startswith("pandapower")):
        raise FeederFileError(
            f"cannot read feeder file '{path}': valid JSON but not a pandapower network "
            f"(expected an object written by pandapower.to_json)"
        )
    net = pp.from_json_string(text)
    if not isinstance(net, pp.pandapowerNet) or "bus" not in net:
        raise FeederFileError(f"cannot read feeder file '{path}': no bus table in the network")
    return net


def _read_matpower(path: Path) -> pp.pandapowerNet:
    from pandapower.converter.matpower import from_mpc

    net = from_mpc(str(path), f_hz=50)
    if not len(net.bus):
        raise FeederFileError(f"cannot read feeder file '{path}': the case has no buses")
    return net


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
            net = pp.from_json(str(net_path))
            profiles = FeederProfiles.load_npz(profiles_path) if meta["has_profiles"] else None
            return Feeder(display, source, net, profiles, tuple(meta["notes"]))
        except Exception as exc:  # a broken cache is rebuilt, never trusted
            logger.warning("rebuilding cached feeder %s: %s", name, exc)
    net, profiles, notes = _build(name)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        pp.to_json(net, str(net_path))
        if profiles is not None:
            profiles.save_npz(profiles_path)
        meta_path.write_text(json.dumps({"has_profiles": profiles is not None, "notes": notes}))
    except OSError as exc:
        logger.warning("could not cache feeder %s in %s: %s", name, cache_dir, exc)
    return Feeder(display, source, net, profiles, notes)


def _build(name: str) -> BuildResult:
    if name.startswith(SIMBENCH_PREFIX):
        code = name.removeprefix(SIMBENCH_PREFIX)
        try:
            return simbench_feeder(code)
        except Exception as exc:
            raise FeederNotFoundError(f"SimBench grid '{code}' cannot be built: {exc}") from exc
    return BUILTIN_FEEDERS[name].build()
