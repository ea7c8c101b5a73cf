"""API keys in query strings: refused at the door, and kept out of the logs.

:class:`QueryKeyGuard` refuses (400) a request carrying an API key in its query string
(``api_key``, ``key``, ``token``, ``access_token``, ...): a URL ends up in access logs, proxies
and browser histories, so the key must travel in the ``X-API-Key`` header.
:class:`RedactQuerySecrets` keeps such values out of uvicorn's access log all the same.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

from api.caller import note_refusal
from api.text_guard import send_json

#: query parameters that must never carry an API key (compared case-insensitively)
QUERY_KEY_PARAMETERS = frozenset(
    {"api_key", "apikey", "api-key", "x-api-key", "key", "token", "access_token"}
)


def query_key_parameters(query_string: bytes) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of a query string that look like an API key."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return [(name, value) for name, value in pairs if name.lower() in QUERY_KEY_PARAMETERS]


class QueryKeyGuard:
    """Refuse (400) every request with an API key in its query string, before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request with a key in its query string; pass on the others."""
        if scope["type"] != "http" or not scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        found = query_key_parameters(scope["query_string"])
        if not found:
            await self.app(scope, receive, send)
            return
        name, value = found[0]
        note_refusal(scope, "API key in the query string", key=value or None)
        detail = (
            f"API keys are not accepted in the query string (parameter '{name}'): send the key "
            f"in the X-API-Key header (or Authorization: Bearer) and treat this one as exposed"
        )
        await send_json(send, 400, {"detail": detail})


_QUERY_PAIR = re.compile(r"(^|[?&;])([^=&;?\s\"']+)=([^&;\s\"'#]*)")
#: loggers that print request lines
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "gunicorn.access")


def redact_query_secrets(text: str) -> str:
    """``text`` with the value of every key-like query parameter replaced by ``[REDACTED]``."""

    def replace(match: re.Match[str]) -> str:
        if unquote_plus(match.group(2)).lower() in QUERY_KEY_PARAMETERS:
            return f"{match.group(1)}{match.group(2)}=[REDACTED]"
        return match.group(0)

    return _QUERY_PAIR.sub(replace, text)


def _redacted(value: object) -> object:
    return redact_query_secrets(value) if isinstance(value, str) and "=" in value else value


class RedactQuerySecrets(logging.Filter):
    """Redact API keys from query strings in a log record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        if isinstance(record.msg, str):
            record.msg = _redacted(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {name: _redacted(value) for name, value in record.args.items()}
        elif isinstance(record.args, Sequence):
            record.args = tuple(_redacted(value) for value in record.args)
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactQuerySecrets` to the loggers of :data:`REDACTED_LOGGERS` (once; a
    logger's filters survive uvicorn's own logging configuration)."""
    for name in REDACTED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(existing, RedactQuerySecrets) for existing in target.filters):
            target.addFilter(RedactQuerySecrets())
