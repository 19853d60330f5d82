"""Labels managed per project: colours, and renaming or merging a label on every task.

A label is the string on tasks, one label whatever its case (``tasks._labels`` spells a new one
as the project already does). Colours live in the ``label`` table; renames change the tasks
through ``tasks.apply``, so each changed task's event is the one an edit of its labels sends.
"""

from __future__ import annotations

import json
import re

from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import projects, rows, tasks, validate
from server.domain.errors import invalid
from server.domain.tx import Tx
from server.storage import dialect
from server.storage.models import LabelRow, TaskRow

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def _key(project_id: str, label: str) -> str:
    return f"{project_id}/{label.lower()}"


def list_for(project_id: str) -> list[entities_pb2.Label]:
    rows = LabelRow.select().where(LabelRow.project_id == project_id).order_by(LabelRow.name)
    return [entities_pb2.Label(name=r.name, color=r.color) for r in rows]


def _changed(tx: Tx, project_id: str) -> websocket_pb2.Ack:
    current = list_for(project_id)
    event = events_pb2.LabelsChanged(
        project_id=project_id, labels=current, actor_id=tx.actor.member_id
    )
    seq = tx.emit(project_id, "labels_changed", event)
    return websocket_pb2.Ack(seq=seq, labels=websocket_pb2.LabelList(labels=current))


def set_color(tx: Tx, cmd: commands_pb2.SetLabelColor) -> websocket_pb2.Ack:
    project = projects.row(cmd.project_id)
    name = validate.label("label", cmd.label)
    if cmd.color and not COLOR_RE.match(cmd.color):
        raise invalid("color", "color must be like #3b82f6")
    key = _key(project.id, name)
    LabelRow.delete().where(LabelRow.id == key).execute()
    if cmd.color:
        # Spelt as the project's tasks spell it, when some task carries it.
        spelling = _spellings(project.id).get(name.lower(), name)
        LabelRow.create(id=key, project_id=project.id, name=spelling, color=cmd.color.lower())
    return _changed(tx, project.id)


def _spellings(project_id: str) -> dict[str, str]:
    """Each label of the project by its folded form, spelt as its first task spells it."""
    labels = dialect.current().json_each("t.labels", "j")
    cursor = rows.execute(
        f"SELECT DISTINCT j.value FROM {TaskRow._meta.table_name} AS t, {labels}"
        " WHERE t.project_id = ?",
        (project_id,),
    )
    found: dict[str, str] = {}
    for (spelling,) in cursor.fetchall():
        found.setdefault(str(spelling).lower(), str(spelling))
    return found


def rename(tx: Tx, cmd: commands_pb2.RenameLabel) -> websocket_pb2.Ack:
    project = projects.row(cmd.project_id)
    old = validate.label("label", cmd.label)
    new = validate.label("new_name", cmd.new_name)
    known = _spellings(project.id)
    old_key = old.lower()
    colored = LabelRow.get_or_none(LabelRow.id == _key(project.id, old))
    if old_key not in known and colored is None:
        raise invalid("label", f"no label {old!r} in this project")
    # Into a label the project has: its spelling, and its colour, win (a merge).
    merging = new.lower() != old_key and new.lower() in known
    target = known[new.lower()] if merging else new
    holders = TaskRow.select().where((TaskRow.project_id == project.id) & (TaskRow.labels != "[]"))
    for row in holders:
        labels: list[str] = json.loads(row.labels)
        if not any(label.lower() == old_key for label in labels):
            continue
        renamed: list[str] = []
        for label in labels:
            spelt = target if label.lower() in (old_key, target.lower()) else label
            if spelt.lower() not in (x.lower() for x in renamed):
                renamed.append(spelt)
        tasks.apply(tx, row, project.key, {"labels": json.dumps(renamed)}, 0)
    target_color = LabelRow.get_or_none(LabelRow.id == _key(project.id, target))
    if colored is not None:
        colored.delete_instance()
        if target_color is None or target.lower() == old_key:
            LabelRow.create(
                id=_key(project.id, target),
                project_id=project.id,
                name=target,
                color=colored.color,
            )
    elif target_color is not None and target_color.name != target:
        target_color.name = target
        target_color.save()
    return _changed(tx, project.id)
