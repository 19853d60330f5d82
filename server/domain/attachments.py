"""Attachments: files on a task or one of its comments, by reference to stored content.

The content is uploaded first (REST, streamed into the blob store under its SHA-256 and
recognised there); ``add`` then records that a task or comment refers to it, as a change of
the command table like any other, so everyone sees it live. Everything the record says
about the content (size, type, pixels) comes from the store, never from the client.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Final

from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import comments, convert, tasks, validate
from server.domain.errors import DomainError, ErrorCode, invalid
from server.domain.rows import get_or_not_found
from server.domain.tx import Tx
from server.storage.blobs import Blobs, is_sha256
from server.storage.models import AttachmentRow

MAX_NAME_LENGTH: Final = 200
#: Attachments on one task (its comments' included) at most.
MAX_PER_TASK: Final = 200


def clean_name(name: str) -> str:
    """A file name safe to show and to offer as a download name: the last part of any path,
    without control or direction-changing characters, not empty, not over the limit."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    kept = kept.strip().lstrip(".").strip() or "file"
    if len(kept) > MAX_NAME_LENGTH:
        stem, dot, ext = kept.rpartition(".")
        ext = ext[:20] if dot else ""
        kept = (stem if dot else kept)[: MAX_NAME_LENGTH - len(ext) - 1] + (
            f".{ext}" if ext else ""
        )
    return kept


#: A record as the schema has it (the conversion lives with the others, in convert).
to_proto = convert.attachment


def row(attachment_id: str) -> AttachmentRow:
    return get_or_not_found(AttachmentRow, attachment_id, "attachment")


def get(attachment_id: str) -> entities_pb2.Attachment:
    return to_proto(row(attachment_id))


def list_for_task(task_id: str) -> list[entities_pb2.Attachment]:
    tasks.row(task_id)
    query = AttachmentRow.select().where(AttachmentRow.task_id == task_id)
    return [to_proto(r) for r in query.order_by(AttachmentRow.created_at, AttachmentRow.id)]


def in_project(project_id: str) -> list[entities_pb2.Attachment]:
    query = AttachmentRow.select().where(AttachmentRow.project_id == project_id)
    return [to_proto(r) for r in query.order_by(AttachmentRow.created_at, AttachmentRow.id)]


def files_of_project(
    project_id: str, blobs: Blobs
) -> list[tuple[entities_pb2.Attachment, Path | bytes]]:
    """A project's attachments with the file holding each one's content (for exports: the
    same content attached twice is one file, listed twice). Content missing from the store
    (a data folder copied without its attachments/) is left out."""
    return [(a, blobs.content(a.sha256)) for a in in_project(project_id) if blobs.has(a.sha256)]


def add(tx: Tx, cmd: commands_pb2.AddAttachment) -> websocket_pb2.Ack:
    task = tasks.row(cmd.task_id)
    comment_id = None
    if cmd.comment_id:
        comment = comments.row(cmd.comment_id)
        if comment.task_id != task.id:
            raise invalid("comment_id", f"comment {cmd.comment_id!r} is not on this task")
        comment_id = comment.id
    kind = tx.blobs.kind(cmd.sha256) if tx.blobs is not None and is_sha256(cmd.sha256) else None
    if kind is None:
        raise invalid("sha256", "no uploaded content has this SHA-256; upload the file first")
    attachment_id = validate.new_id("attachment_id", cmd.attachment_id)
    if AttachmentRow.get_or_none(AttachmentRow.id == attachment_id) is not None:
        raise invalid("attachment_id", f"attachment {attachment_id} already exists")
    if AttachmentRow.select().where(AttachmentRow.task_id == task.id).count() >= MAX_PER_TASK:
        raise DomainError(
            ErrorCode.ERROR_CODE_FAILED_PRECONDITION,
            f"a task takes at most {MAX_PER_TASK} attachments",
        )
    assert tx.blobs is not None
    new = AttachmentRow.create(
        id=attachment_id,
        project_id=task.project_id,
        task_id=task.id,
        comment_id=comment_id,
        name=clean_name(validate.text("name", cmd.name, max_len=10_000)),
        content_type=kind.content_type,
        size=tx.blobs.size(cmd.sha256),
        sha256=cmd.sha256,
        width=kind.width,
        height=kind.height,
        author_id=tx.actor.member_id,
        created_at=tx.now,
    )
    result = to_proto(new)
    seq = tx.emit(
        task.project_id,
        "attachment_added",
        events_pb2.AttachmentAdded(
            project_id=task.project_id, attachment=result, actor_id=tx.actor.member_id
        ),
    )
    return websocket_pb2.Ack(seq=seq, attachment=result)


def remove(tx: Tx, cmd: commands_pb2.RemoveAttachment) -> websocket_pb2.Ack:
    current = row(cmd.attachment_id)
    result = to_proto(current)
    current.delete_instance()
    # The content stays in the store: another attachment, or a backup, may refer to it.
    seq = tx.emit(
        current.project_id,
        "attachment_removed",
        events_pb2.AttachmentRemoved(
            project_id=current.project_id,
            attachment_id=current.id,
            task_id=current.task_id,
            actor_id=tx.actor.member_id,
        ),
    )
    return websocket_pb2.Ack(seq=seq, attachment=result)
