"""Queries of API keys: by secret (only the SHA-256 hash is stored), by name, the list."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridderms.persistence.models import ApiKeyRow


def hash_api_key(key: str) -> str:
    """SHA-256 hex digest of an API key (keys are 256-bit random tokens, so a fast hash is
    enough: there is nothing to brute-force)."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_by_secret(session: Session, key: str) -> ApiKeyRow | None:
    """The unrevoked key whose hash matches ``key``."""
    return session.scalars(
        select(ApiKeyRow).where(
            ApiKeyRow.key_hash == hash_api_key(key), ApiKeyRow.revoked_at.is_(None)
        )
    ).one_or_none()


def revoked_api_key_by_secret(session: Session, key: str) -> ApiKeyRow | None:
    """The revoked key whose hash matches ``key`` (to name it in the audit of a refusal)."""
    return session.scalars(
        select(ApiKeyRow).where(
            ApiKeyRow.key_hash == hash_api_key(key), ApiKeyRow.revoked_at.is_not(None)
        )
    ).one_or_none()


def api_key_by_name(session: Session, name: str) -> ApiKeyRow | None:
    """The key called ``name``, revoked or not."""
    return session.scalars(select(ApiKeyRow).where(ApiKeyRow.name == name)).one_or_none()


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    """Every key, oldest first."""
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)))
