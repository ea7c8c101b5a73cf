"""Refuse control characters in the path and the query string before routing.

A NUL (``%00``) or another C0/C1 control character in a path or query parameter cannot be a
feeder, DER or key name (:data:`gridderms.bounds.NAME_PATTERN`) nor any other value the API
takes, and PostgreSQL cannot even compare a text with one (it raises). Such a request is
answered 422 naming where the character is, before any route or query runs.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Receive, Scope, Send

#: C0 controls, DEL and C1 controls
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with each control character written as ``\\xNN`` (for audit rows and logs:
    PostgreSQL's text and JSON cannot hold a NUL)."""
    return CONTROL.sub(lambda match: f"\\x{ord(match[0]):02x}", text)


def control_character_at(scope: Scope) -> tuple[list[str], str] | None:
    """``(loc, message)`` of the first control character in the request's path or query
    parameters, or ``None``."""
    path = unquote(scope.get("raw_path", b"").decode("latin-1")) or scope.get("path", "")
    if match := CONTROL.search(path):
        return ["path"], f"the path contains the control character U+{ord(match[0]):04X}"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        for part, text in (("name", name), ("value", value)):
            if match := CONTROL.search(text):
                return ["query", name if part == "value" else "?"], (
                    f"query parameter {part} contains the control character "
                    f"U+{ord(match[0]):04X}"
                )
    return None


async def send_json(send: Send, status: int, document: object) -> None:
    """Answer a request from ASGI middleware, before routing: ``status`` with the JSON
    ``document``."""
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ControlCharacterGuard:
    """Pure ASGI middleware answering 422 for control characters in the path or query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request with a control character; pass on the others."""
        found = control_character_at(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        loc, message = found
        detail = [{"loc": loc, "msg": message, "type": "control_character"}]
        await send_json(send, 422, {"detail": detail})


__all__ = ["CONTROL", "ControlCharacterGuard", "control_character_at", "printable", "send_json"]
