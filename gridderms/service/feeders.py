"""Feeders in the service: loading built-ins and uploaded files (their DERs registered), the
list and summary of loaded feeders, whether a dispatch or a study may be requested on one now,
and where each feeder is.

The database is the truth (source, switch states, version, the location the user set); the
in-memory models are :class:`~gridderms.service.feeder_models.FeederModels`; a feeder's network
and switching are :mod:`gridderms.service.feeder_topology`.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session

from gridderms.ders import DerError, ders_from_net
from gridderms.persistence import feeders as persisted
from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.feeders import add_version, feeder_by_name, feeder_name_taken
from gridderms.persistence.models import FeederFileRow, FeederRow
from gridderms.service.audit_log import audit
from gridderms.service.ders import new_row
from gridderms.service.errors import ConflictError
from gridderms.service.feeder_location import (
    REQUIRED_LOCATION_FIELDS,
    FeederLocationError,
    location_input,
    store_location,
)
from gridderms.service.feeder_models import (
    BINARY_FORMATS,
    UPLOAD_PREFIX,
    FeederModels,
    switch_states,
)
from gridderms.service.principals import Principal
from network_models.builtin import BUILTIN_FEEDERS, BuiltinFeeder
from network_models.errors import FeederError
from network_models.feeder import Feeder
from network_models.loaders import load_feeder
from network_models.location import FeederLocation

UploadFormat = Literal["pandapower-json", "matpower", "matpower-mat"]
#: file suffix per upload format (what :func:`network_models.loaders.read_feeder_file` reads)
UPLOAD_SUFFIX: dict[str, str] = {
    "pandapower-json": ".json",
    "matpower": ".m",
    "matpower-mat": ".mat",
}


class FeederUploadError(ValueError):
    """An uploaded feeder file cannot be read or fails validation; ``str()`` names the
    problem (the loader's message, with the temporary file name replaced by the upload's)."""


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


def list_builtins() -> list[BuiltinFeeder]:
    """Every built-in feeder (name, description, reference)."""
    return list(BUILTIN_FEEDERS.values())


def list_feeders(session: Session) -> list[FeederRow]:
    """Every loaded feeder, oldest first."""
    return persisted.list_feeders(session)


def get(session: Session, name: str) -> FeederRow:
    """Feeder ``name``.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    """
    return feeder_by_name(session, name)


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
    if feeder_name_taken(session, name):
        raise ConflictError(f"feeder '{name}' is already loaded")


def _register(
    session: Session,
    models: FeederModels,
    actor: Principal,
    name: str,
    source: str,
    feeder: Feeder,
    action: str,
    details: dict[str, Any],
    file: FeederFileRow | None = None,
    location: FeederLocation | None = None,
) -> FeederRow:
    """Store ``feeder`` as ``name`` at version 0 with its DERs (its uploaded file, the
    location the user gave), audited as ``action``; one transaction."""
    states = switch_states(feeder)
    row = FeederRow(
        name=name, source=source, version=0, operating_mode="manual", switch_closed=states
    )
    store_location(row, location)
    if location is not None:
        details = {**details, "location": location.to_dict()}
    session.add(row)
    session.flush()
    add_version(session, row, {"action": "load", "source": source}, actor.name)
    if file is not None:
        file.feeder_id = row.id
        session.add(file)
    records = ders_from_net(feeder.net)
    session.add_all(new_row(row.id, record) for record in records)
    audit(
        session,
        actor,
        action,
        ("feeder", name),
        after={"source": source, "version": 0, "ders": len(records), **details},
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
    return _relocate(session, models, row, new, actor, "feeder.location")


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
    return _relocate(session, models, row, None, actor, "feeder.location_reset")


def _relocate(
    session: Session,
    models: FeederModels,
    row: FeederRow,
    location: FeederLocation | None,
    actor: Principal,
    action: str,
) -> FeederLocation:
    """Store the user's ``location`` of feeder ``row`` (``None``: drop it), audited as
    ``action`` with the effective location before and after; return the one after (the one
    given, or without it what the model, its built-in region or the default gives)."""
    before = models.location(row)
    store_location(row, location)
    after = models.location(row) if location is None else location
    audit(session, actor, action, ("feeder", row.name), before.to_dict(), after.to_dict())
    session.commit()
    models.refresh_location(row)
    return after
