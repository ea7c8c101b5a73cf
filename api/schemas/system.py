"""Response models of the service itself: health, readiness, errors, the audit trail and API
keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from api.schemas import Public


class HealthPublic(Public):
    """Liveness: the process answers."""

    status: Literal["ok"]


class ReadinessPublic(Public):
    """Readiness: the database answers and is migrated to the revision the code needs."""

    status: Literal["ready", "not_ready"]
    database: str
    revision: str | None
    required_revision: str
    detail: str | None = None


class ErrorPublic(Public):
    """An error: ``detail`` is the message (names the id involved)."""

    detail: str


class AuditPublic(Public):
    """One audit row."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target_type: str
    target_id: str
    before: Any
    after: Any
    outcome: str


class ApiKeyPublic(Public):
    """An API key, without the key."""

    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreatedPublic(ApiKeyPublic):
    """A new API key: ``key`` is shown only in this response."""

    key: str
