"""The sprint ledger: what every event appended to the change log does to a sprint's scope,
written in the same transaction as the change itself.

The change log is trimmed to its recent history; a sprint's record must outlive that, so each
event is read once, as it is appended (``Tx.emit`` calls ``observe``), for the facts a
sprint's record is made of: a task joined or left a sprint, its estimate changed, it was done
or reopened, the sprint started or completed. ``sprint_reports`` replays those facts into the
record, and freezes it when the sprint completes.

The ledger reads events by their shape, not by their names: any event carrying tasks (a task
created, changed, or brought back) is compared with what the ledger last saw of each; any
event naming task ids that are gone (deleted, moved to the trash, archived) takes them out of
their sprint. So a new kind of event of either shape counts without a change here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from tandem.v1 import entities_pb2

from server.domain import rows, sprint_reports
from server.storage.models import SprintFactRow

DONE = entities_pb2.TaskStatus.TASK_STATUS_DONE
State = entities_pb2.SprintState

# Fields naming tasks an event took away (off the board: deleted, trashed, archived).
_GONE_FIELDS = frozenset({"task_id", "task_ids", "deleted_subtask_ids"})


def observe(project_id: str, kind: str, event: Any, now: int) -> None:
    """Record what one event appended to ``project_id``'s log does to its sprints."""
    if kind == "sprint_updated":
        _sprint_changed(project_id, event, now)
        return
    if kind.startswith(("comment", "project", "presence")):
        return  # comments name a task_id, but take nothing away from a sprint
    for task in _tasks_in(event):
        _task_seen(project_id, task, now)
    for task_id in _gone_in(event):
        _task_gone(project_id, task_id, now)


# Per kind of event (its descriptor): its Task fields and its gone-task-id fields, each with
# whether it is repeated; read from the descriptor once, not for every event.
_Fields = tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...]]
_FIELDS_OF: dict[Any, _Fields] = {}


def _fields_of(descriptor: Any) -> _Fields:
    found = _FIELDS_OF.get(descriptor)
    if found is None:
        tasks = tuple(
            (f.name, f.is_repeated)
            for f in descriptor.fields
            if f.message_type is entities_pb2.Task.DESCRIPTOR
        )
        gone = tuple(
            (f.name, f.is_repeated)
            for f in descriptor.fields
            if f.name in _GONE_FIELDS and f.type == FieldDescriptor.TYPE_STRING
        )
        found = _FIELDS_OF[descriptor] = (tasks, gone)
    return found


def _tasks_in(event: Any) -> Iterator[entities_pb2.Task]:
    for name, repeated in _fields_of(event.DESCRIPTOR)[0]:
        if repeated:
            yield from getattr(event, name)
        elif event.HasField(name):
            yield getattr(event, name)


def _gone_in(event: Any) -> Iterator[str]:
    for name, repeated in _fields_of(event.DESCRIPTOR)[1]:
        value = getattr(event, name)
        if repeated:
            yield from value
        elif value:
            yield value


def points_of(task: entities_pb2.Task) -> int:
    return task.story_points if task.HasField("story_points") else 0


