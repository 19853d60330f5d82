"""The trash: a deleted task (with its subtasks and comments) or comment waits here for
``TRASH_DAYS`` and can be restored where it was; then it is gone for good.

A trashed task leaves the task table, so every read that knows nothing of the trash (lists,
search, reports, GET of the task) sees it gone exactly as a delete always did. Its rows (the
tasks, their comments, their attachments' records, who watches them and the inbox items about
them) are kept as JSON, column by column, and put back by restore; references that no longer
hold (a sprint, an assignee, a parent or a watcher deleted meanwhile) are let go rather than
refused. The attachments' files stay in the data folder while an entry refers to them: their
hashes are also kept in a table of their own (``trash_file``, gone with the entry by cascade),
so the start's sweep reads those (``kept_hashes``) rather than every entry's JSON.

Expiry is a rule of every read (an entry older than ``TRASH_DAYS`` is not listed and cannot
be restored) and the rows themselves are removed by each trash command and by the domain's
periodic upkeep (``purge_expired``), both with the command clock, so a test controls it.
"""

from __future__ import annotations

import json
from typing import Any

from tandem.v1 import api_pb2, commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import convert, inbox, projects, retention, tasks
from server.domain.errors import DomainError, ErrorCode, precondition
from server.domain.retention import TRASH_DAYS, TRASH_MICROS
from server.domain.rows import by_id
from server.domain.tx import Tx
from server.storage.models import (
    AttachmentRow,
    CommentRow,
    CommentTrashRow,
    InboxItemRow,
    MemberRow,
    ProjectRow,
    ProjectTrashRow,
    SprintRow,
    TaskRow,
    TaskTrashRow,
    TaskWatchRow,
    TrashFileRow,
    put,
)

_cutoff = retention.cutoff


def purge_expired(now: int) -> int:
    """Remove the entries past their time (no event: no read shows them any more)."""
    cutoff = _cutoff(now)
    expired = ProjectTrashRow.select(ProjectTrashRow.project_id).where(
        ProjectTrashRow.deleted_at < cutoff
    )
    # A project goes with everything in it (by cascade), its change log too.
    gone = int(ProjectRow.delete().where(ProjectRow.id.in_(expired)).execute())
    gone += int(TaskTrashRow.delete().where(TaskTrashRow.deleted_at < cutoff).execute())
    gone += int(CommentTrashRow.delete().where(CommentTrashRow.deleted_at < cutoff).execute())
    return gone


def _columns(row: Any) -> dict[str, Any]:
    return dict(row.__data__)


def subtree(root: TaskRow) -> list[TaskRow]:
    """The task and every subtask under it, the task first."""
    found = [root]
    frontier = [root.id]
    while frontier:
        children = list(TaskRow.select().where(TaskRow.parent_task_id.in_(frontier)))
        found.extend(children)
        frontier = [c.id for c in children]
    return found


def trash_task(tx: Tx, cmd: commands_pb2.DeleteTask) -> websocket_pb2.Ack:
    """DeleteTask: the task and its subtasks leave the board for the trash."""
    current = tasks.row(cmd.task_id)
    # The items and watches the log still holds for it go to the trash with the others.
    inbox.catch_up(tx.deliveries, [current.project_id])
    result = tasks.to_proto(current)
    purge_expired(tx.now)
    family = subtree(current)
    ids = [t.id for t in family]
    comments = list(CommentRow.select().where(CommentRow.task_id.in_(ids)))
    files = list(AttachmentRow.select().where(AttachmentRow.task_id.in_(ids)))
    watches = list(TaskWatchRow.select().where(TaskWatchRow.task_id.in_(ids)))
    items = list(InboxItemRow.select().where(InboxItemRow.task_id.in_(ids)))
    TaskTrashRow.create(
        task_id=current.id,
        project_id=current.project_id,
        deleted_at=tx.now,
        deleted_by=tx.actor.member_id,
        task_count=len(family),
        comment_count=len(comments),
        rows=json.dumps(
            {
                "tasks": [_columns(t) for t in family],
                "comments": [_columns(c) for c in comments],
                "attachments": [_columns(a) for a in files],
                "watches": [_columns(w) for w in watches],
                "inbox": [_columns(i) for i in items],
            }
        ),
    )
    _keep_files(files, task_id=current.id)
    _put_away_items(tx, items)
    # Subtasks, comments, attachment records, watches and the archive mark go by cascade.
    current.delete_instance()
    seq = tx.emit(
        current.project_id,
        "task_deleted",
        events_pb2.TaskDeleted(
            project_id=current.project_id,
            task_id=current.id,
            actor_id=tx.actor.member_id,
            deleted_subtask_ids=ids[1:],
        ),
    )
    return websocket_pb2.Ack(seq=seq, task=result)


def _entry(task_id: str, now: int) -> TaskTrashRow | None:
    entry = by_id(TaskTrashRow, task_id)
    if entry is None or entry.deleted_at < _cutoff(now):
        return None
    return entry


