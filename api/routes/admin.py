"""Audit trail (read, paged by a keyset cursor, exported by an admin) and API keys (admin)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from api.body import body_doc, json_body
from api.deps import Admin, SessionDep, Viewer
from api.schemas import ApiKeyCreate
from api.schemas.system import ApiKeyCreatedPublic, ApiKeyPublic, AuditPublic
from gridderms.bounds import DateTime
from gridderms.persistence.audit import AuditFilter
from gridderms.service import audit_log, auth

router = APIRouter(tags=["audit", "keys"])

#: rows of an export serialised per chunk of the stream
_EXPORT_CHUNK = 500
_CSV_COLUMNS = (
    "id",
    "at",
    "actor",
    "role",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "before",
    "after",
)


def audit_filter(
    target_type: Annotated[str | None, Query(max_length=40)] = None,
    target_id: Annotated[str | None, Query(max_length=300)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[
        str | None, Query(max_length=20, description="ok, refused (401/4xx) or denied (403)")
    ] = None,
    since: Annotated[
        DateTime | None, Query(description="At or after (ISO 8601 with an offset)")
    ] = None,
    until: Annotated[
        DateTime | None, Query(description="Before (ISO 8601 with an offset; exclusive)")
    ] = None,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=2**62, description="Only rows with a smaller id (cursor, newest first)"),
    ] = None,
    after_id: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="Only rows with a larger id (cursor, oldest first)"),
    ] = None,
) -> AuditFilter:
    """The audit filters of the query string."""
    return AuditFilter(
        target_type=target_type,
        target_id=target_id,
        action=action,
        actor=actor,
        outcome=outcome,
        since=since,
        until=until,
        before_id=before_id,
        after_id=after_id,
    )


AuditFilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get(
    "/audit",
    response_model=list[AuditPublic],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'The next page, `<url>; rel="next"`, when there is one',
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
def audit(
    _: Viewer,
    request: Request,
    response: Response,
    session: SessionDep,
    filters: AuditFilterDep,
    order: Annotated[Literal["desc", "asc"], Query(description="By id: newest first")] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditPublic]:
    """Audit rows, newest first (``order=asc``: oldest first), filtered by target, action,
    actor, outcome and time, ``limit`` per page.

    Paging is by id (a keyset cursor: no row is skipped or repeated however many are added
    meanwhile): the next page is ``before_id=<last id>`` (newest first) or
    ``after_id=<last id>`` (``order=asc``), and the ``Link`` header (``rel="next"``) gives its
    URL while there are more rows. Refused requests are aggregated: one row per caller,
    route, status and reason per window, with the count in ``after.count``.
    """
    request.app.state.refusals.flush()
    newest_first = order == "desc"
    rows = audit_log.page(session, filters, limit=limit + 1, newest_first=newest_first)
    if len(rows) > limit:
        rows = rows[:limit]
        cursor = "before_id" if newest_first else "after_id"
        following = request.url.include_query_params(**{cursor: rows[-1].id})
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return [AuditPublic.model_validate(row) for row in rows]


def _json(value: object) -> str:
    return "" if value is None else json.dumps(value, separators=(",", ":"), default=str)


def _csv_chunks(rows: Iterable[AuditPublic]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for index, row in enumerate(rows, 1):
        public = row.model_dump(mode="json")
        writer.writerow(
            [
                _json(public[column]) if column in ("before", "after") else public[column]
                for column in _CSV_COLUMNS
            ]
        )
        if index % _EXPORT_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _ndjson_chunks(rows: Iterable[AuditPublic]) -> Iterator[str]:
    lines: list[str] = []
    for row in rows:
        lines.append(row.model_dump_json() + "\n")
        if len(lines) == _EXPORT_CHUNK:
            yield "".join(lines)
            lines.clear()
    yield "".join(lines)


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching row, oldest first",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        }
    },
)
def export_audit(
    _: Admin,
    request: Request,
    filters: AuditFilterDep,
    export_format: Annotated[Literal["csv", "ndjson"], Query(alias="format")] = "ndjson",
) -> StreamingResponse:
    """Every audit row matching the filters, oldest first, streamed as CSV (``before`` and
    ``after`` as JSON text) or NDJSON (one row per line, as ``GET /audit`` gives it). The rows
    are those present when the export starts."""
    request.app.state.refusals.flush()
    rows = map(AuditPublic.model_validate, audit_log.export(request.app.state.sessions, filters))
    if export_format == "csv":
        return StreamingResponse(
            _csv_chunks(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )
    return StreamingResponse(
        _ndjson_chunks(rows),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.ndjson"'},
    )


@router.get("/keys", response_model=list[ApiKeyPublic])
def list_keys(_: Admin, session: SessionDep) -> list[ApiKeyPublic]:
    """API keys (names, prefixes and roles; never the keys)."""
    return [ApiKeyPublic.model_validate(row) for row in auth.list_keys(session)]


@router.post(
    "/keys",
    response_model=ApiKeyCreatedPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "Name taken"}},
    openapi_extra=body_doc("ApiKeyCreate"),
)
def create_key(
    principal: Admin,
    session: SessionDep,
    body: Annotated[ApiKeyCreate, Depends(json_body(ApiKeyCreate))],
) -> ApiKeyCreatedPublic:
    """Create an API key; the key is returned once and only its hash is stored."""
    row, plain = auth.create_key(session, principal, body.name, body.role)
    return ApiKeyCreatedPublic(**ApiKeyPublic.model_validate(row).model_dump(), key=plain)


@router.delete(
    "/keys/{name}", response_model=ApiKeyPublic, responses={404: {"description": "Unknown key"}}
)
def revoke_key(
    principal: Admin,
    request: Request,
    session: SessionDep,
    name: Annotated[str, Path(max_length=200)],
) -> ApiKeyPublic:
    """Revoke an API key (at once in this process; other service processes stop accepting it
    within ``GRIDDERMS_AUTH_CACHE_S``)."""
    revoked = auth.revoke_key(session, principal, name)
    request.app.state.principals.clear()
    return ApiKeyPublic.model_validate(revoked)
