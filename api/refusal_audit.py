"""The aggregated audit of refused requests.

:class:`RefusalAuditMiddleware` audits refused requests - 401 (missing, unknown or revoked key,
key in the query string), 403 (the role is not admitted; changes only: reads are not audited)
and 400/413/422 (invalid request) - through :class:`RefusalAudit`, which aggregates them so
that a flood makes a handful of rows.

Aggregation: refusals are grouped by (caller, method + route template, status, reason) over
a window of ``GRIDDERMS_AUDIT_REFUSAL_WINDOW_S`` seconds. The caller is the key's name (also
for a revoked key), otherwise the client address. The first refusal of a window writes one
audit row, before its response is sent; later ones only count in memory, and the row's
``after.count`` is brought up to date every few seconds, before every ``GET /audit`` and at
shutdown. The next refusal after the window opens a new row. Rows never hold a key: unknown
keys appear as the first 12 hex digits of their SHA-256 (the digest ``api_keys.key_hash``
stores, enough to match, nothing to reuse).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.caller import caller_of
from api.route_table import RouteTable
from api.text_guard import printable
from gridderms.persistence.audit import add_audit, set_audit_after
from gridderms.persistence.models import utcnow

logger = logging.getLogger("gridderms.api")

#: statuses audited as refusals -> (action, outcome); 403's action is "<METHOD> <route>"
REFUSALS: dict[int, tuple[str | None, str]] = {
    400: ("request.refused", "refused"),
    401: ("auth.refused", "refused"),
    403: (None, "denied"),
    413: ("request.refused", "refused"),
    422: ("request.refused", "refused"),
}
_DEFAULT_REASONS = {
    400: "invalid request",
    401: "not authenticated",
    403: "role not admitted",
    413: "request too large",
    422: "validation failed",
}
#: methods that only read (a 403 on them is not audited: reads are not audited)
READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: distinct paths and key hashes kept per aggregated row
_KEEP = 5
#: caller of the refusals beyond ``max_windows`` open windows (a flood from many addresses)
OVERFLOW_ACTOR = "(many callers)"


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


@dataclass
class Refusal:
    """One refused request, as audited."""

    actor: str
    role: str
    method: str
    route: str
    path: str
    status: int
    reason: str
    key_hash: str | None = None

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        """What refusals are aggregated by."""
        return (self.actor, self.method, self.route, self.status, self.reason)


@dataclass
class _Window:
    """The refusals of one key within one window, and the audit row that holds them."""

    refusal: Refusal
    opened: float
    first_at: str
    last_at: str
    count: int = 0
    written: int = 0
    row_id: int | None = None
    paths: list[str] = field(default_factory=list)
    key_hashes: list[str] = field(default_factory=list)

    def add(self, refusal: Refusal, at: str) -> None:
        self.count += 1
        self.last_at = at
        if refusal.path not in self.paths and len(self.paths) < _KEEP:
            self.paths.append(refusal.path)
        if (
            refusal.key_hash
            and refusal.key_hash not in self.key_hashes
            and len(self.key_hashes) < _KEEP
        ):
            self.key_hashes.append(refusal.key_hash)

    def document(self, window_s: float) -> dict[str, Any]:
        refusal = self.refusal
        after: dict[str, Any] = {
            "status": refusal.status,
            "reason": refusal.reason,
            "method": refusal.method,
            "route": refusal.route,
            "count": self.count,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "window_s": window_s,
            "paths": list(self.paths),
        }
        if self.key_hashes:
            after["key_sha256_prefixes"] = list(self.key_hashes)
        return after

    def row(self) -> dict[str, str]:
        refusal = self.refusal
        action, outcome = REFUSALS[refusal.status]
        operation = f"{refusal.method} {refusal.route}"
        if action is None:  # 403: the operation is the action, as for every change
            return {
                "action": operation[:80],
                "target_id": self.paths[0][:300],
                "outcome": outcome,
            }
        return {"action": action, "target_id": operation[:300], "outcome": outcome}


class RefusalAudit:
    """Aggregates refused requests into audit rows (see the module documentation).

    Parameters
    ----------
    window_s : float
        Length of an aggregation window [s].
    max_windows : int
        Open windows at most; refusals of further callers are aggregated under
        :data:`OVERFLOW_ACTOR`.
    clock : callable
        Monotonic time [s] (a test's clock).
    """

    def __init__(
        self,
        window_s: float,
        *,
        max_windows: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.max_windows = max_windows
        self.flush_interval_s = max(0.5, min(5.0, window_s / 2))
        self._clock = clock
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._open: dict[tuple[str, str, str, int, str], _Window] = {}
        self._closed: list[_Window] = []
        self._sessions: sessionmaker[Session] | None = None
        self._task: asyncio.Task[None] | None = None

    def bind(self, sessions: sessionmaker[Session] | None) -> None:
        """Write to the database of ``sessions`` (``None``: count only)."""
        self._sessions = sessions

    async def start(self, sessions: sessionmaker[Session]) -> None:
        """Bind to ``sessions`` and start the periodic flush (at application start-up)."""
        self.bind(sessions)
        self._task = asyncio.get_running_loop().create_task(self._flush_periodically())

    async def stop(self) -> None:
        """Stop the periodic flush and write every count (at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await anyio.to_thread.run_sync(lambda: self.flush(close_all=True))
        except Exception:  # shutting down goes on
            logger.exception("writing the last counts of refused requests failed")

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await anyio.to_thread.run_sync(self.flush)
            except Exception:  # the flusher must outlive a database hiccup
                logger.exception("writing the counts of refused requests failed")

    def record(self, refusal: Refusal) -> _Window | None:
        """Count ``refusal``; return its window when it is the window's first (its audit row
        is to be written: :meth:`write_first`), ``None`` otherwise."""
        now = self._clock()
        at = utcnow().isoformat()
        with self._lock:
            key = refusal.key
            window = self._open.get(key)
            if window is not None and now - window.opened >= self.window_s:
                self._closed.append(self._open.pop(key))
                window = None
            first = window is None
            if window is None:
                if len(self._open) >= self.max_windows:
                    refusal = replace(refusal, actor=OVERFLOW_ACTOR, role="none")
                    key = refusal.key
                    window = self._open.get(key)
                    first = window is None
                if window is None:
                    window = self._open[key] = _Window(refusal, now, at, at)
            window.add(refusal, at)
        return window if first else None

    def write_first(self, window: _Window) -> None:
        """Write the audit row of a new window (blocking: call it from a worker thread)."""
        if self._sessions is None:
            return
        with self._lock:
            after = window.document(self.window_s)
            count = window.count
        refusal = window.refusal
        try:
            with self._sessions() as session:
                row = add_audit(
                    session,
                    actor=refusal.actor[:200],
                    role=refusal.role[:20],
                    target_type="route",
                    after=after,
                    **window.row(),
                )
                session.commit()
                row_id = row.id
        except Exception:
            with self._lock:  # let the next refusal try a new row
                if self._open.get(refusal.key) is window:
                    del self._open[refusal.key]
            raise
        with self._lock:
            window.row_id = row_id
            window.written = count

    def flush(self, *, close_all: bool = False) -> int:
        """Write the counts that changed since their last write; forget the windows that are
        over (all of them with ``close_all``). Return how many rows were updated."""
        with self._flush_lock:
            now = self._clock()
            with self._lock:
                for key, window in list(self._open.items()):
                    if close_all or now - window.opened >= self.window_s:
                        self._closed.append(self._open.pop(key))
                pending = [
                    (window, window.row_id, window.document(self.window_s), window.count)
                    for window in (*self._open.values(), *self._closed)
                    if window.row_id is not None and window.count > window.written
                ]
            if pending and self._sessions is not None:
                with self._sessions() as session:
                    for _, row_id, after, _ in pending:
                        assert row_id is not None
                        set_audit_after(session, row_id, after)
                    session.commit()
            with self._lock:
                for window, _, _, count in pending:
                    window.written = max(window.written, count)
                # a closed window whose first row is still being written stays until it is
                self._closed = [
                    window
                    for window in self._closed
                    if window.row_id is None or window.count > window.written
                ]
            return len(pending)

    def open_windows(self) -> int:
        """Windows held in memory (open or awaiting their last count)."""
        with self._lock:
            return len(self._open) + len(self._closed)


class RefusalAuditMiddleware:
    """Audit every refused request (:data:`REFUSALS`) through a :class:`RefusalAudit`; the
    first refusal of a window is written before its response starts."""

    def __init__(self, app: ASGIApp, audit: RefusalAudit, routes: RouteTable) -> None:
        self.app = app
        self.audit = audit
        self.routes = routes

    def refusal(self, scope: Scope, status: int) -> Refusal | None:
        """The audited refusal of a response ``status`` (``None``: not audited)."""
        method = str(scope["method"])
        if status not in REFUSALS or (status == 403 and method in READS):
            return None
        note = caller_of(scope)
        return Refusal(
            actor=note.actor or _client(scope),
            role=note.role or "none",
            method=method,
            route=self.routes.template(scope),
            path=printable(str(scope.get("path", ""))),
            status=status,
            reason=note.reason or _DEFAULT_REASONS[status],
            key_hash=note.key_hash,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; audit its response if it is a refusal."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                try:
                    refusal = self.refusal(scope, int(message["status"]))
                    window = self.audit.record(refusal) if refusal is not None else None
                    if window is not None:
                        await anyio.to_thread.run_sync(self.audit.write_first, window)
                except Exception:  # a refusal stays a refusal if its audit fails
                    logger.exception("auditing a refused request failed")
            await send(message)

        await self.app(scope, receive, send_wrapper)
