"""A feeder's network as the service shows and changes it: its description, its topology, its
topology history and the ADMS's switching (versioned, audited, exclusive per feeder).

The feeder row owns the switch states and the topology version: a switching changes the row
and brings the cached model to it (:meth:`network_models.feeder.Feeder.apply_switching`), in
one transaction with the history entry and the audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.feeders import add_version, feeder_by_name, versions_of
from gridderms.persistence.models import FeederRow, FeederVersionRow
from gridderms.service.audit_log import audit
from gridderms.service.errors import ConflictError
from gridderms.service.feeder_models import FeederModels
from gridderms.service.principals import Principal
from network_models.feeder import Feeder

T = TypeVar("T")


def read_model(models: FeederModels, row: FeederRow, view: Callable[[FeederRow, Feeder], T]) -> T:
    """``view(row, feeder)`` of the feeder's model at the row's version, read under the
    feeder's lock (so a concurrent switching never shows half-applied); the API's
    description and topology responses (:mod:`api.schemas.feeders`) are such views."""
    with models.lock(row.name):
        return view(row, models.model(row))


def versions(session: Session, row: FeederRow) -> list[FeederVersionRow]:
    """The topology history of a feeder, oldest first."""
    return versions_of(session, row)


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
                states = {**row.switch_closed, key: closed}
                switched.apply_switching(states, row.version + 1)
            row.switch_closed = states
            row.version += 1
            add_version(session, row, {"action": action, "switch_id": switch_id}, actor.name)
        audit(
            session,
            actor,
            action,
            ("feeder", f"{name}/switch/{switch_id}"),
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
