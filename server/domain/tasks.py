"""Tasks: create, update by field mask, move on the board, delete; listing with filters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import peewee as pw
from fractional_indexing import (  # type: ignore[import-untyped]
    FIError,
    generate_key_between,
    validate_order_key,
)
from tandem.v1 import api_pb2, commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import columns, convert, projects, validate
from server.domain.errors import invalid, not_found, precondition
from server.domain.rows import Reader, by_id, execute, get_or_not_found
from server.domain.tx import FieldReader, GroupLog, Tx, masked_values, merge
from server.storage import dialect
from server.storage.models import MemberRow, SprintRow, TaskArchiveRow, TaskRow

Status = entities_pb2.TaskStatus
Priority = entities_pb2.TaskPriority
STATUSES = range(Status.TASK_STATUS_BACKLOG, Status.TASK_STATUS_DONE + 1)
PRIORITIES = range(Priority.TASK_PRIORITY_NONE, Priority.TASK_PRIORITY_URGENT + 1)
MAX_PAGE = 1000
MAX_OFFSET = 2**31


def row(task_id: str) -> TaskRow:
    return get_or_not_found(TaskRow, task_id, "task")


def archived(task_id: str) -> bool:
    return by_id(TaskArchiveRow, task_id) is not None


def not_archived() -> Any:
    """A condition on TaskRow: the task is not in the archive."""
    marked = TaskArchiveRow.select(TaskArchiveRow.task_id).where(
        TaskArchiveRow.task_id == TaskRow.id
    )
    return ~pw.fn.EXISTS(marked)


# A task with its project's key (which its own key is made of): one lookup for a command.
_WITH_KEY = Reader(
    TaskRow, extra='"project"."key"', join='JOIN "project" ON "project"."id" = "task"."project_id"'
)


def row_and_key(task_id: str) -> tuple[TaskRow, str]:
    """The task ``task_id`` and its project's key; NOT_FOUND when there is no such task."""
    found = _WITH_KEY.one(task_id)
    if found is None:
        raise not_found("task", task_id)
    current, (project_key,) = found
    return current, str(project_key)


# The same, with whether the task is archived and its project in the trash: what a change
# to it needs to know, in one lookup.
_CHANGEABLE = Reader(
    TaskRow,
    extra='"project"."key", "task_archive"."task_id" IS NOT NULL,'
    ' "project_trash"."project_id" IS NOT NULL',
    join='JOIN "project" ON "project"."id" = "task"."project_id"'
    ' LEFT JOIN "task_archive" ON "task_archive"."task_id" = "task"."id"'
    ' LEFT JOIN "project_trash" ON "project_trash"."project_id" = "task"."project_id"',
)


def changeable(task_id: str, group: GroupLog | None = None) -> tuple[TaskRow, str]:
    """The task and its project's key, refused while it is archived (restore it to change
    it) or its project is in the trash. Read with the rest of ``group``'s, when given."""
    found = _CHANGEABLE.one(task_id) if group is None else group.row(_CHANGEABLE, task_id)
    if found is None:
        raise not_found("task", task_id)
    current, (project_key, is_archived, is_trashed) = found
    if is_archived:
        raise precondition("the task is archived: restore it to change it")
    if is_trashed:
        raise not_found("project", current.project_id)
    return current, str(project_key)


def to_proto(task: TaskRow, project_key: str | None = None) -> entities_pb2.Task:
    if project_key is None:
        project_key = projects.row(task.project_id).key
    return convert.task(task, project_key)


def get(task_id: str) -> entities_pb2.Task:
    return to_proto(row(task_id))


def _assignee(t: entities_pb2.Task, _project: str, _self: str) -> str | None:
    if not t.assignee_id:
        return None
    if MemberRow.get_or_none(MemberRow.id == t.assignee_id) is None:
        raise invalid("assignee_id", f"no member {t.assignee_id!r}")
    return t.assignee_id


def _sprint(t: entities_pb2.Task, project_id: str, _self: str) -> str | None:
    if not t.sprint_id:
        return None
    sprint = SprintRow.get_or_none(SprintRow.id == t.sprint_id)
    if sprint is None or sprint.project_id != project_id:
        raise invalid("sprint_id", f"no sprint {t.sprint_id!r} in this project")
    return t.sprint_id


