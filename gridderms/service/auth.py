"""API keys: random 256-bit tokens shown once (only their SHA-256 hash is stored), each with a
role (:mod:`gridderms.service.principals`); authentication with a short-lived cache of principals.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from gridderms.persistence.api_keys import (
    api_key_by_name,
    api_key_by_secret,
    hash_api_key,
    list_api_keys,
)
from gridderms.persistence.errors import DuplicateRowError, RecordNotFoundError, add_unique
from gridderms.persistence.models import ApiKeyRow, utcnow
from gridderms.service.audit_log import audit
from gridderms.service.errors import ConflictError
from gridderms.service.principals import ROLES, Principal, Role

KEY_PREFIX = "gdm_"




def generate_key() -> str:
    """A new random API key (``gdm_`` + 43 URL-safe characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def authenticate(session: Session, key: str) -> Principal | None:
    """The principal of ``key``, or ``None`` for an unknown or revoked key."""
    row = api_key_by_secret(session, key)
    if row is None or row.role not in ROLES:
        return None
    return Principal(row.name, row.role)


class PrincipalCache:
    """Principals of recently seen keys, for ``ttl_s`` [s], so that a request does not pay a
    database round trip to authenticate.

    A key revoked through this process is forgotten at once (:meth:`clear`), also when a
    request was loading it meanwhile (its load is not cached: it may have read the key before
    the revocation); one revoked through another service process stops working within
    ``ttl_s`` of the revocation. ``ttl_s`` 0 disables it. Keys are held by their SHA-256 hash,
    never in plain text.
    """

    #: entries held at most; past it the cache starts afresh
    MAX_ENTRIES = 10_000

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        #: replaced (never emptied) by :meth:`clear`, so that a load that began before a
        #: clear, holding the mapping it looked in, cannot cache into the new one
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key: str, load: Callable[[], Principal | None]) -> Principal | None:
        """The principal of ``key``: cached, or from ``load`` (an unknown key is not cached)."""
        if self._ttl_s <= 0:
            return load()
        digest = hash_api_key(key)
        now = time.monotonic()
        with self._lock:
            entries = self._entries
            entry = entries.get(digest)
        if entry is not None and entry[1] > now:
            return entry[0]
        principal = load()
        if principal is not None:
            with self._lock:
                if entries is not self._entries:
                    return principal  # a revocation landed while loading: do not keep it
                if len(entries) >= self.MAX_ENTRIES:
                    entries.clear()
                entries[digest] = (principal, now + self._ttl_s)
        return principal

    def clear(self) -> None:
        """Forget every cached key (after a revocation), and every load in progress."""
        with self._lock:
            self._entries = {}


def create_key(session: Session, actor: Principal, name: str, role: Role) -> tuple[ApiKeyRow, str]:
    """Create a key and return its row and the plain key (shown once, never stored).

    Raises
    ------
    ConflictError
        A key with that name exists.
    """
    plain = generate_key()
    row = ApiKeyRow(name=name, key_hash=hash_api_key(plain), prefix=plain[:8], role=role)
    try:
        add_unique(session, row)
    except DuplicateRowError:
        raise ConflictError(f"API key '{name}' already exists") from None
    audit(session, actor, "api_key.create", ("api_key", name), after=key_public(row))
    session.commit()
    return row, plain


def key_public(row: ApiKeyRow) -> dict[str, object]:
    """What may be shown of a key: never the hash or the key."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "role": row.role,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def list_keys(session: Session) -> list[ApiKeyRow]:
    """Every key, oldest first."""
    return list_api_keys(session)


def revoke_key(session: Session, actor: Principal, name: str) -> ApiKeyRow:
    """Revoke key ``name``.

    Raises
    ------
    RecordNotFoundError
    """
    row = api_key_by_name(session, name)
    if row is None:
        raise RecordNotFoundError("API key", name)
    before = key_public(row)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    audit(session, actor, "api_key.revoke", ("api_key", name), before=before, after=key_public(row))
    session.commit()
    return row
