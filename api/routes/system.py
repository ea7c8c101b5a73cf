"""Health, readiness and metrics (no authentication: for load balancers and Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from api.schemas.system import HealthPublic, ReadinessPublic
from gridderms.persistence.database import display_url
from gridderms.persistence.migrate import current_revision, head_revision
from gridderms.service.overview import overview

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    """Liveness: the process answers."""
    return HealthPublic(status="ok")


@router.get(
    "/ready",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "Database down or unmigrated"}},
)
def ready(request: Request) -> Response:
    """Readiness: the database answers and is at the migration revision this code needs."""
    engine = request.app.state.engine
    needed = head_revision()
    try:
        found = current_revision(engine)
    except Exception as exc:
        body = ReadinessPublic(
            status="not_ready",
            database=display_url(engine),
            revision=None,
            required_revision=needed,
            detail=f"database unreachable: {type(exc).__name__}",
        )
        return JSONResponse(body.model_dump(), status_code=503)
    ok = found == needed
    body = ReadinessPublic(
        status="ready" if ok else "not_ready",
        database=display_url(engine),
        revision=found,
        required_revision=needed,
        detail=None if ok else "database not migrated: run `gridderms-service migrate`",
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> PlainTextResponse:
    """Metrics in the Prometheus text exposition format."""
    gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] = {}
    with request.app.state.sessions() as session:
        now = overview(session)
    gauges["gridderms_feeders_loaded"] = (
        "Feeders loaded in the service.",
        {(): float(now.feeders)},
    )
    gauges["gridderms_dispatch_runs"] = (
        "Dispatch runs by status.",
        {(("status", str(s)),): float(n) for s, n in now.runs.items()},
    )
    gauges["gridderms_active_alarms"] = (
        "Active (not cleared) alarms by feeder and severity.",
        {(("feeder", f), ("severity", sev)): float(n) for (f, sev), n in now.alarms.items()},
    )
    text = request.app.state.metrics.render(gauges)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")