def gone(task_id: str) -> DomainError:
    return DomainError(
        ErrorCode.ERROR_CODE_NOT_FOUND,
        f"task {task_id!r} is not in the trash: it was never deleted, or was deleted for good"
        f" (by Delete forever, or {TRASH_DAYS} days after it was deleted)",
        field="task_id",
    )


def _exists(model: Any, ident: str | None) -> bool:
    return ident is not None and by_id(model, ident) is not None


def restore_from_trash(tx: Tx, task_id: str) -> websocket_pb2.Ack:
    purge_expired(tx.now)
    entry = _entry(task_id, tx.now)
    if entry is None:
        raise gone(task_id)
    saved = json.loads(entry.rows)
    project = projects.row(entry.project_id)
    back = {t["id"] for t in saved["tasks"]}
    restored: list[TaskRow] = []
    for columns in saved["tasks"]:
        # What it pointed at may have gone meanwhile: let go of it rather than refuse.
        if not _exists(MemberRow, columns.get("assignee_id")):
            columns["assignee_id"] = None
        sprint = by_id(SprintRow, columns["sprint_id"]) if columns.get("sprint_id") else None
        if sprint is None or sprint.project_id != project.id:
            columns["sprint_id"] = None
        parent = columns.get("parent_task_id")
        if parent and parent not in back and not _exists(TaskRow, parent):
            columns["parent_task_id"] = None
        TaskRow.insert(**columns).execute()
        restored.append(TaskRow.get_by_id(columns["id"]))
    comments = []
    for columns in saved["comments"]:
        CommentRow.insert(**columns).execute()
        comments.append(convert.comment(CommentRow.get_by_id(columns["id"])))
    files = _put_back_attachments(saved.get("attachments", ()))
    for columns in saved.get("watches", ()):
        if _exists(MemberRow, columns["member_id"]):
            TaskWatchRow.insert(**columns).on_conflict_ignore().execute()
    _put_back_items(tx, saved.get("inbox", ()))
    entry.delete_instance()
    protos = [convert.task(r, project.key) for r in restored]
    seq = tx.emit(
        project.id,
        "tasks_restored",
        events_pb2.TasksRestored(
            project_id=project.id,
            tasks=protos,
            comments=comments,
            actor_id=tx.actor.member_id,
            from_trash=True,
            attachments=files,
        ),
    )
    return websocket_pb2.Ack(seq=seq, task=protos[0])


def _put_back_attachments(saved: Any) -> list[entities_pb2.Attachment]:
    """The attachment records kept in a trash entry, back in place (their files stayed)."""
    files = []
    for columns in saved:
        if not _exists(AttachmentRow, columns["id"]):
            AttachmentRow.insert(**columns).execute()
            files.append(convert.attachment(AttachmentRow.get_by_id(columns["id"])))
    return files


def _keep_files(
    files: list[AttachmentRow], task_id: str | None = None, comment_id: str | None = None
) -> None:
    rows = [{"sha256": a.sha256, "task_id": task_id, "comment_id": comment_id} for a in files]
    if rows:
        TrashFileRow.insert_many(rows).execute()


def _put_away_items(tx: Tx, items: list[InboxItemRow]) -> None:
    """The inbox items of tasks going to the trash leave the inboxes (kept in the entry):
    an item about a task nobody can open is noise, and it counts as unread no more."""
    if not items:
        return
    InboxItemRow.delete().where(InboxItemRow.id.in_([i.id for i in items])).execute()
    removed: dict[str, list[int]] = {}
    for item in items:
        removed.setdefault(item.member_id, []).append(item.id)
    for member_id, ids in removed.items():
        tx.deliveries.append(inbox.update_for(member_id, removed_item_ids=ids))


def _put_back_items(tx: Tx, saved: Any) -> None:
    """A restored task's inbox items, back read or unread as they were, in their places (a
    new number only when an item made meanwhile took theirs)."""
    back: dict[str, list[int]] = {}
    for columns in saved:
        member_id = columns["member_id"]
        told = InboxItemRow.select().where(
            (InboxItemRow.member_id == member_id) & (InboxItemRow.once_key == columns["once_key"])
        )
        if not _exists(MemberRow, member_id) or told.exists():
            continue
        if _exists(InboxItemRow, columns["id"]):
            columns = {k: v for k, v in columns.items() if k != "id"}
        back.setdefault(member_id, []).append(int(InboxItemRow.insert(**columns).execute()))
    for member_id, ids in back.items():
        rows = InboxItemRow.select().where(InboxItemRow.id.in_(ids)).order_by(InboxItemRow.id)
        items = [inbox.to_proto(r) for r in rows]
        tx.deliveries.append(inbox.update_for(member_id, items=items, restored=True))


def kept_hashes() -> set[str]:
    """The content hashes of attachments waiting in the trash: their files must stay."""
    hashes: Any = TrashFileRow.select(TrashFileRow.sha256).distinct().tuples()
    return {str(sha) for (sha,) in hashes}


