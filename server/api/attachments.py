"""Attachments over REST: the upload (multipart, streamed), the lists, and the content.

An upload is read chunk by chunk into the blob store, counted against the one limit
(``ServerConfig.max_attachment_bytes``) as it arrives: a file over it is refused with
ERROR_CODE_TOO_LARGE (413) without the rest being read, and nothing is kept. The record
then goes through the command table (``AddAttachment``), so it is live for everyone.

The content is served so that nothing uploaded from the network can run on the board's
origin: only the image types the store recognised from the bytes are shown inline, as
those types; everything else (HTML, SVG, scripts, a mislabelled anything) is
``application/octet-stream`` with ``Content-Disposition: attachment``, and every answer
carries ``X-Content-Type-Options: nosniff`` and a sandboxing content security policy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from google.protobuf.message import Message
from tandem.v1 import api_pb2, commands_pb2, entities_pb2, errors_pb2

from server.api.actor import request_actor
from server.api.codec import render
from server.api.errors import ApiError, error_response
from server.api.operation import Call, Operation, QueryParam, result_of
from server.appkeys import CONFIG
from server.storage.blobs import TooLargeError
from server.storage.images import INLINE_IMAGE_TYPES, OCTET_STREAM

ErrorCode = errors_pb2.ErrorCode

UPLOAD_OPERATION: Final = "uploadAttachment"
#: The command the upload ends in: a REST change outside the table's own routes (its body
#: is a file, not the command), still made through the table.
UPLOAD_COMMAND: Final = "add_attachment"
#: Uploads must carry this header: a cross-site HTML form cannot send one, so a multipart
#: body (which forms can send) is taken only from a script of the board's own origin.
UPLOAD_HEADER: Final = "X-Tandem-Upload"
#: A whole upload must arrive within this many seconds (and each chunk within the body
#: timeout), so a connection cannot hold a half-written file open forever.
UPLOAD_SECONDS: Final = 600.0
CHUNK: Final = 64 * 1024
_MAX_FIELD: Final = 256
# file, commentId, and a few a client may add: no upload needs more.
_MAX_PARTS: Final = 8
_INLINE: Final = frozenset(INLINE_IMAGE_TYPES.values())
#: Served content is never a document of the board's origin: no script, no plugin, no frame.
CONTENT_POLICY: Final = "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'"

_BINARY: Final = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

T = "/api/v1/tasks/{taskId}/attachments"
A = "/api/v1/attachments/{attachmentId}"


def is_upload(request: web.BaseRequest) -> bool:
    """The request is to the upload route (whose body the handler streams itself)."""
    match = getattr(request, "match_info", None)
    route = getattr(match, "route", None)
    return request.method == "POST" and getattr(route, "name", None) == UPLOAD_OPERATION


def closing(request: web.Request, err: ApiError) -> web.StreamResponse:
    """The refusal, and the connection closed after it: the rest of the body is never read."""
    response = error_response(request, err)
    response.force_close()
    return response


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n / 1024:g} KiB"


def too_large(limit: int) -> ApiError:
    return ApiError(
        ErrorCode.ERROR_CODE_TOO_LARGE,
        f"the file is larger than the {_size(limit)} an attachment may be",
        status=413,
        field="file",
    )


async def upload_attachment(call: Call) -> web.StreamResponse:
    request = call.request
    config = request.app[CONFIG]
    limit = config.max_attachment_bytes
    # Refused before a byte of the body is read: a viewer, another body, a missing task, a
    # body that says it is too large.
    if not (await request_actor(request)).can_edit:
        raise ApiError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, "viewers cannot change the board")
    if request.content_type != "multipart/form-data":
        raise ApiError(
            ErrorCode.ERROR_CODE_UNSUPPORTED,
            "upload a file as multipart/form-data, in a part named file",
            status=415,
        )
    task_id = call.path("taskId")
    await call.domain.read(call.domain.get_task, task_id)
    if request.content_length is not None and request.content_length > limit + CHUNK:
        return closing(request, too_large(limit))

    deadline = time.monotonic() + UPLOAD_SECONDS
    idle = config.body_timeout_seconds

    async def within(awaitable: Awaitable[Any]) -> Any:
        left = min(idle, deadline - time.monotonic())
        try:
            async with asyncio.timeout(max(0.0, left)):
                return await awaitable
        except TimeoutError:
            request.protocol.force_close()
            raise web.HTTPRequestTimeout(text="the upload did not arrive in time") from None

    try:
        return await _read_upload(call, task_id, within)
    except TooLargeError:
        return closing(request, too_large(limit))
    except (ValueError, HttpProcessingError) as exc:
        message = f"not a valid multipart body: {exc}"[:200]
        return closing(request, ApiError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message))


async def _read_upload(
    call: Call, task_id: str, within: Callable[[Awaitable[Any]], Awaitable[Any]]
) -> web.StreamResponse:
    request = call.request
    limit = request.app[CONFIG].max_attachment_bytes
    blobs = call.domain.blobs
    loop = asyncio.get_running_loop()
    comment_id = ""
    sha = name = ""
    reader = await request.multipart()
    for _ in range(_MAX_PARTS + 1):
        part = await within(reader.next())
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise ApiError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "nested multipart bodies")
        if part.name == "commentId":
            raw = b""
            while chunk := await within(part.read_chunk(_MAX_FIELD)):
                raw += chunk
                if len(raw) > _MAX_FIELD:
                    raise ValueError("commentId is too long")
            comment_id = raw.decode("utf-8", "replace").strip()
        elif part.name == "file" and not sha:
            name = part.filename or "file"
            writer = await loop.run_in_executor(None, blobs.writer, limit)
            try:
                while chunk := await within(part.read_chunk(CHUNK)):
                    assert isinstance(chunk, bytes)
                    writer.write(chunk)
                sha = await loop.run_in_executor(None, writer.commit)
            finally:
                writer.abort()
        else:
            await part.release()
    else:
        raise ValueError(f"more than {_MAX_PARTS} parts")
    if not sha:
        raise ApiError(
            ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "no part named file in the upload", field="file"
        )
    await loop.run_in_executor(None, blobs.recognise, sha)
    command = commands_pb2.AddAttachment(
        task_id=task_id, comment_id=comment_id, sha256=sha, name=name
    )
    attachment = result_of(await call.command(command), "attachment")
    response = render(request, attachment, status=201)
    response.headers["Location"] = f"/api/v1/attachments/{attachment.id}"  # type: ignore[attr-defined]
    return response


async def list_attachments(call: Call) -> Message:
    found = await call.domain.read(call.domain.list_attachments, call.path("taskId"))
    return api_pb2.ListAttachmentsResponse(attachments=found)


async def get_attachment(call: Call) -> Message:
    found: Message = await call.domain.read(call.domain.get_attachment, call.path("attachmentId"))
    return found


def _disposition(kind: str, name: str) -> str:
    # The plain filename for old clients: ASCII, no quotes or backslashes; filename* whole.
    plain = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def _served(content: Path | bytes, content_type: str, disposition: str) -> web.StreamResponse:
    # A file streams from disk (ranges, sendfile); content from the database is sent whole.
    response: web.StreamResponse
    if isinstance(content, bytes):
        response = web.Response(body=content)
    else:
        response = web.FileResponse(content)
    response.content_type = content_type
    response.headers["Content-Disposition"] = disposition
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CONTENT_POLICY
    # An attachment's content never changes under its id (a new file is a new attachment).
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


async def _found(call: Call) -> entities_pb2.Attachment:
    found: entities_pb2.Attachment = await call.domain.read(
        call.domain.get_attachment, call.path("attachmentId")
    )
    return found


async def get_attachment_content(call: Call) -> web.StreamResponse:
    attachment = await _found(call)
    blobs = call.domain.blobs
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, blobs.has, attachment.sha256):
        raise ApiError(ErrorCode.ERROR_CODE_NOT_FOUND, "this attachment's file is missing")
    inline = attachment.content_type in _INLINE
    return _served(
        await loop.run_in_executor(None, blobs.content, attachment.sha256),
        attachment.content_type if inline else OCTET_STREAM,
        _disposition("inline" if inline else "attachment", attachment.name),
    )


async def get_attachment_thumbnail(call: Call) -> web.StreamResponse:
    attachment = await _found(call)
    loop = asyncio.get_running_loop()
    thumb = None
    if attachment.content_type in _INLINE:
        thumb = await loop.run_in_executor(None, call.domain.blobs.thumbnail, attachment.sha256)
    if thumb is None:
        raise ApiError(ErrorCode.ERROR_CODE_NOT_FOUND, "this attachment has no thumbnail")
    stem = attachment.name.rsplit(".", 1)[0] or "thumbnail"
    return _served(thumb, "image/png", _disposition("inline", f"{stem}.png"))


ATTACHMENT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        T,
        UPLOAD_OPERATION,
        f"Attach a file to a task (multipart/form-data: a part named file, optionally one named"
        f" commentId; header {UPLOAD_HEADER}: 1). Larger than the limit: 413, TOO_LARGE.",
        upload_attachment,
        "attachments",
        entities_pb2.Attachment,
        status=201,
        mutation=True,
        raw_request={
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "commentId": {"type": "string", "maxLength": _MAX_FIELD},
                    },
                }
            }
        },
        headers=(
            QueryParam(
                UPLOAD_HEADER,
                {"type": "string", "enum": ["1"]},
                "Required: proves the upload comes from a script, not a cross-site form.",
                required=True,
            ),
        ),
    ),
    Operation(
        "GET",
        T,
        "listAttachments",
        "A task's attachments (its comments' too), oldest first",
        list_attachments,
        "attachments",
        api_pb2.ListAttachmentsResponse,
    ),
    Operation(
        "GET",
        A,
        "getAttachment",
        "One attachment",
        get_attachment,
        "attachments",
        entities_pb2.Attachment,
    ),
    Operation(
        "GET",
        A + "/content",
        "getAttachmentContent",
        "The file: allow-listed images inline, anything else as a download",
        get_attachment_content,
        "attachments",
        raw_response=_BINARY,
    ),
    Operation(
        "GET",
        A + "/thumbnail",
        "getAttachmentThumbnail",
        "A PNG thumbnail of an image attachment",
        get_attachment_thumbnail,
        "attachments",
        raw_response=_BINARY,
    ),
)
