"""Feeders in the service: loading built-ins, their in-memory pandapower models, topology,
the ADMS's switching (versioned, audited, exclusive per feeder) and where each feeder is.

The database is the truth (source, switch states, version, the location the user set);
:class:`FeederModels` keeps one pandapower model per feeder in memory and rebuilds it from the
source plus the stored switch states whenever the stored version differs from the cached one
(e.g. after a restart). A feeder's location is the user's when set (stored on the feeder row),
else what its model, its built-in region or the default gives (see
:mod:`network_models.location`); it is applied to the model every time the model is handed
out, so a change made through any service instance counts at once.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from gridderms.ders import DerError, der_to_json_dict, ders_from_net
from gridderms.persistence.models import DerRow, FeederFileRow, FeederRow, FeederVersionRow
from gridderms.persistence.repositories import RecordNotFoundError, add_audit, feeder_by_name
from gridderms.service.auth import Principal
from gridderms.service.errors import ConflictError
from network_models.builtin import BUILTIN_FEEDERS
from network_models.errors import FeederError
from network_models.feeder import Feeder
from network_models.loaders import load_feeder
from network_models.location import (
    FeederLocation,
    LocationError,
    default_location_note,
    location_from_mapping,
)
from network_models.topology import set_switch_state

OPERATING_MODES = ("manual", "automatic")
UPLOAD_PREFIX = "upload:"
UploadFormat = Literal["pandapower-json", "matpower", "matpower-mat"]
#: file suffix per upload format (what :func:`network_models.loaders.read_feeder_file` reads)
UPLOAD_SUFFIX: dict[str, str] = {
    "pandapower-json": ".json",
    "matpower": ".m",
    "matpower-mat": ".mat",
}
#: binary upload formats: stored base64-encoded in the text column ``FeederFileRow.content``
BINARY_FORMATS = frozenset({"matpower-mat"})
#: the fields of a location the user sets (``altitude_m`` optional, default 0 m)
LOCATION_FIELDS = ("latitude_deg", "longitude_deg", "altitude_m", "tz")
#: the fields a location the user sets must have
REQUIRED_LOCATION_FIELDS = ("latitude_deg", "longitude_deg", "tz")


class FeederUploadError(ValueError):
    """An uploaded feeder file cannot be read or fails validation; ``str()`` names the
    problem (the loader's message, with the temporary file name replaced by the upload's)."""


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


def _store_location(row: FeederRow, location: FeederLocation | None) -> None:
    """Write the user's ``location`` on ``row`` (``None``: clear it)."""
    row.latitude_deg = None if location is None else float(location.latitude_deg)
    row.longitude_deg = None if location is None else float(location.longitude_deg)
    row.altitude_m = None if location is None else float(location.altitude_m)
    row.tz = None if location is None else location.tz
    row.location_source = None if location is None else location.source


def switch_states(feeder: Feeder) -> dict[str, bool]:
    """Switch id (as a string) -> closed, for every switch of the model."""
    return {str(int(i)): bool(c) for i, c in feeder.net.switch.closed.items()}


