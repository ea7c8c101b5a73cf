"""The application's routes for the middleware: path templates and allowed methods.

:class:`RouteTable` finds the route template of a request (for the refusal audit) and every
method its path allows; :class:`AllowMiddleware` answers ``OPTIONS`` with ``204`` and an
``Allow`` header listing every method of the path (from all the routes of the application, not
only the first that matched), and puts the same complete list on every ``405``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: order of the methods in an ``Allow`` header
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class RouteTable:
    """The application's routes, flattened (with their full path templates), to find the
    template of a request and every method its path allows."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._routes: list[Any] | None = None
        self._paths: dict[int, str] = {}

    def _flat(self) -> list[Any]:
        if self._routes is None:
            try:
                from fastapi.routing import iter_route_contexts
            except ImportError:  # FastAPI that still copies included routes
                routes: list[Any] = list(self._app.routes)
            else:
                routes = list(iter_route_contexts(self._app.routes))
            self._paths = {
                id(getattr(route, "original_route", route)): str(route.path)
                for route in reversed(routes)
                if getattr(route, "path", None)
            }
            self._routes = routes
        return self._routes

    def _matching(self, scope: Scope) -> list[tuple[Match, Any]]:
        found = []
        for route in self._flat():
            if getattr(route, "methods", None) is None:
                continue
            match, _ = route.matches(dict(scope))
            if match != Match.NONE:
                found.append((match, route))
        return found

    def template(self, scope: Scope) -> str:
        """The path template of the route serving the request (``unmatched`` for none)."""
        self._flat()
        routed = scope.get("route")
        if routed is not None and id(routed) in self._paths:
            return self._paths[id(routed)]
        matching = self._matching(scope)
        for match, route in matching:
            if match == Match.FULL:
                return str(route.path)
        return str(matching[0][1].path) if matching else "unmatched"

    def allowed(self, scope: Scope) -> list[str]:
        """Every method the request's path allows (with ``OPTIONS``), in a fixed order;
        empty for a path no route serves."""
        methods: set[str] = set()
        for _, route in self._matching(scope):
            methods.update(route.methods)
        if not methods:
            return []
        methods.add("OPTIONS")
        known = [method for method in _METHOD_ORDER if method in methods]
        return known + sorted(methods.difference(_METHOD_ORDER))


class AllowMiddleware:
    """``OPTIONS`` -> ``204`` with the path's complete ``Allow``; the same ``Allow`` on every
    ``405`` (which the router gives with the methods of one route only)."""

    def __init__(self, app: ASGIApp, routes: RouteTable) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``OPTIONS``; complete ``Allow`` on ``405``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            allowed = self.routes.allowed(scope)
            if allowed:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", ", ".join(allowed).encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allowed = self.routes.allowed(scope)
                if allowed:
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() != b"allow"
                    ]
                    headers.append((b"allow", ", ".join(allowed).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
