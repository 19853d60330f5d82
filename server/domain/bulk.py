"""Bulk edit: many tasks of one project changed and deleted in one command (the list view's
"set status of these 40 tasks"). Each part is the very change its single command makes
(``tasks.update``; ``trash.trash_task``, so a delete goes to the trash), so validation,
conflicts and events are theirs; the command runs in one savepoint, so a refused part leaves
every task as it was."""

from __future__ import annotations

from tandem.v1 import commands_pb2, websocket_pb2

from server.domain import projects, tasks, trash
from server.domain.errors import invalid
from server.domain.tx import Tx
from server.storage.models import TaskRow

#: Most tasks one bulk edit may touch (updates and deletes together).
MAX_BULK_TASKS = 1000


def edit(tx: Tx, cmd: commands_pb2.BulkEditTasks) -> websocket_pb2.Ack:
    project = projects.row(cmd.project_id)
    count = len(cmd.updates) + len(cmd.delete_task_ids)
    if count == 0:
        raise invalid("updates", "name at least one task to change or delete")
    if count > MAX_BULK_TASKS:
        raise invalid("updates", f"a bulk edit takes at most {MAX_BULK_TASKS} tasks, not {count}")
    ids = [u.task_id for u in cmd.updates] + list(cmd.delete_task_ids)
    if len(set(ids)) != len(ids):
        raise invalid("updates", "each task may be named once in a bulk edit")
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