# The ledger's statements, run for every task event (see rows: built once, kept prepared).
_SEEN = (
    "SELECT sprint_id, points, done, task_key, title, project_id FROM sprint_ledger_task"
    " WHERE task_id = ?"
)
_INSERT_SEEN = (
    "INSERT INTO sprint_ledger_task (sprint_id, points, done, task_key, title, project_id,"
    " task_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# What _SEEN reads, in its order: _update_seen compares a task with it column by column.
_SEEN_COLUMNS = ("sprint_id", "points", "done", "task_key", "title", "project_id")
# An update's statement per set of changed columns, made when first needed.
_UPDATES: dict[tuple[str, ...], str] = {}
_LEFT_SPRINT = "UPDATE sprint_ledger_task SET sprint_id = NULL WHERE task_id = ?"
_SPRINT_STATE = "SELECT state FROM sprint WHERE id = ?"
_FACT = (
    "INSERT INTO sprint_fact (project_id, sprint_id, task_id, at, kind, points, done)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _task_seen(project_id: str, task: entities_pb2.Task, now: int) -> None:
    seen = rows.execute(_SEEN, (task.id,)).fetchone()
    was_in = seen[0] if seen is not None else None
    was_points = int(seen[1]) if seen is not None else 0
    was_done = bool(seen[2]) if seen is not None else False
    now_in = task.sprint_id or None
    points = points_of(task)
    done = task.status == DONE
    if was_in != now_in:
        if was_in:
            _fact(project_id, was_in, task.id, now, "left", was_points, was_done)
        if now_in:
            _fact(project_id, now_in, task.id, now, "joined", points, done)
    elif now_in:
        if points != was_points:
            # An estimate changed while in the sprint: a change of scope, by the difference.
            _fact(project_id, now_in, task.id, now, "estimate", points - was_points, was_done)
        if done != was_done:
            _fact(project_id, now_in, task.id, now, "done" if done else "reopened", points, done)
    values = (now_in, points, int(done), task.key, task.title, project_id)
    if seen is None:
        if now_in is None:
            # Never in a sprint: no row. A report reads the rows of the tasks its facts
            # name, and a task's first fact is its joining, which writes its row (below);
            # until then nothing would read it (what a row says counts for a task that was
            # in a sprint only). Rows made for every task by V_SPRINT_REPORTS stay.
            return
        rows.execute(_INSERT_SEEN, (*values, task.id))
        return
    _update_seen(seen, values, task.id)


def _update_seen(seen: Any, values: tuple[Any, ...], task_id: str) -> None:
    """Write the columns that changed, and only those: SQLite leaves alone every index none
    of whose columns is set, so a retitled task writes the row's page and not the project
    index's (project_id is set only when it changed, as when an import brings a task id
    the ledger knew into another project)."""
    changed = [i for i, (old, new) in enumerate(zip(seen, values, strict=True)) if old != new]
    if not changed:
        return  # most edits (a description, a move on the board) change nothing here
    names = tuple(_SEEN_COLUMNS[i] for i in changed)
    sql = _UPDATES.get(names)
    if sql is None:
        sets = ", ".join(f"{name} = ?" for name in names)
        sql = _UPDATES[names] = f"UPDATE sprint_ledger_task SET {sets} WHERE task_id = ?"
    rows.execute(sql, (*(values[i] for i in changed), task_id))


def _task_gone(project_id: str, task_id: str, now: int) -> None:
    seen = rows.execute(_SEEN, (task_id,)).fetchone()
    if seen is None or not seen[0]:
        return
    _fact(project_id, seen[0], task_id, now, "left", int(seen[1]), bool(seen[2]))
    # Kept, out of every sprint, for its key and title in the records that name it.
    rows.execute(_LEFT_SPRINT, (task_id,))


def _fact(
    project_id: str, sprint_id: str, task_id: str, now: int, kind: str, points: int, done: bool
) -> None:
    state = rows.execute(_SPRINT_STATE, (sprint_id,)).fetchone()
    if state is None or state[0] == State.SPRINT_STATE_COMPLETED:
        return  # a finished sprint's record is frozen: later edits do not reach it
    rows.execute(_FACT, (project_id, sprint_id, task_id, now, kind, points, int(done)))


def _sprint_changed(project_id: str, event: Any, now: int) -> None:
    sprint = event.sprint
    if "state" not in event.update_mask.paths:
        return
    if sprint.state == State.SPRINT_STATE_ACTIVE:
        _fact(project_id, sprint.id, "", now, "started", 0, False)
    elif sprint.state == State.SPRINT_STATE_COMPLETED:
        carried = list(event.carried_over_task_ids)
        if carried:
            # The unfinished tasks left in the same change as the completion: carried over,
            # not removed from the scope.
            SprintFactRow.update(kind="carried").where(
                (SprintFactRow.sprint_id == sprint.id)
                & (SprintFactRow.task_id.in_(carried))
                & (SprintFactRow.at == now)
                & (SprintFactRow.kind == "left")
            ).execute()
        sprint_reports.freeze(sprint.id, event.carried_over_to_sprint_id, now)
