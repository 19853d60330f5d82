"""Bulk edit: many tasks of one project changed and deleted in one command (the list view's
"set status of these 40 tasks"), and many brought back in one (undoing a bulk delete). Each
part is the very change its single command makes (``tasks.update``; ``trash.trash_task``, so a
delete goes to the trash; ``archive.restore_task``), so validation, conflicts and events are
theirs; the command runs in one savepoint, so a refused part leaves every task as it was."""

from __future__ import annotations

from tandem.v1 import commands_pb2, websocket_pb2

from server.domain import archive, projects, tasks, trash
from server.domain.errors import invalid
from server.domain.rows import by_id
from server.domain.tx import Tx
from server.storage.models import TaskRow, TaskTrashRow

#: Most tasks one bulk edit may touch (updates and deletes together).
MAX_BULK_TASKS = 1000


def _check_count(field: str, ids: list[str], what: str) -> None:
    if not ids:
        raise invalid(field, f"name at least one task to {what}")
    if len(ids) > MAX_BULK_TASKS:
        raise invalid(field, f"a bulk edit takes at most {MAX_BULK_TASKS} tasks, not {len(ids)}")
    if len(set(ids)) != len(ids):
        raise invalid(field, "each task may be named once in a bulk edit")


def edit(tx: Tx, cmd: commands_pb2.BulkEditTasks) -> websocket_pb2.Ack:
    project = projects.row(cmd.project_id)
    ids = [u.task_id for u in cmd.updates] + list(cmd.delete_task_ids)
    _check_count("updates", ids, "change or delete")
    for task_id in ids:
        if tasks.row(task_id).project_id != project.id:
            raise invalid("updates", f"task {task_id} is not in this project")
    result = websocket_pb2.BulkEditResult()
    last_seq = 0
    for update in cmd.updates:
        ack = tasks.update(tx, update)
        result.tasks.append(ack.task)
        last_seq = ack.seq or last_seq
    for task_id in cmd.delete_task_ids:
        # A subtask named after its parent went with it (and is in its event).
        if TaskRow.get_or_none(TaskRow.id == task_id) is not None:
            last_seq = trash.trash_task(tx, commands_pb2.DeleteTask(task_id=task_id)).seq
        result.deleted_task_ids.append(task_id)
    return websocket_pb2.Ack(seq=last_seq, bulk=result)


def restore(tx: Tx, cmd: commands_pb2.RestoreTasks) -> websocket_pb2.Ack:
    """RestoreTasks: each task back from the trash or the archive, in the order given."""
    project = projects.row(cmd.project_id)
    ids = list(cmd.task_ids)
    _check_count("task_ids", ids, "restore")
    for task_id in ids:
        on_board = by_id(TaskRow, task_id)
        waiting = by_id(TaskTrashRow, task_id) if on_board is None else None
        if on_board is None and waiting is None:
            raise trash.gone(task_id)
        where = on_board.project_id if on_board is not None else waiting.project_id  # type: ignore[union-attr]
        if where != project.id:
            raise invalid("task_ids", f"task {task_id} is not in this project")
    result = websocket_pb2.BulkEditResult()
    last_seq = 0
    for task_id in ids:
        ack = archive.restore_task(tx, commands_pb2.RestoreTask(task_id=task_id))
        result.tasks.append(ack.task)
        last_seq = ack.seq or last_seq
    return websocket_pb2.Ack(seq=last_seq, bulk=result)
