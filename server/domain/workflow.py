"""UpdateWorkflow: replace a project's columns; its tasks follow their column.

A task stays in the column it was in (by id): when that column moved to another category,
the task's status moves with it; when the column was removed, the task goes to the first
column of its status. Each task so changed is a TaskUpdated event of its own, after the
ProjectUpdated that announces the columns, so every client has the column before a task
names it.
"""

from __future__ import annotations

from tandem.v1 import commands_pb2, websocket_pb2

from server.domain import columns, projects, tasks
from server.domain.tx import Tx
from server.storage.models import TaskRow


def update(tx: Tx, cmd: commands_pb2.UpdateWorkflow) -> websocket_pb2.Ack:
    project = projects.row(cmd.project_id)
    before = columns.decode(project.columns)
    after = columns.checked(list(cmd.columns))
    ack = projects.apply(tx, project, {"columns": columns.encode(after)}, cmd.base_version)
    if not ack.seq:
        return ack
    kept = {c.id: c for c in after}
    for task in TaskRow.select().where(TaskRow.project_id == project.id).order_by(TaskRow.rank):
        was_in = columns.placed(before, task.status, task.column_id)
        if was_in in kept:
            status = int(kept[was_in].category)
            column_id = columns.stored_id(after, was_in)
        else:
            status, column_id = task.status, ""
        if (status, column_id) != (task.status, task.column_id):
            tasks.apply(tx, task, project.key, {"status": status, "column_id": column_id}, 0)
    return ack
