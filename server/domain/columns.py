"""A project's workflow: its board columns, each in one of the five status categories.

``Task.status`` always holds the category of the task's column, so sprints, burndown and
velocity count by status whatever the columns are called. A task's ``column_id`` is empty
while it sits in the first column of its status (every task of a project whose workflow was
never changed), so the five default columns need nothing stored. Pure functions of the
stored values: no database access, so ``convert`` and ``tasks`` can both use them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Final

from tandem.v1 import entities_pb2

from server.domain.errors import invalid

Status = entities_pb2.TaskStatus
Column = entities_pb2.WorkflowColumn

#: The columns of a project whose workflow was never changed: today's five statuses.
DEFAULT_COLUMNS: Final[tuple[tuple[str, str, int], ...]] = (
    ("backlog", "Backlog", Status.TASK_STATUS_BACKLOG),
    ("todo", "To do", Status.TASK_STATUS_TODO),
    ("in_progress", "In progress", Status.TASK_STATUS_IN_PROGRESS),
    ("in_review", "In review", Status.TASK_STATUS_IN_REVIEW),
    ("done", "Done", Status.TASK_STATUS_DONE),
)
CATEGORIES: Final = range(Status.TASK_STATUS_BACKLOG, Status.TASK_STATUS_DONE + 1)
MAX_COLUMNS: Final = 30
MAX_NAME_LENGTH: Final = 60
_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def defaults() -> list[Column]:
    return [Column(id=i, name=n, category=Status.ValueType(c)) for i, n, c in DEFAULT_COLUMNS]


def decode(stored: str) -> list[Column]:
    """The columns as stored on the project row ("" for the defaults)."""
    if not stored:
        return defaults()
    return [
        Column(
            id=c["id"], name=c["name"], category=Status.ValueType(c["category"]), hidden=c["hidden"]
        )
        for c in json.loads(stored)
    ]


def encode(columns: Sequence[Column]) -> str:
    """What to store: "" while the columns are the defaults, so they stay the defaults."""
    if list(columns) == defaults():
        return ""
    return json.dumps(
        [
            {"id": c.id, "name": c.name, "category": int(c.category), "hidden": c.hidden}
            for c in columns
        ],
        separators=(",", ":"),
    )


def first_of(columns: Sequence[Column], status: int) -> str:
    """The id of the first column of a category (where a task with no column_id sits)."""
    return next(c.id for c in columns if c.category == status)


def placed(columns: Sequence[Column], status: int, column_id: str) -> str:
    """The column a task with this status and stored column_id is in."""
    if column_id and any(c.id == column_id for c in columns):
        return column_id
    return first_of(columns, status)


def stored_id(columns: Sequence[Column], column_id: str) -> str:
    """What a task in ``column_id`` stores: empty for the first column of its category."""
    column = find(columns, column_id)
    return "" if first_of(columns, column.category) == column.id else column.id


def find(columns: Sequence[Column], column_id: str, field: str = "column_id") -> Column:
    for column in columns:
        if column.id == column_id:
            return column
    raise invalid(field, f"no column {column_id!r} in this project's workflow")


def checked(given: Sequence[Column]) -> list[Column]:
    """A new list of columns from a client, checked; new columns (no id) get one."""
    if not 1 <= len(given) <= MAX_COLUMNS:
        raise invalid("columns", f"a workflow has 1 to {MAX_COLUMNS} columns")
    out: list[Column] = []
    ids: set[str] = set()
    names: set[str] = set()
    for column in given:
        column_id = column.id or uuid.uuid4().hex[:12]
        if not _ID_RE.match(column_id):
            raise invalid("columns", "a column id is 1-64 letters, digits, '-' or '_'")
        if column_id in ids:
            raise invalid("columns", f"two columns have the id {column_id!r}")
        name = column.name.strip()
        if not name or len(name) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in name):
            raise invalid("columns", f"a column name is 1-{MAX_NAME_LENGTH} printable characters")
        if name.casefold() in names:
            raise invalid("columns", f"two columns are called {name!r}")
        if column.category not in CATEGORIES:
            raise invalid("columns", f"column {name!r} needs a status category")
        ids.add(column_id)
        names.add(name.casefold())
        out.append(Column(id=column_id, name=name, category=column.category, hidden=column.hidden))
    missing = [
        Status.Name(Status.ValueType(s))
        for s in CATEGORIES
        if not any(c.category == s for c in out)
    ]
    if missing:
        raise invalid("columns", f"every status needs a column; none for {', '.join(missing)}")
    return out