def _parent(t: entities_pb2.Task, project_id: str, self_id: str) -> str | None:
    if not t.parent_task_id:
        return None
    parent = TaskRow.get_or_none(TaskRow.id == t.parent_task_id)
    if parent is None or parent.project_id != project_id:
        raise invalid("parent_task_id", f"no task {t.parent_task_id!r} in this project")
    # Walk up: the new parent must not be this task or one of its subtasks.
    seen: set[str] = set()
    cursor: TaskRow | None = parent
    while cursor is not None and cursor.id not in seen:
        if cursor.id == self_id:
            raise invalid("parent_task_id", "a task cannot be its own ancestor")
        seen.add(cursor.id)
        cursor = TaskRow.get_or_none(TaskRow.id == cursor.parent_task_id)
    return t.parent_task_id


def _points(t: entities_pb2.Task, _p: str, _s: str) -> int | None:
    if not t.HasField("story_points"):
        return None
    if not 0 <= t.story_points <= 1000:
        raise invalid("story_points", "story_points must be between 0 and 1000")
    return t.story_points


def _rank(t: entities_pb2.Task, _p: str, _s: str) -> str:
    # Only keys the ordering library made itself: anything else would break the next
    # insertion next to it (MoveTask is the way to reorder without knowing the scheme).
    valid = 0 < len(t.rank) <= 200 and t.rank.isascii() and t.rank.isalnum()
    if valid:
        try:
            validate_order_key(t.rank)
        except FIError:
            valid = False
    if not valid:
        raise invalid("rank", f"{t.rank!r} is not a rank this server made; use MoveTask")
    return t.rank


def _labels(t: entities_pb2.Task, project_id: str, task_id: str) -> str:
    """The task's labels, each spelt as the project's other tasks already spell it, so that a
    label differing from an existing one only in case joins it instead of becoming another."""
    wanted = validate.labels(list(t.labels))
    if not wanted:
        return "[]"
    folded = [label.lower() for label in wanted]
    marks = ", ".join("?" * len(folded))
    labels = dialect.current().json_each("t.labels", "j")
    cursor = execute(
        f"SELECT DISTINCT j.value FROM {TaskRow._meta.table_name} AS t, {labels}"
        f" WHERE t.project_id = ? AND t.id != ? AND lower(j.value) IN ({marks})",
        (project_id, task_id, *folded),
    )
    known: dict[str, str] = {}
    for (spelling,) in cursor.fetchall():
        known.setdefault(str(spelling).lower(), str(spelling))
    return json.dumps([known.get(label.lower(), label) for label in wanted])


def _column(t: entities_pb2.Task | commands_pb2.MoveTask, project_id: str, _self: str) -> str:
    if t.column_id:
        columns.find(columns.decode(projects.row(project_id).columns), t.column_id)
    return t.column_id


def _settle(project_id: str, values: dict[str, Any], current: TaskRow | None = None) -> None:
    """Keep status the category of the task's column: a column named sets the status; a
    status set alone puts the task in the first column of that status."""
    if values.get("column_id"):
        workflow = columns.decode(projects.row(project_id).columns)
        values["status"] = int(columns.find(workflow, values["column_id"]).category)
        values["column_id"] = columns.stored_id(workflow, values["column_id"])
    elif "status" in values and (current is None or values["status"] != current.status):
        values["column_id"] = ""


#: Each field an update may set, and how its value is read from a Task.
FIELDS: dict[str, FieldReader] = {
    "title": lambda t, _p, _s: validate.text("title", t.title, max_len=500, required=True),
    "description": lambda t, _p, _s: validate.text("description", t.description, max_len=100_000),
    "status": lambda t, _p, _s: validate.enum(
        "status", t.status, STATUSES, Status.TASK_STATUS_TODO
    ),
    "priority": lambda t, _p, _s: validate.enum(
        "priority", t.priority, PRIORITIES, Priority.TASK_PRIORITY_NONE
    ),
    "assignee_id": _assignee,
    "story_points": _points,
    "labels": _labels,
    "due_date": lambda t, _p, _s: validate.date("due_date", t.due_date),
    "sprint_id": _sprint,
    "parent_task_id": _parent,
    "rank": _rank,
    "column_id": _column,
}


