"""Comments on tasks: add, edit and delete one's own, list."""

from __future__ import annotations

from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import convert, tasks, trash, validate
from server.domain.errors import DomainError, ErrorCode
from server.domain.rows import get_or_not_found
from server.domain.tx import Tx
from server.storage.models import CommentRow

MAX_BODY = 50_000


def row(comment_id: str) -> CommentRow:
    return get_or_not_found(CommentRow, comment_id, "comment")


def list_for(task_id: str) -> list[entities_pb2.Comment]:
    tasks.row(task_id)
    rows = (
        CommentRow.select()
        .where(CommentRow.task_id == task_id)
        .order_by(CommentRow.created_at, CommentRow.id)
    )
    return [convert.comment(r) for r in rows]


def _own(tx: Tx, comment: CommentRow) -> None:
    if comment.author_id != tx.actor.member_id:
        raise DomainError(
            ErrorCode.ERROR_CODE_PERMISSION_DENIED, "only its author can change a comment"
        )


def add(tx: Tx, cmd: commands_pb2.AddComment) -> websocket_pb2.Ack:
    task = tasks.row(cmd.task_id)
    comment_id = validate.new_id("comment_id", cmd.comment_id)
    if CommentRow.get_or_none(CommentRow.id == comment_id) is not None:
        raise validate.invalid("comment_id", f"comment {comment_id} already exists")
    new = CommentRow.create(
        id=comment_id,
        task_id=task.id,
        project_id=task.project_id,
        author_id=tx.actor.member_id,
        body=validate.text("body", cmd.body, max_len=MAX_BODY, required=True),
        version=1,
        created_at=tx.now,
    )
    result = convert.comment(new)
    seq = tx.emit(
        task.project_id,
        "comment_added",
        events_pb2.CommentAdded(
            project_id=task.project_id, comment=result, actor_id=tx.actor.member_id
        ),
    )
    return websocket_pb2.Ack(seq=seq, comment=result)


def edit(tx: Tx, cmd: commands_pb2.EditComment) -> websocket_pb2.Ack:
    current = row(cmd.comment_id)
    _own(tx, current)
    body = validate.text("body", cmd.body, max_len=MAX_BODY, required=True)
    if current.body == body:
        return websocket_pb2.Ack(comment=convert.comment(current))
    if cmd.base_version and cmd.base_version != current.version:
        raise DomainError(
            ErrorCode.ERROR_CODE_CONFLICT,
            f"the comment changed since version {cmd.base_version}",
            current=convert.comment(current),
            conflicting_fields=["body"],
        )
    current.body = body
    current.edited_at = tx.now
    current.version += 1
    current.save(only=[CommentRow.body, CommentRow.edited_at, CommentRow.version])
    result = convert.comment(current)
    seq = tx.emit(
        current.project_id,
        "comment_updated",
        events_pb2.CommentUpdated(
            project_id=current.project_id, comment=result, actor_id=tx.actor.member_id
        ),
    )
    return websocket_pb2.Ack(seq=seq, comment=result)


def delete(tx: Tx, cmd: commands_pb2.DeleteComment) -> websocket_pb2.Ack:
    current = row(cmd.comment_id)
    _own(tx, current)
    result = convert.comment(current)
    trash.keep_comment(tx, current)
    current.delete_instance()
    seq = tx.emit(
        current.project_id,
        "comment_deleted",
        events_pb2.CommentDeleted(
            project_id=current.project_id,
            comment_id=current.id,
            task_id=current.task_id,
            actor_id=tx.actor.member_id,
        ),
    )
    return websocket_pb2.Ack(seq=seq, comment=result)


def list_command(_tx: Tx, cmd: commands_pb2.ListComments) -> websocket_pb2.Ack:
    return websocket_pb2.Ack(comments=websocket_pb2.CommentList(comments=list_for(cmd.task_id)))