def purge(tx: Tx, cmd: commands_pb2.PurgeTask) -> websocket_pb2.Ack:
    """Delete forever. Sent again with its id (message_id, Idempotency-Key) it is answered as
    the first time; without, a task no longer in the trash is NOT_FOUND, as for restore."""
    purge_expired(tx.now)
    if by_id(TaskRow, cmd.task_id) is not None:
        raise precondition("the task is on the board, not in the trash: delete it first")
    entry = _entry(cmd.task_id, tx.now)
    if entry is None:
        raise gone(cmd.task_id)
    result = _first_task(entry)
    entry.delete_instance()
    seq = tx.emit(
        entry.project_id,
        "trash_purged",
        events_pb2.TrashPurged(
            project_id=entry.project_id, task_ids=[entry.task_id], actor_id=tx.actor.member_id
        ),
    )
    return websocket_pb2.Ack(seq=seq, task=result)


def _first_task(entry: TaskTrashRow) -> entities_pb2.Task:
    """The deleted task as it was (the entry's first row)."""
    first = json.loads(entry.rows)["tasks"][0]
    return convert.task(TaskRow(**first), projects.row(entry.project_id).key)


def list_trash(project_id: str, now: int) -> api_pb2.ListTrashResponse:
    projects.row(project_id)  # NOT_FOUND for an unknown project
    entries = (
        TaskTrashRow.select()
        .where((TaskTrashRow.project_id == project_id) & (TaskTrashRow.deleted_at >= _cutoff(now)))
        .order_by(TaskTrashRow.deleted_at.desc(), TaskTrashRow.task_id)
    )
    out = api_pb2.ListTrashResponse()
    for entry in entries:
        out.tasks.add(
            task=_first_task(entry),
            deleted_by_id=entry.deleted_by,
            delete_time=convert.ts(entry.deleted_at),
            purge_time=convert.ts(entry.deleted_at + TRASH_MICROS),
            subtask_count=entry.task_count - 1,
            comment_count=entry.comment_count,
        )
    return out


# ---- comments ----------------------------------------------------------------------------


def keep_comment(tx: Tx, comment: CommentRow) -> None:
    """A comment about to be deleted is kept for restore, with its attachments' records."""
    purge_expired(tx.now)
    files = list(AttachmentRow.select().where(AttachmentRow.comment_id == comment.id))
    TrashFileRow.delete().where(TrashFileRow.comment_id == comment.id).execute()
    put(
        CommentTrashRow,
        comment_id=comment.id,
        project_id=comment.project_id,
        deleted_at=tx.now,
        deleted_by=tx.actor.member_id,
        row=json.dumps({"comment": _columns(comment), "attachments": [_columns(a) for a in files]}),
    )
    _keep_files(files, comment_id=comment.id)


def restore_comment(tx: Tx, cmd: commands_pb2.RestoreComment) -> websocket_pb2.Ack:
    existing = by_id(CommentRow, cmd.comment_id)
    if existing is not None:
        return websocket_pb2.Ack(comment=convert.comment(existing))
    purge_expired(tx.now)
    entry = by_id(CommentTrashRow, cmd.comment_id)
    if entry is None or entry.deleted_at < _cutoff(tx.now):
        raise DomainError(
            ErrorCode.ERROR_CODE_NOT_FOUND,
            f"comment {cmd.comment_id!r} is not in the trash (never deleted, or deleted more"
            f" than {TRASH_DAYS} days ago)",
            field="comment_id",
        )
    saved = json.loads(entry.row)
    columns = saved["comment"]
    if by_id(TaskRow, columns["task_id"]) is None:
        raise precondition("the comment's task is deleted: restore the task first")
    if columns["author_id"] != tx.actor.member_id:
        raise DomainError(
            ErrorCode.ERROR_CODE_PERMISSION_DENIED, "only its author can restore a comment"
        )
    CommentRow.insert(**columns).execute()
    files = _put_back_attachments(saved["attachments"])
    entry.delete_instance()
    result = convert.comment(CommentRow.get_by_id(columns["id"]))
    seq = tx.emit(
        result.project_id,
        "comment_restored",
        events_pb2.CommentRestored(
            project_id=result.project_id,
            comment=result,
            actor_id=tx.actor.member_id,
            attachments=files,
        ),
    )
    return websocket_pb2.Ack(seq=seq, comment=result)


# ---- projects ----------------------------------------------------------------------------


def restore_project(tx: Tx, cmd: commands_pb2.RestoreProject) -> websocket_pb2.Ack:
    purge_expired(tx.now)
    return projects.restore(tx, cmd, _cutoff(tx.now))


def list_trashed_projects(now: int) -> api_pb2.ListTrashedProjectsResponse:
    out = api_pb2.ListTrashedProjectsResponse()
    for project, mark in projects.trashed(_cutoff(now)):
        out.projects.add(
            project=project,
            deleted_by_id=mark.deleted_by,
            delete_time=convert.ts(mark.deleted_at),
            purge_time=convert.ts(mark.deleted_at + TRASH_MICROS),
        )
    return out