def _last_rank(project_id: str) -> str | None:
    last = TaskRow.select(pw.fn.MAX(TaskRow.rank)).where(TaskRow.project_id == project_id).scalar()
    return str(last) if last is not None else None


def create(tx: Tx, cmd: commands_pb2.CreateTask) -> websocket_pb2.Ack:
    project = projects.row(cmd.project_id)
    t = cmd.task
    task_id = validate.new_id("id", t.id)
    if TaskRow.get_or_none(TaskRow.id == task_id) is not None:
        raise invalid("id", f"task {task_id} already exists")
    values = {name: read(t, project.id, task_id) for name, read in FIELDS.items() if name != "rank"}
    values["rank"] = (
        _rank(t, "", "") if t.rank else generate_key_between(_last_rank(project.id), None)
    )
    _settle(project.id, values)
    number = project.next_task_number
    project.next_task_number = number + 1
    project.save()
    new = TaskRow.create(
        id=task_id,
        project_id=project.id,
        number=number,
        version=1,
        created_at=tx.now,
        updated_at=tx.now,
        **values,
    )
    result = convert.task(new, project.key)
    seq = tx.emit(
        project.id,
        "task_created",
        events_pb2.TaskCreated(project_id=project.id, task=result, actor_id=tx.actor.member_id),
    )
    return websocket_pb2.Ack(seq=seq, task=result)


def apply(
    tx: Tx, current: TaskRow, project_key: str, values: dict[str, Any], base_version: int
) -> websocket_pb2.Ack:
    changed = merge(tx, current, values, base_version, lambda: to_proto(current, project_key))
    # The task made once and copied into the answer and the event (a message given to a
    # constructor is copied too, and costs more).
    result = convert.task(current, project_key)
    ack = websocket_pb2.Ack()
    ack.task.CopyFrom(result)
    if not changed:
        return ack
    project_id = current.__data__["project_id"]
    event = events_pb2.TaskUpdated(project_id=project_id, actor_id=tx.actor.member_id)
    event.task.CopyFrom(result)
    event.update_mask.paths.extend(changed)
    ack.seq = tx.emit(project_id, "task_updated", event)
    return ack


def update(tx: Tx, cmd: commands_pb2.UpdateTask) -> websocket_pb2.Ack:
    current, project_key = changeable(cmd.task_id, tx.log)
    values = masked_values(cmd.update_mask, FIELDS, cmd.task, current.project_id, current.id)
    _settle(current.project_id, values, current)
    return apply(tx, current, project_key, values, cmd.base_version)


def _neighbour_rank(task_id: str, project_id: str, field: str) -> str | None:
    if not task_id:
        return None
    found = TaskRow.get_or_none(TaskRow.id == task_id)
    if found is None or found.project_id != project_id:
        raise invalid(field, f"no task {task_id!r} in this project")
    return str(found.rank)


def move(tx: Tx, cmd: commands_pb2.MoveTask) -> websocket_pb2.Ack:
    current, project_key = changeable(cmd.task_id, tx.log)
    status = validate.enum("status", cmd.status, STATUSES, current.status)
    after = _neighbour_rank(cmd.after_task_id, current.project_id, "after_task_id")
    before = _neighbour_rank(cmd.before_task_id, current.project_id, "before_task_id")
    if after is not None and before is not None and after >= before:
        raise invalid("before_task_id", "after_task_id must come before before_task_id")
    # Into an empty column: keep the task's place in the project's overall order.
    empty = after is None and before is None
    rank = current.rank if empty else generate_key_between(after, before)
    values: dict[str, Any] = {"status": status, "rank": rank}
    if cmd.column_id:
        values["column_id"] = _column(cmd, current.project_id, current.id)
    _settle(current.project_id, values, current)
    return apply(tx, current, project_key, values, cmd.base_version)


