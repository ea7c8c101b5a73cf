"""The FastAPI application: ``create_app()`` (``uvicorn api.app:create_app --factory``).

At start-up the service refuses an unmigrated database (:class:`DatabaseNotMigratedError`,
the message says which command fixes it), marks dispatch runs interrupted by a previous stop
as failed (audited) and starts the background job runner. Refused requests are audited,
``OPTIONS`` and ``405`` answer the complete ``Allow`` and API keys in query strings are
refused and kept out of the access log (:mod:`api.guards`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.body import add_body_schemas
from api.guards import install_guards
from api.metrics import Metrics
from api.routes import (
    admin,
    alarms,
    der_groups,
    ders,
    dispatch,
    feeders,
    hosting_capacity,
    system,
    telemetry,
)
from gridderms.persistence.database import display_url, make_engine, session_factory
from gridderms.persistence.migrate import check_migrated
from gridderms.service.auth import PrincipalCache
from gridderms.service.budget import WorkTooLargeError
from gridderms.service.dispatch_runs import DispatchJobs, fail_interrupted_runs
from gridderms.service.errors import ConflictError, InvalidRequestError, NotFoundError
from gridderms.service.feeder_models import FeederModels
from gridderms.service.hosting_capacity import HostingCapacityJobs
from gridderms.service.hosting_capacity import fail_interrupted_runs as fail_interrupted_studies
from gridderms.service.settings import ServiceSettings

logger = logging.getLogger("gridderms.api")

API_PREFIX = "/api/v1"
_ERROR = {"model": None, "description": "Error with a `detail` message"}


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment)."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        try:
            revision = check_migrated(engine)
        except Exception:
            engine.dispose()
            raise
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.models = FeederModels(settings.cache_dir)
        app.state.jobs = DispatchJobs(
            app.state.sessions,
            app.state.models,
            settings.operating_limits(),
            settings.dispatch_workers,
            settings.telemetry_max_age_s,
        )
        app.state.hosting_jobs = HostingCapacityJobs(
            app.state.sessions, app.state.models, settings.operating_limits()
        )
        with app.state.sessions() as session:
            interrupted = fail_interrupted_runs(session) + fail_interrupted_studies(session)
        logger.info(
            "gridderms service ready: database %s at revision %s (%d interrupted jobs failed)",
            display_url(engine),
            revision,
            interrupted,
        )
        await app.state.refusals.start(app.state.sessions)
        try:
            yield
        finally:
            await app.state.refusals.stop()
            app.state.jobs.shutdown()
            app.state.hosting_jobs.shutdown()
            engine.dispose()

    app = FastAPI(
        title="gridderms dispatch service",
        version="1",
        summary="Grid DERMS API for the ADMS and the control room",
        description=(
            "Feeders, DERs, telemetry, power flow and network-constrained dispatch. "
            "Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>`. Roles: "
            "viewer (read), operator (overrides, lock-outs, modes, approvals), adms (dispatch, "
            "switching, DERs, telemetry), admin (everything, feeders and keys)."
        ),
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        responses={
            401: {"description": "Missing or unknown API key"},
            403: {"description": "The key's role may not call this route"},
            413: {"description": "Request body too large (the limit is named)"},
            422: {"description": "Invalid request (strict validation)"},
        },
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.principals = PrincipalCache(settings.auth_cache_s)
    for module in (
        system,
        feeders,
        ders,
        der_groups,
        telemetry,
        dispatch,
        hosting_capacity,
        alarms,
        admin,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    _install_error_handlers(app)
    app.state.refusals = install_guards(app, settings.audit_refusal_window_s)
    _install_metrics(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            from api.links import add_links  # the links between creations and their resources

            app.openapi_schema = add_links(_document_not_found(add_body_schemas(schema)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _document_not_found(openapi: dict[str, Any]) -> dict[str, Any]:
    """Document 404 on every operation with a path parameter (an unknown id is 404 naming
    it) unless the route describes its own."""
    for path, operations in openapi.get("paths", {}).items():
        if "{" not in path:
            continue
        for operation in operations.values():
            operation.setdefault("responses", {}).setdefault(
                "404", {"description": "Unknown id (the message names it)"}
            )
    return openapi


def _detail(code: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=code)


def _install_error_handlers(app: FastAPI) -> None:
    async def not_found(_: Request, exc: Exception) -> Response:
        return _detail(status.HTTP_404_NOT_FOUND, str(exc))

    async def conflict(_: Request, exc: Exception) -> Response:
        return _detail(status.HTTP_409_CONFLICT, str(exc))

    async def invalid(_: Request, exc: Exception) -> Response:
        return _detail(status.HTTP_400_BAD_REQUEST, str(exc))

    async def validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {k: v for k, v in error.items() if k in ("loc", "msg", "type")}
            for error in exc.errors()
        ]
        return JSONResponse(
            {"detail": jsonable_encoder(errors)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )

    async def too_large(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, WorkTooLargeError)  # a cap of gridderms.service.budget
        error = {"loc": ["body", exc.field], "msg": str(exc), "type": "work_too_large"}
        return JSONResponse({"detail": [error]}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    app.add_exception_handler(NotFoundError, not_found)
    app.add_exception_handler(ConflictError, conflict)
    app.add_exception_handler(InvalidRequestError, invalid)
    app.add_exception_handler(WorkTooLargeError, too_large)
    app.add_exception_handler(RequestValidationError, validation)


class MetricsMiddleware:
    """Pure ASGI middleware recording each HTTP request's method, route template, status and
    latency (not ``BaseHTTPMiddleware``, which costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; observe it when the response has started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is None:
                template = "unmatched"
            elif not template.startswith(API_PREFIX):
                template = API_PREFIX + template
            self.metrics.observe(
                scope["method"], template, status_code, time.perf_counter() - start
            )


def _install_metrics(app: FastAPI) -> None:
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
