"""The archive: done tasks and completed sprints put away from the board, kept whole and
restorable. An archived task stays in the task table (GET still finds it, its comments stay);
the board's snapshot and the task list leave it out unless asked (``archived``). It cannot be
changed until restored. Restoring from the trash or the archive is one command, RestoreTask.
"""

from __future__ import annotations

from tandem.v1 import api_pb2, commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import convert, projects, sprints, tasks, trash
from server.domain.errors import DomainError, ErrorCode, invalid, precondition
from server.domain.rows import by_id
from server.domain.tx import Tx
from server.storage.models import SprintArchiveRow, SprintRow, TaskArchiveRow, TaskRow

DONE = entities_pb2.TaskStatus.TASK_STATUS_DONE
COMPLETED = entities_pb2.SprintState.SPRINT_STATE_COMPLETED
MAX_SEARCH = 500


def _not_done(task: TaskRow) -> DomainError:
    return DomainError(
        ErrorCode.ERROR_CODE_FAILED_PRECONDITION,
        f"only a done task can be archived; {task.title!r} is not done",
        field="task_id",
    )


def _put_away(tx: Tx, roots: list[TaskRow], sprint_id: str | None) -> list[str]:
    """Marks the tasks and their subtasks archived; the ids, roots' subtrees in order."""
    ids: list[str] = []
    for root in roots:
        for t in trash.subtree(root):
            if by_id(TaskArchiveRow, t.id) is None:
                TaskArchiveRow.create(
                    task_id=t.id,
                    project_id=t.project_id,
                    archived_at=tx.now,
                    archived_by=tx.actor.member_id,
                    sprint_id=sprint_id,
                )
                ids.append(t.id)
    return ids


def _emit_archived(tx: Tx, project_id: str, ids: list[str], sprint_id: str = "") -> int:
    return tx.emit(
        project_id,
        "tasks_archived",
        events_pb2.TasksArchived(
            project_id=project_id, task_ids=ids, actor_id=tx.actor.member_id, sprint_id=sprint_id
        ),
    )


def archive_task(tx: Tx, cmd: commands_pb2.ArchiveTask) -> websocket_pb2.Ack:
    current = tasks.row(cmd.task_id)
    result = tasks.to_proto(current)
    if tasks.archived(current.id):
        return websocket_pb2.Ack(task=result)
    if current.status != DONE:
        raise _not_done(current)
    ids = _put_away(tx, [current], None)
    return websocket_pb2.Ack(seq=_emit_archived(tx, current.project_id, ids), task=result)


def archive_done(tx: Tx, cmd: commands_pb2.ArchiveDoneTasks) -> websocket_pb2.Ack:
    project = projects.row(cmd.project_id)
    if cmd.task_ids:
        roots = []
        for task_id in dict.fromkeys(cmd.task_ids):
            found = by_id(TaskRow, task_id)
            if found is None or found.project_id != project.id:
                raise invalid("task_ids", f"no task {task_id!r} in this project")
            if found.status != DONE:
                raise _not_done(found)
            roots.append(found)
    else:
        roots = list(
            TaskRow.select()
            .where(
                (TaskRow.project_id == project.id)
                & (TaskRow.status == DONE)
                & TaskRow.parent_task_id.is_null()
                & tasks.not_archived()
            )
            .order_by(TaskRow.rank)
        )
    ids = _put_away(tx, roots, None)
    done = websocket_pb2.TaskIdList(task_ids=ids)
    if not ids:
        return websocket_pb2.Ack(archived=done)
    return websocket_pb2.Ack(seq=_emit_archived(tx, project.id, ids), archived=done)


def sprint_archived(sprint_id: str) -> bool:
    return by_id(SprintArchiveRow, sprint_id) is not None


def archive_sprint(tx: Tx, cmd: commands_pb2.ArchiveSprint) -> websocket_pb2.Ack:
    current = sprints.row(cmd.sprint_id)
    result = convert.sprint(current)
    if sprint_archived(current.id):
        return websocket_pb2.Ack(sprint=result)
    if current.state != COMPLETED:
        raise precondition("only a completed sprint can be archived: complete it first")
    members = list(TaskRow.select().where((TaskRow.sprint_id == current.id) & tasks.not_archived()))
    open_tasks = [t for t in members if t.status != DONE]
    if open_tasks:
        raise precondition(
            f"{len(open_tasks)} of the sprint's tasks are not done: finish them or move them"
            " to another sprint first"
        )
    SprintArchiveRow.create(
        sprint_id=current.id,
        project_id=current.project_id,
        archived_at=tx.now,
        archived_by=tx.actor.member_id,
    )
    ids = _put_away(tx, members, current.id)
    seq = _emit_archived(tx, current.project_id, ids, current.id)
    return websocket_pb2.Ack(seq=seq, sprint=result)


