"""The in-memory pandapower models of the stored feeders, one lock per feeder.

The database row is the truth (source, switch states, version, the location the user set):
:class:`FeederModels` builds each model from the row's source and brings it to the row's switch
states and version through :meth:`network_models.feeder.Feeder.apply_switching`, again
whenever the stored version differs from the cached one (e.g. after a restart or a switching
through another service instance). The location is applied every time a model is handed out,
so a change made through any service instance counts at once.
"""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import object_session

from gridderms.persistence.feeders import file_of
from gridderms.persistence.models import FeederFileRow, FeederRow
from gridderms.service.errors import ConflictError
from gridderms.service.feeder_location import user_location
from network_models.feeder import Feeder
from network_models.loaders import load_feeder
from network_models.location import FeederLocation, default_location_note
from network_models.model_cache import ModelCache

UPLOAD_PREFIX = "upload:"
#: binary upload formats: stored base64-encoded in the text column ``FeederFileRow.content``
BINARY_FORMATS = frozenset({"matpower-mat"})


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
        feeder.apply_switching(row.switch_closed, row.version)
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
            stored = file_of(session, row)
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
            return replace(
                feeder, net=copy.deepcopy(feeder.net), _topology=None, model_cache=ModelCache()
            )

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


def stored_file_bytes(stored: FeederFileRow) -> bytes:
    """The bytes of an uploaded file as it was uploaded: ``content`` decoded from base64 for a
    binary format (:data:`BINARY_FORMATS`), from UTF-8 text otherwise."""
    if stored.format in BINARY_FORMATS:
        return base64.b64decode(stored.content.encode("ascii"), validate=True)
    return stored.content.encode("utf-8")
