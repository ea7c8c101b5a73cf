"""The request guards (pure ASGI middleware) of the application, installed in one call.

:func:`install_guards` adds, outermost first:

* the refusal audit (:mod:`api.refusal_audit`): refused requests (401, 403 on changes,
  400/413/422) aggregated into a handful of audit rows;
* the query-key guard (:mod:`api.query_secrets`): a request with an API key in its query
  string is refused (400), and the log redaction keeps such keys out of the access log;
* the control-character guard (:mod:`api.text_guard`) on the path and query;
* ``OPTIONS`` and ``405`` with the path's complete ``Allow`` (:mod:`api.route_table`).

What the authentication dependencies learn about the caller travels to the audit on the
request (:mod:`api.caller`).
"""

from __future__ import annotations

from fastapi import FastAPI

from api.query_secrets import QueryKeyGuard, install_log_redaction
from api.refusal_audit import RefusalAudit, RefusalAuditMiddleware
from api.route_table import AllowMiddleware, RouteTable
from api.text_guard import ControlCharacterGuard


def install_guards(app: FastAPI, refusal_window_s: float) -> RefusalAudit:
    """Add the guards to ``app`` (outermost first: refusal audit, query-key guard, control
    characters in path or query (:mod:`api.text_guard`), ``Allow``)
    and the log redaction; return the refusal audit (started by the application's lifespan).
    """
    install_log_redaction()
    routes = RouteTable(app)
    audit = RefusalAudit(refusal_window_s)
    app.add_middleware(AllowMiddleware, routes=routes)
    app.add_middleware(ControlCharacterGuard)
    app.add_middleware(QueryKeyGuard)
    app.add_middleware(RefusalAuditMiddleware, audit=audit, routes=routes)
    return audit