def _emit_restored(
    tx: Tx, project_id: str, rows: list[TaskRow], sprint: entities_pb2.Sprint | None = None
) -> int:
    key = projects.row(project_id).key
    event = events_pb2.TasksRestored(
        project_id=project_id,
        tasks=[convert.task(r, key) for r in rows],
        actor_id=tx.actor.member_id,
    )
    if sprint is not None:
        event.sprint.CopyFrom(sprint)
    return tx.emit(project_id, "tasks_restored", event)


def unarchive_sprint(tx: Tx, cmd: commands_pb2.UnarchiveSprint) -> websocket_pb2.Ack:
    current = sprints.row(cmd.sprint_id)
    result = convert.sprint(current)
    mark = by_id(SprintArchiveRow, current.id)
    if mark is None:
        return websocket_pb2.Ack(sprint=result)
    mark.delete_instance()
    with_it = [
        m.task_id for m in TaskArchiveRow.select().where(TaskArchiveRow.sprint_id == current.id)
    ]
    TaskArchiveRow.delete().where(TaskArchiveRow.sprint_id == current.id).execute()
    rows = list(TaskRow.select().where(TaskRow.id.in_(with_it)).order_by(TaskRow.rank))
    seq = _emit_restored(tx, current.project_id, rows, result)
    return websocket_pb2.Ack(seq=seq, sprint=result)


def restore_task(tx: Tx, cmd: commands_pb2.RestoreTask) -> websocket_pb2.Ack:
    """From the archive or the trash; a task already on the board is answered as it is."""
    current = by_id(TaskRow, cmd.task_id)
    if current is None:
        return trash.restore_from_trash(tx, cmd.task_id)
    result = tasks.to_proto(current)
    if not tasks.archived(current.id):
        return websocket_pb2.Ack(task=result)
    family = trash.subtree(current)
    TaskArchiveRow.delete().where(TaskArchiveRow.task_id.in_([t.id for t in family])).execute()
    return websocket_pb2.Ack(seq=_emit_restored(tx, current.project_id, family), task=result)


def list_archive(project_id: str, text: str) -> api_pb2.ListArchiveResponse:
    """Archived tasks (those whose parent is not archived with them) and sprints, newest
    first; ``text`` narrows the tasks as the task list's ``q`` does."""
    project = projects.row(project_id)
    marks = {
        m.task_id: m for m in TaskArchiveRow.select().where(TaskArchiveRow.project_id == project.id)
    }
    query = TaskRow.select().where((TaskRow.project_id == project.id) & ~tasks.not_archived())
    if text:
        query = query.where(tasks.matches(text, project.key))
    found = list(query)
    found.sort(key=lambda r: (-marks[r.id].archived_at, r.rank))
    out = api_pb2.ListArchiveResponse()
    listed = {r.id for r in found}
    for r in found[:MAX_SEARCH]:
        if r.parent_task_id in listed:
            continue  # listed under its parent, archived with it
        mark = marks[r.id]
        out.tasks.add(
            task=convert.task(r, project.key),
            archived_by_id=mark.archived_by,
            archive_time=convert.ts(mark.archived_at),
            sprint_id=mark.sprint_id or "",
        )
    for put_away in (
        SprintArchiveRow.select()
        .where(SprintArchiveRow.project_id == project.id)
        .order_by(SprintArchiveRow.archived_at.desc())
    ):
        sprint = SprintRow.get_by_id(put_away.sprint_id)
        with_it = TaskArchiveRow.sprint_id == put_away.sprint_id
        count = TaskArchiveRow.select().where(with_it).count()
        out.sprints.add(
            sprint=convert.sprint(sprint),
            archived_by_id=put_away.archived_by,
            archive_time=convert.ts(put_away.archived_at),
            task_count=count,
        )
    return out
