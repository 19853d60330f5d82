"""The import commands of the command table: ``import_workspace`` and ``preview_import``.

An import is one command: the file is read, every row checked and built, then written in
bulk in the command's transaction, with one ``project_imported`` event per project it
touched. A preview does all of it but the writing.
"""

from __future__ import annotations

from tandem.v1 import transfer_pb2, websocket_pb2

from server.domain.transfer import apply, formats
from server.domain.transfer.csvfile import NoTitleColumn
from server.domain.tx import Tx


def _plan(tx: Tx, cmd: transfer_pb2.ImportWorkspace) -> apply.Plan:
    fmt, parsed = formats.read(
        cmd.data, cmd.format, file_name=cmd.file_name, column_map=dict(cmd.column_map)
    )
    blobs = tx.blobs
    plan = apply.build(
        parsed.doc,
        keep_ids=parsed.keep_ids,
        now=tx.now,
        into_key=cmd.project_key,
        files=parsed.files,
        stored=blobs.has if blobs is not None else lambda _sha: False,
    )
    summary = plan.summary
    summary.format = fmt
    summary.notes.extend(parsed.notes)
    for column, field in parsed.columns:
        summary.columns.add(column=column, field=field)
    return plan


def run_import(tx: Tx, cmd: transfer_pb2.ImportWorkspace) -> websocket_pb2.Ack:
    plan = _plan(tx, cmd)
    seq = apply.write(tx, plan)
    return websocket_pb2.Ack(seq=seq, import_summary=plan.summary)


def preview(tx: Tx, cmd: transfer_pb2.PreviewImport) -> websocket_pb2.Ack:
    file = cmd.file
    try:
        return websocket_pb2.Ack(import_summary=_plan(tx, file).summary)
    except NoTitleColumn as missing:
        # Not refused yet: the preview is where the person says which column is the title.
        summary = transfer_pb2.ImportSummary(format=file.format or formats.detect(file.data))
        summary.notes.append(missing.message)
        for column, field in missing.columns:
            summary.columns.add(column=column, field=field)
        return websocket_pb2.Ack(import_summary=summary)
