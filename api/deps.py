"""Request dependencies (``Annotated`` aliases): database session, feeder models, settings,
and the caller's role.

Authentication: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. Missing, unknown or
revoked key -> 401 (audited as ``refused``); a role that may not call the route -> 403
(audited as ``denied`` for a change). The dependencies only note on the request who called
and why it is refused; :class:`api.guards.RefusalAuditMiddleware` writes the aggregated audit
rows. Keys never appear in logs or audit rows: only the key's name does (for an unknown key, a
prefix of its SHA-256).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.caller import note_principal, note_refusal
from gridderms.persistence.api_keys import revoked_api_key_by_secret
from gridderms.service.auth import authenticate
from gridderms.service.dispatch_runs import DispatchJobs
from gridderms.service.feeder_models import FeederModels
from gridderms.service.principals import Principal, Role
from gridderms.service.settings import ServiceSettings

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request."""
    with request.app.state.sessions() as session:
        yield session


def get_models(request: Request) -> FeederModels:
    """The in-memory feeder models."""
    models: FeederModels = request.app.state.models
    return models


def get_settings(request: Request) -> ServiceSettings:
    """The service settings."""
    settings: ServiceSettings = request.app.state.settings
    return settings


def get_jobs(request: Request) -> DispatchJobs:
    """The dispatch job runner."""
    jobs: DispatchJobs = request.app.state.jobs
    return jobs


SessionDep = Annotated[Session, Depends(get_session)]
ModelsDep = Annotated[FeederModels, Depends(get_models)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
JobsDep = Annotated[DispatchJobs, Depends(get_jobs)]


def get_principal(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller (401 otherwise)."""
    key = api_key or (bearer.credentials if bearer else None)
    if not key:
        note_refusal(request.scope, "missing API key")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send X-API-Key or Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def load() -> Principal | None:
        with request.app.state.sessions() as session:
            return authenticate(session, key)

    principal = request.app.state.principals.get(key, load)
    if principal is None:
        with request.app.state.sessions() as session:
            revoked = revoked_api_key_by_secret(session, key)
        if revoked is not None:
            note_refusal(request.scope, "revoked API key", actor=revoked.name, role=revoked.role)
        else:
            note_refusal(request.scope, "unknown API key", key=key)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    note_principal(request.scope, principal)
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting callers with one of ``roles`` (``admin`` is always admitted)."""
    allowed: tuple[Role, ...] = roles

    def check(
        request: Request, principal: Annotated[Principal, Depends(get_principal)]
    ) -> Principal:
        if principal.may(allowed):
            return principal
        note_refusal(request.scope, f"role '{principal.role}' not admitted")
        needed = ", ".join(sorted({*allowed, "admin"}))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role '{principal.role}' may not {request.method} {request.url.path}; "
            f"needs one of: {needed}",
        )

    return check


Viewer = Annotated[Principal, Depends(require("viewer", "operator", "adms"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Adms = Annotated[Principal, Depends(require("adms"))]
OperatorOrAdms = Annotated[Principal, Depends(require("operator", "adms"))]
Admin = Annotated[Principal, Depends(require())]