class FeederModels:
    """In-memory pandapower models of the stored feeders, one lock per feeder.

    Parameters
    ----------
    cache_dir : Path
        Cache of built-in feeders (see :func:`network_models.loaders.load_feeder`).
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._models: dict[str, Feeder] = {}
        #: the location each source's model gives (model, built-in region or default)
        self._own_locations: dict[str, FeederLocation] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._changing: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, name: str) -> threading.Lock:
        """The lock guarding the in-memory model of feeder ``name`` (held briefly)."""
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def changing(self, name: str) -> bool:
        """Whether a topology change of feeder ``name`` is in progress."""
        with self._guard:
            lock = self._changing.get(name)
        return lock is not None and lock.locked()

    @contextmanager
    def exclusive(self, name: str, what: str) -> Iterator[None]:
        """Mark a topology change of feeder ``name`` in progress, or raise
        :class:`ConflictError` when another one is."""
        with self._guard:
            lock = self._changing.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):
            raise ConflictError(
                f"feeder '{name}' is in the middle of a topology change; retry {what} shortly"
            )
        try:
            yield
        finally:
            lock.release()

    def model(self, row: FeederRow) -> Feeder:
        """The model of ``row`` at its stored version (rebuilt when stale) with the location
        of ``row`` (the user's, else the model's own). Callers must hold the feeder's lock or
        work on :meth:`snapshot`."""
        cached = self._models.get(row.name)
        if cached is None or cached.version != row.version:
            cached = self._load(row)
        self._apply_location(cached, row)
        return cached

    def _load(self, row: FeederRow) -> Feeder:
        """Build the model of ``row`` from its source and stored switch states."""
        feeder = load_feeder(self._source_path(row), cache_dir=self.cache_dir)
        self._own_locations[row.source] = feeder.location
        # the loader's note names the file; :meth:`_apply_location` adds one naming the feeder
        loaded_note = default_location_note(feeder.name)
        feeder.notes = tuple(note for note in feeder.notes if note != loaded_note)
        feeder.name = row.name
        current = switch_states(feeder)
        for switch, closed in row.switch_closed.items():
            if current.get(switch) != closed:
                set_switch_state(feeder.net, int(switch), bool(closed))
        feeder.invalidate()
        feeder.version = row.version
        self._models[row.name] = feeder
        return feeder

    def _apply_location(self, feeder: Feeder, row: FeederRow) -> None:
        """Give ``feeder`` the location of ``row``; the note on the default location only
        when the feeder uses it."""
        own = self._own_locations[row.source]
        user = user_location(row)
        note = default_location_note(row.name)
        notes = tuple(n for n in feeder.notes if n != note)
        if user is None and own.source == "default":
            notes = (*notes, note)
        feeder.location = user or own
        feeder.notes = notes

    def location(self, row: FeederRow) -> FeederLocation:
        """The effective location of ``row``: the user's, else what its model, its built-in
        region or the default gives (the model is loaded the first time)."""
        user = user_location(row)
        if user is not None:
            return user
        own = self._own_locations.get(row.source)
        if own is None:
            with self.lock(row.name):
                self.model(row)
            own = self._own_locations[row.source]
        return own

    def own_location_is(self, source: str, location: FeederLocation) -> None:
        """Record the location the model of ``source`` gives (known at registration)."""
        self._own_locations.setdefault(source, location)

    def refresh_location(self, row: FeederRow) -> None:
        """Apply the location of ``row`` to its cached model, if there is one."""
        with self.lock(row.name):
            cached = self._models.get(row.name)
            if cached is not None and row.source in self._own_locations:
                self._apply_location(cached, row)

    def _source_path(self, row: FeederRow) -> str | Path:
        """What :func:`load_feeder` loads for ``row``: the built-in name, or for an uploaded
        feeder its file, written to the cache from the database when missing."""
        if not row.source.startswith(UPLOAD_PREFIX):
            return row.source
        path = self.cache_dir / "uploads" / row.source.removeprefix(UPLOAD_PREFIX)
        if not path.exists():
            session = object_session(row)
            if session is None:  # pragma: no cover - rows come from a live session
                raise RuntimeError(f"feeder '{row.name}' is not attached to a session")
            stored = session.scalars(
                select(FeederFileRow).where(FeederFileRow.feeder_id == row.id)
            ).one()
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(path.suffix + f".{threading.get_ident()}.part")
            partial.write_bytes(stored_file_bytes(stored))
            partial.replace(path)
        return path

    def snapshot(self, row: FeederRow) -> Feeder:
        """A private deep copy of the model of ``row`` (for power flows and dispatches): every
        field carried over (location, profiles, notes, version), the net deep-copied, the
        cached topology and model data left behind (built again for the copy)."""
        with self.lock(row.name):
            feeder = self.model(row)
            return replace(feeder, net=copy.deepcopy(feeder.net), _topology=None, model_cache={})

    def model_version_is(self, name: str, version: int, changed: Feeder) -> None:
        """Record that the cached model of ``name`` is at stored ``version`` when it is the
        model ``changed`` was applied to; drop it otherwise (a read between the change and
        its commit rebuilt it from the row as it was before)."""
        cached = self._models.get(name)
        if cached is changed:
            cached.version = version
        else:
            self._models.pop(name, None)

    def forget(self, name: str) -> None:
        """Drop the cached model of ``name``."""
        self._models.pop(name, None)


def feeder_for_request(
    session: Session,
    models: FeederModels,
    feeder_name: str,
    expected_version: int | None,
    what: str,
) -> FeederRow:
    """Feeder ``feeder_name``, when a ``what`` (a dispatch, a study) may be requested on it now.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    ConflictError
        A topology change is in progress, or ``expected_version`` is not the feeder's
        topology version.
    """
    feeder = feeder_by_name(session, feeder_name)
    if models.changing(feeder_name):
        raise ConflictError(
            f"feeder '{feeder_name}' is in the middle of a topology change; request the "
            f"{what} again when it is done"
        )
    if expected_version is not None and expected_version != feeder.version:
        raise ConflictError(
            f"feeder '{feeder_name}' is at topology version {feeder.version}, not the expected "
            f"{expected_version}"
        )
    return feeder


def stored_file_bytes(stored: FeederFileRow) -> bytes:
    """The bytes of an uploaded file as it was uploaded: ``content`` decoded from base64 for a
    binary format (:data:`BINARY_FORMATS`), from UTF-8 text otherwise."""
    if stored.format in BINARY_FORMATS:
        return base64.b64decode(stored.content.encode("ascii"), validate=True)
    return stored.content.encode("utf-8")


def list_builtins() -> list[dict[str, str]]:
    """Name, description and reference of every built-in feeder."""
    return [
        {"name": b.name, "description": b.description, "reference": b.reference}
        for b in BUILTIN_FEEDERS.values()
    ]


def list_feeders(session: Session) -> list[FeederRow]:
    """Every loaded feeder, oldest first."""
    return list(session.scalars(select(FeederRow).order_by(FeederRow.id)))


def summary(models: FeederModels, row: FeederRow) -> dict[str, Any]:
    """Name, source, version, operating mode, time stamps and effective location (the
    user's, else the model's, the built-in region's or the default, see
    :meth:`FeederModels.location`) of a feeder."""
    return {
        "name": row.name,
        "source": row.source,
        "version": row.version,
        "operating_mode": row.operating_mode,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "location": models.location(row).to_dict(),
    }


def load_builtin(
    session: Session, models: FeederModels, actor: Principal, builtin: str, name: str | None
) -> FeederRow:
    """Load built-in feeder ``builtin`` as ``name`` (default: the built-in name) and register
    its DERs (static generators and storage of the model).

    Raises
    ------
    RecordNotFoundError
        Unknown built-in.
    ConflictError
        A feeder called ``name`` is already loaded.
    """
    if builtin not in BUILTIN_FEEDERS:
        raise RecordNotFoundError("built-in feeder", builtin)
    name = name or builtin
    _refuse_duplicate(session, name)
    feeder = load_feeder(builtin, cache_dir=models.cache_dir)
    return _register(session, models, actor, name, builtin, feeder, "feeder.load", {})


def _refuse_duplicate(session: Session, name: str) -> None:
    if session.scalars(select(FeederRow.id).where(FeederRow.name == name)).first() is not None:
        raise ConflictError(f"feeder '{name}' is already loaded")


def _register(
    session: Session,
    models: FeederModels,
    actor: Principal,
    name: str,
    source: str,
    feeder: Feeder,
    action: str,
    audit: dict[str, Any],
    file: FeederFileRow | None = None,
    location: FeederLocation | None = None,
) -> FeederRow:
    """Store ``feeder`` as ``name`` at version 0 with its DERs (its uploaded file, the
    location the user gave), audited as ``action``; one transaction."""
    states = switch_states(feeder)
    row = FeederRow(
        name=name, source=source, version=0, operating_mode="manual", switch_closed=states
    )
    _store_location(row, location)
    if location is not None:
        audit = {**audit, "location": location.to_dict()}
    session.add(row)
    session.flush()
    session.add(
        FeederVersionRow(
            feeder_id=row.id,
            version=0,
            change={"action": "load", "source": source},
            switch_closed=states,
            actor=actor.name,
        )
    )
    if file is not None:
        file.feeder_id = row.id
        session.add(file)
    records = ders_from_net(feeder.net)
    for record in records:
        session.add(
            DerRow(
                feeder_id=row.id,
                der_id=record.der_id,
                bus=record.bus,
                der_type=record.der_type,
                status=record.status,
                record=der_to_json_dict(record),
            )
        )
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action=action,
        target_type="feeder",
        target_id=name,
        after={"source": source, "version": 0, "ders": len(records), **audit},
    )
    session.commit()
    models.forget(name)
    models.own_location_is(source, feeder.location)
    return row


def upload(
    session: Session,
    models: FeederModels,
    actor: Principal,
    name: str,
    file_format: UploadFormat,
    content: bytes,
    location: Mapping[str, object] | None = None,
) -> FeederRow:
    """Load an uploaded pandapower JSON, MATPOWER ``.m`` or MATPOWER ``.mat`` file as feeder
    ``name``: read and validated by :func:`network_models.loaders.load_feeder`, stored (the
    file too: text as it is, a binary ``.mat`` base64-encoded, see :func:`stored_file_bytes`)
    and its DERs registered, like a built-in. ``location`` (see :func:`location_input`; all
    values ``None``: not given) is the user's location of the feeder, replacing the one its
    model or the default gives.

    Raises
    ------
    FeederLocationError
        An incomplete or invalid ``location`` (named); checked before the file is read.
    FeederUploadError
        Empty, not UTF-8 text (text formats), unreadable (a pandapower JSON naming a type
        outside :data:`network_models.safe_json.ALLOWED_TYPES` too: nothing it names is
        imported), failing validation, or a DER of the model that cannot be registered (the
        message names the problem).
    ConflictError
        A feeder called ``name`` is already loaded.
    """
    user = location_input(location or {})
    _refuse_duplicate(session, name)
    if file_format in BINARY_FORMATS:
        if not content:
            raise FeederUploadError(f"the uploaded {file_format} file is empty")
        text = base64.b64encode(content).decode("ascii")
    else:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FeederUploadError(
                f"the uploaded {file_format} file is not UTF-8 text: {exc}"
            ) from None
        if not text.strip():
            raise FeederUploadError(f"the uploaded {file_format} file is empty")
    digest = hashlib.sha256(content).hexdigest()
    suffix = UPLOAD_SUFFIX[file_format]
    filename = f"{name}{suffix}"
    with tempfile.TemporaryDirectory(prefix="gridderms-upload-") as directory:
        path = Path(directory) / filename
        path.write_bytes(content)
        try:
            feeder = load_feeder(path, cache_dir=models.cache_dir)
        except FeederError as exc:
            raise FeederUploadError(str(exc).replace(str(path), filename)) from None
    try:  # registered by _register; a DER that cannot be a record is the file's problem
        ders_from_net(feeder.net)
    except DerError as exc:
        raise FeederUploadError(f"the DERs of '{filename}' cannot be registered: {exc}") from None
    stored = models.cache_dir / "uploads" / f"{digest}{suffix}"
    if not stored.exists():
        stored.parent.mkdir(parents=True, exist_ok=True)
        partial = stored.with_suffix(suffix + f".{threading.get_ident()}.part")
        partial.write_bytes(content)
        partial.replace(stored)
    file = FeederFileRow(
        filename=filename, format=file_format, sha256=digest, content=text, feeder_id=0
    )
    return _register(
        session,
        models,
        actor,
        name,
        f"{UPLOAD_PREFIX}{digest}{suffix}",
        feeder,
        "feeder.upload",
        {"format": file_format, "sha256": digest, "buses": len(feeder.net.bus)},
        file,
        user,
    )


def describe(models: FeederModels, row: FeederRow) -> dict[str, Any]:
    """Size, voltage levels, DERs by type, topology summary and notes of a feeder."""
    with models.lock(row.name):
        feeder = models.model(row)
        net = feeder.net
        topology = feeder.topology()
        levels = Counter(float(v) for v in net.bus.vn_kv)
        return {
            "name": row.name,
            "source": row.source,
            "version": row.version,
            "operating_mode": row.operating_mode,
            **feeder.counts(),
            "voltage_levels_kv": {f"{kv:g}": n for kv, n in sorted(levels.items(), reverse=True)},
            "total_load_p_mw": float((net.load.p_mw * net.load.scaling)[net.load.in_service].sum()),
            "radial": bool(topology.is_radial),
            "islands": len(topology.islands),
            "profile_steps": feeder.profiles.n_steps if feeder.profiles else 0,
            "notes": list(feeder.notes),
            "location": feeder.location.to_dict(),
        }


def topology(models: FeederModels, row: FeederRow) -> dict[str, Any]:
    """Switch states, sources, feeder heads, islands and de-energized buses."""
    with models.lock(row.name):
        feeder = models.model(row)
        topo = feeder.topology()
        switches = feeder.net.switch
        return {
            "feeder": row.name,
            "version": row.version,
            "radial": bool(topo.is_radial),
            "sources": [int(b) for b in topo.source_buses],
            "islands": len(topo.islands),
            "meshes": len(topo.meshes()),
            "deenergized_buses": sorted(int(b) for b in topo.deenergized_buses),
            "feeder_heads": {str(int(h)): len(b) for h, b in topo.feeders().items()},
            "switches": [
                {
                    "switch_id": int(i),
                    "bus": int(s.bus),
                    "element": int(s.element),
                    "et": str(s.et),
                    "closed": bool(s.closed),
                }
                for i, s in switches.iterrows()
            ],
        }


def versions(session: Session, row: FeederRow) -> list[FeederVersionRow]:
    """The topology history of a feeder, oldest first."""
    return list(
        session.scalars(
            select(FeederVersionRow)
            .where(FeederVersionRow.feeder_id == row.id)
            .order_by(FeederVersionRow.version)
        )
    )


def operate_switch(
    session: Session,
    models: FeederModels,
    actor: Principal,
    name: str,
    switch_id: int,
    *,
    closed: bool,
    expected_version: int | None,
) -> tuple[FeederRow, bool]:
    """Open or close a switch (the ADMS's switching); return the feeder and whether it
    changed.

    A switch already in the requested state changes nothing (no new version) but is audited.
    Only one topology change per feeder runs at a time.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder or switch.
    ConflictError
        ``expected_version`` is not the current version, or another change is in progress.
    """
    with models.exclusive(name, "the switching"):
        row = feeder_by_name(session, name, for_update=True)
        if expected_version is not None and expected_version != row.version:
            raise ConflictError(
                f"feeder '{name}' is at version {row.version}, not the expected "
                f"{expected_version}; reload its topology"
            )
        key = str(switch_id)
        if key not in row.switch_closed:
            raise RecordNotFoundError("switch", switch_id)
        before = {"version": row.version, "closed": row.switch_closed[key]}
        action = "switch.close" if closed else "switch.open"
        changed = row.switch_closed[key] != closed
        switched: Feeder | None = None
        if changed:
            with models.lock(name):
                switched = models.model(row)
                (switched.close_switch if closed else switched.open_switch)(switch_id)
            states = {**row.switch_closed, key: closed}
            row.switch_closed = states
            row.version += 1
            session.add(
                FeederVersionRow(
                    feeder_id=row.id,
                    version=row.version,
                    change={"action": action, "switch_id": switch_id},
                    switch_closed=states,
                    actor=actor.name,
                )
            )
        add_audit(
            session,
            actor=actor.name,
            role=actor.role,
            action=action,
            target_type="feeder",
            target_id=f"{name}/switch/{switch_id}",
            before=before,
            after={"version": row.version, "closed": closed},
        )
        try:
            session.commit()
        except Exception:
            models.forget(name)
            raise
        if switched is not None:
            with models.lock(name):
                models.model_version_is(name, row.version, switched)
        return row, changed


def set_location(
    session: Session,
    models: FeederModels,
    feeder_name: str,
    location: Mapping[str, object],
    actor: Principal,
) -> FeederLocation:
    """Set where feeder ``feeder_name`` is and its time zone (the user's location, replacing
    what its model, its built-in region or the default gives), audited as
    ``feeder.location``; every later power flow, dispatch and study uses it. Returns the
    location set.

    Parameters
    ----------
    location : mapping
        ``latitude_deg`` [degrees north], ``longitude_deg`` [degrees east], ``tz`` (IANA time
        zone) and optionally ``altitude_m`` [m] (default 0 m); see :func:`location_input`.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    FeederLocationError
        An incomplete or invalid location (the field and value named).
    """
    row = feeder_by_name(session, feeder_name)
    new = location_input(location)
    if new is None:
        raise FeederLocationError(
            f"a feeder location needs {', '.join(REQUIRED_LOCATION_FIELDS)}; none given"
        )
    before = models.location(row)
    _store_location(row, new)
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action="feeder.location",
        target_type="feeder",
        target_id=feeder_name,
        before=before.to_dict(),
        after=new.to_dict(),
    )
    session.commit()
    models.refresh_location(row)
    return new


def reset_location(
    session: Session, models: FeederModels, feeder_name: str, actor: Principal
) -> FeederLocation:
    """Drop the user's location of feeder ``feeder_name``: it is located by its model, its
    built-in region or the default again (returned), audited as ``feeder.location_reset``
    (also when no location was set).

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    """
    row = feeder_by_name(session, feeder_name)
    before = models.location(row)
    _store_location(row, None)
    after = models.location(row)
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action="feeder.location_reset",
        target_type="feeder",
        target_id=feeder_name,
        before=before.to_dict(),
        after=after.to_dict(),
    )
    session.commit()
    models.refresh_location(row)
    return after


def set_mode(session: Session, actor: Principal, name: str, mode: str) -> FeederRow:
    """Set the operating mode (``manual``: schedules wait for approval; ``automatic``: an
    AC-feasible schedule activates at once)."""
    row = feeder_by_name(session, name)
    before = {"operating_mode": row.operating_mode}
    row.operating_mode = mode
    add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action="feeder.mode",
        target_type="feeder",
        target_id=name,
        before=before,
        after={"operating_mode": mode},
    )
    session.commit()
    return row
