"""What the authentication dependencies note on a request for the refusal audit.

:func:`note_principal` records the authenticated caller, :func:`note_refusal` why a request is
refused; :class:`api.refusal_audit.RefusalAuditMiddleware` reads the note (:func:`caller_of`)
when it audits a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from gridderms.persistence.api_keys import hash_api_key
from gridderms.service.principals import Principal

#: scope key of what the authentication dependencies learnt about a request
_SCOPE_KEY = "gridderms.caller"
#: hex digits of an unknown key's SHA-256 kept in the audit
KEY_HASH_DIGITS = 12


@dataclass
class Caller:
    """Who sent a request, as far as authentication found out, and why it was refused."""

    actor: str | None = None
    role: str | None = None
    reason: str | None = None
    key_hash: str | None = None


def caller_of(scope: Scope) -> Caller:
    """The :class:`Caller` note of a request (created empty on first use)."""
    note = scope.get(_SCOPE_KEY)
    if not isinstance(note, Caller):
        note = scope[_SCOPE_KEY] = Caller()
    return note


def note_principal(scope: Scope, principal: Principal) -> None:
    """Record the authenticated caller of a request."""
    note = caller_of(scope)
    note.actor, note.role = principal.name, principal.role


def note_refusal(
    scope: Scope,
    reason: str,
    *,
    actor: str | None = None,
    role: str | None = None,
    key: str | None = None,
) -> None:
    """Record why a request is refused; ``actor``/``role`` name a known (revoked) key, ``key``
    an unknown one (only a prefix of its hash is kept)."""
    note = caller_of(scope)
    note.reason = reason
    if actor is not None:
        note.actor, note.role = actor, role
    if key:
        note.key_hash = hash_api_key(key)[:KEY_HASH_DIGITS]
