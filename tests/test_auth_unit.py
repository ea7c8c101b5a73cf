"""API keys, roles and the request dependencies that check them, in process (no server): the
functions of :mod:`gridderms.service.auth` and the dependencies of :mod:`api.deps`, each
pinned by what it returns, stores and audits (``make mutate`` runs these against mutants of
both modules; tests/test_authorization.py checks every route over HTTP).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from api.caller import KEY_HASH_DIGITS, Caller, caller_of
from api.deps import (
    JobsDep,
    ModelsDep,
    SessionDep,
    SettingsDep,
    get_principal,
    require,
)
from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.models import ApiKeyRow, AuditRow, Base
from gridderms.service import auth
from gridderms.service.auth import (
    PrincipalCache,
    authenticate,
    create_key,
    generate_key,
    key_public,
    list_keys,
    revoke_key,
)
from gridderms.service.errors import ConflictError
from gridderms.service.principals import ROLES, SYSTEM, Principal

ADMIN = Principal("root-admin", "admin")


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh SQLite database with the service's tables."""
    engine = make_engine(f"sqlite:///{tmp_path / 'auth.db'}")
    Base.metadata.create_all(engine)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def _audit(session: Session) -> list[AuditRow]:
    return list(session.scalars(select(AuditRow).order_by(AuditRow.id)))


# -- roles --------------------------------------------------------------------------------------
def test_admin_holds_every_role_and_the_others_only_their_own() -> None:
    assert Principal("a", "admin").may(())
    assert Principal("a", "admin").may(("viewer",))
    assert Principal("v", "viewer").may(("viewer", "operator"))
    assert not Principal("v", "viewer").may(("operator", "adms"))
    assert not Principal("o", "operator").may(())
    assert not Principal("o", "operator").may(("adms",))
    assert Principal("o", "operator").may(("adms", "operator"))
    assert Principal("system", "admin") == SYSTEM
    assert ROLES == ("viewer", "operator", "adms", "admin")


def test_generated_keys_are_prefixed_random_and_url_safe() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    allowed = set(string.ascii_letters + string.digits + "-_")
    for key in keys:
        assert key.startswith("gdm_") and len(key) == 4 + 43
        assert set(key[4:]) <= allowed


