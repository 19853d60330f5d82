"""Downloading the workspace: ``GET /api/v1/export`` (the JSON document ``tandem export``
writes; ``?format=zip``, the document with its attachments' files, as ``tandem export --to
FILE.zip`` writes it), or one project's tasks as CSV (``?format=csv&project=KEY``)."""

from __future__ import annotations

import asyncio
import io
import time

from aiohttp import web
from google.protobuf.message import Message
from tandem.v1 import transfer_pb2

from server.api.errors import bad_request
from server.api.operation import Call, Operation, QueryParam
from server.domain.transfer import bundle, csv_export, document
from server.storage.blobs import Blobs
from server.storage.models import database


def _read_export(project: str, as_csv: bool) -> str | transfer_pb2.WorkspaceExport:
    with database.atomic():  # one consistent read
        if as_csv:
            return csv_export.tasks_csv(project)
        return document.export_workspace(project, now_micros=time.time_ns() // 1000)


async def get_export(call: Call) -> Message | web.StreamResponse:
    project = (call.query("project") or "").strip().upper()
    kind = call.query("format") or "json"
    if kind not in ("json", "csv", "zip"):
        raise bad_request("format is json, zip or csv", field="format")
    if kind == "csv" and not project:
        raise bad_request(
            "a CSV export is of one project: name it with project=KEY", field="project"
        )
    found = await call.domain.read(_read_export, project, kind == "csv")
    stem = f"tandem-{project.lower() or 'workspace'}-{time.strftime('%Y%m%d')}"
    disposition = {"Content-Disposition": f'attachment; filename="{stem}.{kind}"'}
    if isinstance(found, str):
        return web.Response(text=found, content_type="text/csv", headers=disposition)
    if kind == "zip":
        # Reading the files is no work for the event loop (nor the database thread).
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(None, _zipped, found, call.domain.blobs)
        return web.Response(body=body, content_type="application/zip", headers=disposition)
    return web.Response(
        text=document.to_json(found), content_type="application/json", headers=disposition
    )


def _zipped(doc: transfer_pb2.WorkspaceExport, blobs: Blobs) -> bytes:
    out = io.BytesIO()
    files, _missing = bundle.files_of(doc, blobs)  # content gone from the store stays listed
    bundle.write(document.to_json(doc), files, blobs, out)
    return out.getvalue()


EXPORT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/api/v1/export",
        "exportWorkspace",
        "The workspace (or one project) as a tandem.v1.WorkspaceExport document, or one"
        " project's tasks as CSV; a download, as `tandem export` writes it",
        get_export,
        "export",
        transfer_pb2.WorkspaceExport,
        raw_response={
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        },
        query=(
            QueryParam("project", {"type": "string"}, "Only the project with this key."),
            QueryParam(
                "format",
                {"type": "string", "enum": ["json", "zip", "csv"], "default": "json"},
                "json: the export document; zip: the document with its attachments' files;"
                " csv: the project's tasks, for spreadsheets.",
            ),
        ),
    ),
)
