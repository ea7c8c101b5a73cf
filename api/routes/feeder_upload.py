"""Reading an uploaded feeder file from a request: a multipart/form-data file part ``file``
(parsed while it streams in) or the raw body, at most :data:`MAX_UPLOAD_BYTES`, its format
given or inferred from the file name; every problem is 413 or 422 naming it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import PurePosixPath

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.body import refuse_deep_json
from gridderms.service.feeder_location import FeederLocationError
from gridderms.service.feeders import UploadFormat

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: room for the multipart/form-data framing around the file (boundaries, part headers, a few
#: small fields) [bytes]
MULTIPART_OVERHEAD_BYTES = 64 * 1024
#: upload format by file name extension, when the ``format`` query parameter is not given
FORMAT_BY_EXTENSION: dict[str, UploadFormat] = {
    ".json": "pandapower-json",
    ".m": "matpower",
    ".mat": "matpower-mat",
}
FORMATS_TEXT = "pandapower-json (pandapower.to_json), matpower (.m text) or matpower-mat (.mat)"
EXTENSIONS_TEXT = ", ".join(f"{ext} ({fmt})" for ext, fmt in FORMAT_BY_EXTENSION.items())
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The feeder file: pandapower JSON (pandapower.to_json), MATPOWER .m "
        "text or a MATPOWER .mat file (a struct mpc saved by MATLAB/Octave/scipy.io.savemat), "
        f"at most {MAX_UPLOAD_BYTES // 2**20} MiB. Either as a multipart/form-data file part "
        "named `file` (`curl -F file=@case33.m`; without the `format` query parameter the "
        f"format follows the file name's extension: {EXTENSIONS_TEXT}) or as the raw request "
        "body (then `format` is required).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The feeder file (.json, .m or .mat)",
                        }
                    },
                    "required": ["file"],
                },
            },
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _too_large(size_bytes: int | str) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"feeder upload of {size_bytes} bytes or more; a feeder file of at most "
        f"{MAX_UPLOAD_BYTES} bytes is accepted",
    )


def invalid(loc: list[str], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


def location_invalid(where: str, exc: FeederLocationError) -> RequestValidationError:
    """422 for a location problem in the ``where`` (``body`` or ``query``), at its field."""
    return invalid([where, *([exc.field] if exc.field else [])], str(exc), "feeder_location")


async def _body_chunks(request: Request, limit_bytes: int) -> AsyncGenerator[bytes, None]:
    """The request body chunk by chunk; 413 as soon as more than ``limit_bytes`` arrived
    (whatever Content-Length said, e.g. for a chunked body)."""
    received_bytes = 0
    async for chunk in request.stream():
        received_bytes += len(chunk)
        if received_bytes > limit_bytes:
            raise _too_large(received_bytes)
        yield chunk


async def _multipart_file(request: Request) -> tuple[bytes, str]:
    """The content and file name of the part ``file`` of a multipart/form-data body, parsed
    while it streams in (at most one file, a few small fields, 413 past the size limit)."""
    parser = MultiPartParser(
        request.headers,
        _body_chunks(request, MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES),
        max_files=1,
        max_fields=8,
        max_part_size=64 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise invalid(
            ["body"], f"malformed multipart/form-data body: {exc.message}", "multipart"
        ) from None
    try:
        part = form.get("file")
        if part is None:
            raise invalid(
                ["body", "file"],
                "no part named 'file' in the multipart/form-data body; send the feeder file "
                "as the file part 'file' (curl -F file=@case33.m)",
                "missing",
            )
        if not isinstance(part, UploadFile):
            raise invalid(
                ["body", "file"],
                "the part 'file' is a plain form field, not a file; send the feeder file as a "
                "file part with a file name (curl -F file=@case33.m)",
                "file_type",
            )
        if part.size is not None and part.size > MAX_UPLOAD_BYTES:
            raise _too_large(part.size)
        content = await part.read()
        if len(content) > MAX_UPLOAD_BYTES:
            raise _too_large(len(content))
        return content, part.filename or ""
    finally:
        await form.close()


def _format_of(filename: str) -> UploadFormat:
    """The upload format named by the extension of ``filename`` (a browser may send a
    Windows path), or 422 naming the problem."""
    if not filename:
        raise invalid(
            ["query", "format"],
            f"no format: the file part has no file name to infer it from; give the format "
            f"query parameter: {FORMATS_TEXT}",
            "missing",
        )
    extension = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if extension not in FORMAT_BY_EXTENSION:
        raise invalid(
            ["query", "format"],
            f"cannot infer the format from the file name '{filename}': extension "
            f"'{extension}' is none of {EXTENSIONS_TEXT}; give the format query parameter",
            "enum",
        )
    return FORMAT_BY_EXTENSION[extension]


async def read_upload(
    request: Request, file_format: UploadFormat | None
) -> tuple[bytes, UploadFormat]:
    """The uploaded file's content and format (``file_format``, else inferred from the file
    part's name); 413 past the size limit, 422 for a malformed body or a missing format."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    multipart = media_type == "multipart/form-data"
    limit_bytes = MAX_UPLOAD_BYTES + (MULTIPART_OVERHEAD_BYTES if multipart else 0)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise _too_large(declared)
    if multipart:
        content, filename = await _multipart_file(request)
        if file_format is None:
            file_format = _format_of(filename)
    else:
        if file_format is None:
            raise invalid(
                ["query", "format"],
                f"no format: give the format query parameter ({FORMATS_TEXT}), or upload "
                f"the file as multipart/form-data with a file name ending in .json, .m or .mat",
                "missing",
            )
        content = b"".join([chunk async for chunk in _body_chunks(request, limit_bytes)])
    if file_format == "pandapower-json":
        refuse_deep_json(content)
    return content, file_format