# -- keys in the database -------------------------------------------------------------------------
def test_create_key_stores_only_the_hash_and_audits(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        row, plain = create_key(session, ADMIN, "ops-1", "operator")
        assert plain.startswith("gdm_")
        assert row.key_hash == hashlib.sha256(plain.encode()).hexdigest()
        assert (row.name, row.role, row.prefix, row.revoked_at) == (
            "ops-1",
            "operator",
            plain[:8],
            None,
        )
        public = key_public(row)
    with sessions() as session:  # committed
        (stored,) = session.scalars(select(ApiKeyRow))
        assert stored.key_hash == row.key_hash and plain not in repr(key_public(stored))
        (audit,) = _audit(session)
        assert (audit.actor, audit.role, audit.action, audit.outcome) == (
            "root-admin",
            "admin",
            "api_key.create",
            "ok",
        )
        assert (audit.target_type, audit.target_id) == ("api_key", "ops-1")
        assert audit.before is None and audit.after == public


def test_a_taken_name_is_a_conflict_and_the_session_goes_on(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        create_key(session, ADMIN, "dup", "viewer")
        with pytest.raises(ConflictError) as raised:
            create_key(session, ADMIN, "dup", "admin")
        assert str(raised.value) == "API key 'dup' already exists"
        assert raised.value.__cause__ is None and raised.value.__suppress_context__
        create_key(session, ADMIN, "other", "adms")  # rolled back, usable
    with sessions() as session:
        assert [(r.name, r.role) for r in list_keys(session)] == [
            ("dup", "viewer"),
            ("other", "adms"),
        ]
        assert [a.target_id for a in _audit(session)] == ["dup", "other"]


def test_key_public_shows_no_secret(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        row, plain = create_key(session, ADMIN, "shown", "viewer")
        assert row.created_at is not None
        assert key_public(row) == {
            "id": row.id,
            "name": "shown",
            "prefix": plain[:8],
            "role": "viewer",
            "created_at": row.created_at.isoformat(),
            "revoked_at": None,
        }
        revoked = revoke_key(session, ADMIN, "shown")
        assert revoked.revoked_at is not None
        assert key_public(revoked)["revoked_at"] == revoked.revoked_at.isoformat()
    unsaved = ApiKeyRow(name="n", key_hash="h", prefix="gdm_abcd", role="adms")
    assert key_public(unsaved) == {
        "id": None,
        "name": "n",
        "prefix": "gdm_abcd",
        "role": "adms",
        "created_at": None,
        "revoked_at": None,
    }


def test_keys_are_listed_oldest_first(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        for name in ("zulu", "alpha", "mike"):
            create_key(session, ADMIN, name, "viewer")
        # SQLite returns a SELECT without ORDER BY in reverse with this pragma: the order
        # must come from the query, not from the table
        session.execute(text("PRAGMA reverse_unordered_selects = ON"))
        assert [row.name for row in list_keys(session)] == ["zulu", "alpha", "mike"]


def test_authenticate_admits_live_keys_of_known_roles_only(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        _, plain = create_key(session, ADMIN, "live", "adms")
        _, gone = create_key(session, ADMIN, "gone", "admin")
        revoke_key(session, ADMIN, "gone")
        odd = generate_key()
        session.add(
            ApiKeyRow(name="odd", key_hash=auth.hash_api_key(odd), prefix=odd[:8], role="root")
        )
        session.commit()
    with sessions() as session:
        assert authenticate(session, plain) == Principal("live", "adms")
        assert authenticate(session, gone) is None
        assert authenticate(session, odd) is None
        assert authenticate(session, generate_key()) is None
        assert authenticate(session, plain + "x") is None


def test_revocation_is_audited_and_idempotent(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        create_key(session, ADMIN, "r", "operator")
        first = revoke_key(session, Principal("sec", "admin"), "r")
        revoked_at = first.revoked_at
        assert revoked_at is not None
        again = revoke_key(session, ADMIN, "r")
        assert again.revoked_at == revoked_at  # the first revocation stands
        with pytest.raises(RecordNotFoundError) as raised:
            revoke_key(session, ADMIN, "nobody")
        assert str(raised.value) == "API key 'nobody' not found"
    with sessions() as session:
        (stored,) = session.scalars(select(ApiKeyRow))
        assert stored.revoked_at is not None
        _, revoke, repeat = _audit(session)
        assert (revoke.actor, revoke.role, revoke.action) == ("sec", "admin", "api_key.revoke")
        assert (revoke.target_type, revoke.target_id) == ("api_key", "r")
        assert revoke.before["revoked_at"] is None
        assert revoke.after["revoked_at"] == revoked_at.isoformat()
        assert revoke.before["name"] == "r" and revoke.after["role"] == "operator"
        assert repeat.before["revoked_at"] == repeat.after["revoked_at"] is not None


# -- the principal cache ----------------------------------------------------------------------
class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock :mod:`gridderms.service.auth` reads."""
    fake = Clock()
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


class Loader:
    """A ``load`` callback counting its calls."""

    def __init__(self, principal: Principal | None, during: Callable[[], None] | None = None):
        self.principal = principal
        self.during = during
        self.calls = 0

    def __call__(self) -> Principal | None:
        self.calls += 1
        if self.during is not None:
            self.during()
        return self.principal


VIEWER = Principal("v", "viewer")


def test_cache_holds_a_key_for_ttl_seconds(clock: Clock) -> None:
    cache = PrincipalCache(5.0)
    load = Loader(VIEWER)
    assert cache.get("gdm_a", load) is VIEWER
    clock.now = 104.999
    assert cache.get("gdm_a", load) is VIEWER
    assert load.calls == 1
    clock.now = 105.0  # expired exactly at load time + ttl
    assert cache.get("gdm_a", load) is VIEWER
    assert load.calls == 2
    clock.now = 109.9
    assert cache.get("gdm_a", load) is VIEWER and load.calls == 2


def test_cache_of_zero_seconds_checks_every_time(clock: Clock) -> None:
    cache = PrincipalCache(0.0)
    load = Loader(VIEWER)
    for _ in range(3):
        assert cache.get("gdm_a", load) is VIEWER
    assert load.calls == 3
    assert auth.hash_api_key("gdm_a") not in repr(vars(cache))  # nothing held


def test_small_ttl_caches_for_that_long(clock: Clock) -> None:
    cache = PrincipalCache(0.5)
    load = Loader(VIEWER)
    cache.get("gdm_a", load)
    clock.now = 100.4
    cache.get("gdm_a", load)
    assert load.calls == 1
    clock.now = 100.5
    cache.get("gdm_a", load)
    assert load.calls == 2


def test_unknown_keys_are_not_cached_and_keys_are_apart(clock: Clock) -> None:
    cache = PrincipalCache(60.0)
    unknown = Loader(None)
    assert cache.get("gdm_nope", unknown) is None
    assert cache.get("gdm_nope", unknown) is None
    assert unknown.calls == 2
    other = Principal("o", "operator")
    assert cache.get("gdm_a", Loader(VIEWER)) is VIEWER
    assert cache.get("gdm_b", Loader(other)) is other
    assert cache.get("gdm_a", Loader(other)) is VIEWER


def test_cache_holds_hashes_not_keys(clock: Clock) -> None:
    cache = PrincipalCache(60.0)
    cache.get("gdm_secret", Loader(VIEWER))
    assert "gdm_secret" not in repr(vars(cache))
    assert auth.hash_api_key("gdm_secret") in repr(vars(cache))


def test_clear_forgets_every_key(clock: Clock) -> None:
    cache = PrincipalCache(60.0)
    load = Loader(VIEWER)
    cache.get("gdm_a", load)
    cache.clear()
    cache.get("gdm_a", load)
    assert load.calls == 2
    cache.get("gdm_a", load)
    assert load.calls == 2


def test_a_revocation_during_a_load_is_not_undone_by_it(clock: Clock) -> None:
    """A request reads the key just before another one revokes it and clears the cache:
    the principal it read must not be cached after the clear."""
    cache = PrincipalCache(60.0)
    racing = Loader(VIEWER, during=cache.clear)
    assert cache.get("gdm_a", racing) is VIEWER  # that request still passes
    later = Loader(None)  # revoked in the database
    assert cache.get("gdm_a", later) is None
    assert later.calls == 1
    steady = Loader(VIEWER)  # loads after the clear are cached again
    cache.get("gdm_b", steady)
    cache.get("gdm_b", steady)
    assert steady.calls == 1


def test_cache_starts_afresh_past_its_size(clock: Clock) -> None:
    cache = PrincipalCache(60.0)
    first = Loader(VIEWER)
    cache.get("gdm_0", first)
    for i in range(1, PrincipalCache.MAX_ENTRIES):
        cache.get(f"gdm_{i}", Loader(VIEWER))
    cache.get("gdm_0", first)
    assert first.calls == 1  # MAX_ENTRIES keys fit
    cache.get("gdm_overflow", Loader(VIEWER))
    cache.get("gdm_0", first)
    assert first.calls == 2  # one more started the cache afresh
    assert PrincipalCache.MAX_ENTRIES == 10_000


# -- the request dependencies -----------------------------------------------------------------
ACCESS: dict[str, tuple[Any, ...]] = {
    "viewer": ("viewer", "operator", "adms"),
    "operator": ("operator",),
    "adms": ("adms",),
    "operator-adms": ("operator", "adms"),
    "admin": (),
}
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]


def _route(app: FastAPI, path: str, roles: tuple[Any, ...]) -> None:
    dependency = require(*roles)  # built now, so that a mutant of require is the one used

    # a default, not an annotation: the annotations of this module are strings, and a string
    # cannot name the local ``dependency``
    @app.api_route(path, methods=METHODS)
    def handler(principal: Principal = Depends(dependency)) -> dict[str, str]:  # noqa: B008
        return {"name": principal.name, "role": principal.role}


@pytest.fixture
def served(sessions: sessionmaker[Session]) -> Iterator[tuple[TestClient, dict[str, str], Any]]:
    """A small app guarded by the dependencies, one key per role, and its state."""
    app = FastAPI()
    app.state.sessions = sessions
    app.state.principals = PrincipalCache(60.0)
    app.state.models = object()
    app.state.settings = "settings"
    app.state.jobs = ["jobs"]
    for name, roles in ACCESS.items():
        _route(app, f"/{name}", roles)

    @app.get("/state")
    def state(
        principal: Annotated[Principal, Depends(get_principal)],
        session: SessionDep,
        models: ModelsDep,
        settings: SettingsDep,
        jobs: JobsDep,
    ) -> dict[str, Any]:
        return {
            "caller": principal.name,
            "keys": len(list_keys(session)),
            "models": models is app.state.models,
            "settings": settings,
            "jobs": jobs,
        }

    notes: list[Caller] = []

    class Notes:
        """Keeps what the dependencies noted on each request (for the audit middleware)."""

        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await self.inner(scope, receive, send)
            notes.append(replace(caller_of(scope)))

    app.add_middleware(Notes)
    app.state.notes = notes
    keys = {}
    with sessions() as session:
        for role in ROLES:
            _, keys[role] = create_key(session, SYSTEM, f"k-{role}", role)
    with TestClient(app) as client:
        yield client, keys, app.state


def test_missing_unknown_and_revoked_keys_are_401(
    served: tuple[TestClient, dict[str, str], Any], sessions: sessionmaker[Session]
) -> None:
    client, keys, _ = served
    missing = client.get("/viewer")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "missing API key: send X-API-Key or Authorization: Bearer"}
    assert missing.headers["www-authenticate"] == "Bearer"
    for headers in (
        {"X-API-Key": ""},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {keys['admin']}"},
    ):
        assert client.get("/viewer", headers=headers).status_code == 401, headers
    unknown = client.get("/viewer", headers={"X-API-Key": generate_key()})
    assert unknown.status_code == 401
    assert unknown.json() == {"detail": "unknown or revoked API key"}
    assert unknown.headers["www-authenticate"] == "Bearer"
    with sessions() as session:
        revoke_key(session, ADMIN, "k-admin")
    revoked = client.get("/viewer", headers={"X-API-Key": keys["admin"]})
    assert revoked.status_code == 401
    assert revoked.json() == {"detail": "unknown or revoked API key"}


def test_header_and_bearer_carry_the_key_and_the_header_wins(
    served: tuple[TestClient, dict[str, str], Any],
) -> None:
    client, keys, _ = served
    header = client.get("/admin", headers={"X-API-Key": keys["admin"]})
    assert header.json() == {"name": "k-admin", "role": "admin"}
    bearer = client.get("/admin", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert bearer.json() == {"name": "k-admin", "role": "admin"}
    both = client.get(
        "/state",
        headers={"X-API-Key": keys["viewer"], "Authorization": f"Bearer {keys['admin']}"},
    )
    assert both.json()["caller"] == "k-viewer"
    unknown_header = client.get(
        "/admin",
        headers={"X-API-Key": generate_key(), "Authorization": f"Bearer {keys['admin']}"},
    )
    assert unknown_header.status_code == 401


def test_each_role_is_admitted_exactly_where_allowed(
    served: tuple[TestClient, dict[str, str], Any],
) -> None:
    client, keys, _ = served
    for path, roles in ACCESS.items():
        for role in ROLES:
            for method in METHODS:
                response = client.request(method, f"/{path}", headers={"X-API-Key": keys[role]})
                admitted = role == "admin" or role in roles
                assert response.status_code == (200 if admitted else 403), (method, path, role)
                if method != "HEAD":
                    body = response.json()
                    if admitted:
                        assert body == {"name": f"k-{role}", "role": role}
                    else:
                        needed = ", ".join(sorted({*roles, "admin"}))
                        assert body == {
                            "detail": f"role '{role}' may not {method} /{path}; "
                            f"needs one of: {needed}"
                        }


def test_keys_are_checked_through_the_process_cache(
    served: tuple[TestClient, dict[str, str], Any], sessions: sessionmaker[Session]
) -> None:
    client, keys, state = served
    headers = {"X-API-Key": keys["operator"]}
    assert client.get("/operator", headers=headers).status_code == 200
    with sessions() as session:  # revoked by "another process": this one trusts its cache
        revoke_key(session, ADMIN, "k-operator")
    assert client.get("/operator", headers=headers).status_code == 200
    state.principals.clear()
    assert client.get("/operator", headers=headers).status_code == 401


def test_session_models_settings_and_jobs_come_from_the_app_state(
    served: tuple[TestClient, dict[str, str], Any],
) -> None:
    client, keys, _ = served
    response = client.get("/state", headers={"X-API-Key": keys["viewer"]})
    assert response.json() == {
        "caller": "k-viewer",
        "keys": 4,
        "models": True,
        "settings": "settings",
        "jobs": ["jobs"],
    }


def test_each_refusal_is_noted_for_the_audit_with_its_reason(
    served: tuple[TestClient, dict[str, str], Any], sessions: sessionmaker[Session]
) -> None:
    """What the dependencies note on the request for the refusal audit (api/caller.py)."""
    client, keys, state = served
    unknown = generate_key()
    with sessions() as session:
        revoke_key(session, ADMIN, "k-adms")
    state.principals.clear()
    calls: list[tuple[dict[str, str], str, Caller]] = [
        ({}, "/viewer", Caller(reason="missing API key")),
        (
            {"X-API-Key": unknown},
            "/viewer",
            Caller(
                reason="unknown API key",
                key_hash=auth.hash_api_key(unknown)[:KEY_HASH_DIGITS],
            ),
        ),
        (
            {"X-API-Key": keys["adms"]},
            "/viewer",
            Caller(actor="k-adms", role="adms", reason="revoked API key"),
        ),
        (
            {"X-API-Key": keys["viewer"]},
            "/operator",
            Caller(actor="k-viewer", role="viewer", reason="role 'viewer' not admitted"),
        ),
        ({"X-API-Key": keys["operator"]}, "/operator", Caller(actor="k-operator", role="operator")),
    ]
    for headers, path, expected in calls:
        state.notes.clear()
        client.post(path, headers=headers)
        assert state.notes == [expected], (headers, path)