def matches(text: str, project_key: str) -> Any:
    """A condition on TaskRow: its key, title or description contains ``text``."""
    # instr, not LIKE: the person's % and _ are plain characters. Case-insensitive for
    # ASCII, like the rest of SQLite's text matching.
    needle = text.lower()
    instr = getattr(pw.fn, dialect.current().find_substring)
    found = (instr(pw.fn.lower(TaskRow.title), needle) > 0) | (
        instr(pw.fn.lower(TaskRow.description), needle) > 0
    )
    prefix, _, number = text.strip().upper().rpartition("-")
    if prefix == project_key and number.isdigit():
        found = found | (TaskRow.number == int(number))
    return found


@dataclass(frozen=True)
class TaskFilter:
    status: int = 0
    assignee_id: str = ""
    sprint_id: str = ""
    label: str = ""
    text: str = ""
    # "exclude" (the board's tasks), "include" (with the archived ones) or "only".
    archived: str = "exclude"
    page_size: int = 100
    page_token: str = ""


def list_tasks(project_id: str, flt: TaskFilter) -> api_pb2.ListTasksResponse:
    project = projects.row(project_id)
    query = TaskRow.select().where(TaskRow.project_id == project_id)
    if flt.status:
        query = query.where(TaskRow.status == flt.status)
    if flt.assignee_id:
        query = query.where(TaskRow.assignee_id == flt.assignee_id)
    if flt.sprint_id == "none":
        query = query.where(TaskRow.sprint_id.is_null())
    elif flt.sprint_id:
        query = query.where(TaskRow.sprint_id == flt.sprint_id)
    if flt.label:
        before, after = dialect.current().json_each("\0", "j").split("\0")
        param = TaskRow._meta.database.param
        has_label = pw.NodeList(
            (
                pw.SQL(f"EXISTS (SELECT 1 FROM {before}"),
                TaskRow.labels,
                pw.SQL(f"{after} WHERE lower(j.value) = lower({param}))", [flt.label]),
            ),
            glue="",
        )
        query = query.where(has_label)
    if flt.text:
        query = query.where(matches(flt.text, project.key))
    if flt.archived == "exclude":
        query = query.where(not_archived())
    elif flt.archived == "only":
        query = query.where(~not_archived())
    elif flt.archived != "include":
        raise invalid("archived", "archived must be one of exclude, include, only")
    if not 1 <= flt.page_size <= MAX_PAGE:
        raise invalid("page_size", f"page_size must be between 1 and {MAX_PAGE}")
    try:
        offset = int(flt.page_token) if flt.page_token else 0
    except ValueError:
        raise invalid("page_token", "page_token is not one this server gave") from None
    if not 0 <= offset <= MAX_OFFSET:
        raise invalid("page_token", "page_token is not one this server gave")
    total = query.count()
    page = list(query.order_by(TaskRow.rank, TaskRow.id).offset(offset).limit(flt.page_size))
    next_offset = offset + len(page)
    return api_pb2.ListTasksResponse(
        tasks=[convert.task(r, project.key) for r in page],
        # Only ever forward: a damaged index can count rows the page cannot read, and a
        # token equal to the request's would keep a paging client asking forever.
        next_page_token=str(next_offset) if page and next_offset < total else "",
        total_size=total,
    )


# A snapshot reads every task of a project on the board (not archived): straight from SQLite
# as plain values by the model's fields (what convert.task reads from a row's __data__), it
# is built several times faster than through peewee's rows (whose per-value conversions are
# identities here).
_FIELDS = list(TaskRow._meta.sorted_fields)
_ALL_IN_PROJECT = (
    f"SELECT {', '.join(f.column_name for f in _FIELDS)} FROM {TaskRow._meta.table_name} AS t"
    " WHERE t.project_id = ? AND NOT EXISTS"
    f" (SELECT 1 FROM {TaskArchiveRow._meta.table_name} AS a WHERE a.task_id = t.id)"
    " ORDER BY t.rank"
)
_NAMES = [f.name for f in _FIELDS]


class _Plain:
    __slots__ = ("__data__",)

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.__data__ = dict(zip(_NAMES, values, strict=True))


def all_in_project(project_id: str, project_key: str) -> list[entities_pb2.Task]:
    cursor = execute(_ALL_IN_PROJECT, (project_id,))
    return [convert.task(cast(TaskRow, _Plain(values)), project_key) for values in cursor]
