"""Sprints: plan, change, start (one active at a time), complete with carry-over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import peewee as pw
from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import convert, projects, tasks, validate
from server.domain.errors import precondition
from server.domain.rows import get_or_not_found
from server.domain.tx import FieldReader, Tx, masked_values, merge
from server.storage.models import SprintArchiveRow, SprintRow, TaskRow

State = entities_pb2.SprintState

#: Each field an update may set, and how its value is read from a Sprint.
FIELDS: dict[str, FieldReader] = {
    "name": lambda s, _p, _i: validate.text("name", s.name, max_len=200, required=True),
    "goal": lambda s, _p, _i: validate.text("goal", s.goal, max_len=5000),
    "start_date": lambda s, _p, _i: validate.date("start_date", s.start_date),
    "end_date": lambda s, _p, _i: validate.date("end_date", s.end_date),
    "capacity": lambda s, _p, _i: _capacity(s),
}

#: The most points a sprint's capacity may be.
MAX_CAPACITY = 100_000


def _capacity(s: entities_pb2.Sprint) -> int | None:
    if not s.HasField("capacity"):
        return None
    if not 0 <= s.capacity <= MAX_CAPACITY:
        raise validate.invalid("capacity", f"capacity must be between 0 and {MAX_CAPACITY} points")
    return s.capacity


def row(sprint_id: str) -> SprintRow:
    return get_or_not_found(SprintRow, sprint_id, "sprint")


def get(sprint_id: str) -> entities_pb2.Sprint:
    return convert.sprint(row(sprint_id))


def list_for(project_id: str) -> list[entities_pb2.Sprint]:
    projects.row(project_id)
    archived = SprintArchiveRow.select(SprintArchiveRow.sprint_id).where(
        SprintArchiveRow.sprint_id == SprintRow.id
    )
    rows = (
        SprintRow.select()
        .where((SprintRow.project_id == project_id) & ~pw.fn.EXISTS(archived))
        .order_by(SprintRow.created_at, SprintRow.id)
    )
    return [convert.sprint(r) for r in rows]


def _dates(start: str, end: str) -> None:
    if start and end and end < start:
        raise validate.invalid("end_date", "end_date is before start_date")


def _emit(
    tx: Tx, sprint: SprintRow, changed: list[str], carried: Sequence[str] = (), to: str = ""
) -> websocket_pb2.Ack:
    result = convert.sprint(sprint)
    event = events_pb2.SprintUpdated(
        project_id=sprint.project_id,
        sprint=result,
        actor_id=tx.actor.member_id,
        carried_over_task_ids=carried,
        carried_over_to_sprint_id=to,
    )
    event.update_mask.paths.extend(changed)
    return websocket_pb2.Ack(seq=tx.emit(sprint.project_id, "sprint_updated", event), sprint=result)


def create(tx: Tx, cmd: commands_pb2.CreateSprint) -> websocket_pb2.Ack:
    project = projects.row(cmd.project_id)
    s = cmd.sprint
    start = validate.date("start_date", s.start_date)
    end = validate.date("end_date", s.end_date)
    _dates(start, end)
    new = SprintRow.create(
        id=validate.new_id("id", s.id),
        project_id=project.id,
        name=validate.text("name", s.name, max_len=200, required=True),
        goal=validate.text("goal", s.goal, max_len=5000),
        state=State.SPRINT_STATE_PLANNED,
        start_date=start,
        end_date=end,
        capacity=_capacity(s),
        version=1,
        created_at=tx.now,
        updated_at=tx.now,
    )
    return _emit(tx, new, [])


def update(tx: Tx, cmd: commands_pb2.UpdateSprint) -> websocket_pb2.Ack:
    current = row(cmd.sprint_id)
    values = masked_values(cmd.update_mask, FIELDS, cmd.sprint, current.project_id, current.id)
    _dates(values.get("start_date", current.start_date), values.get("end_date", current.end_date))
    changed = merge(tx, current, values, cmd.base_version, lambda: convert.sprint(current))
    if not changed:
        return websocket_pb2.Ack(sprint=convert.sprint(current))
    return _emit(tx, current, changed)


def start(tx: Tx, cmd: commands_pb2.StartSprint) -> websocket_pb2.Ack:
    current = row(cmd.sprint_id)
    if current.state != State.SPRINT_STATE_PLANNED:
        raise precondition("only a planned sprint can be started")
    active = SprintRow.get_or_none(
        (SprintRow.project_id == current.project_id)
        & (SprintRow.state == State.SPRINT_STATE_ACTIVE)
    )
    if active is not None:
        raise precondition(f"sprint {active.name!r} is already active; complete it first")
    values: dict[str, object] = {"state": State.SPRINT_STATE_ACTIVE}
    if not current.start_date:
        values["start_date"] = _today(tx)
    # Through merge, so the fields' versions move too: an edit based on the planned sprint
    # that sets start_date again is then a conflict, not a silent overwrite.
    changed = merge(tx, current, values, 0, lambda: convert.sprint(current))
    return _emit(tx, current, changed)


def _today(tx: Tx) -> str:
    return dt.datetime.fromtimestamp(tx.now / 1e6, dt.UTC).date().isoformat()


def complete(tx: Tx, cmd: commands_pb2.CompleteSprint) -> websocket_pb2.Ack:
    current = row(cmd.sprint_id)
    if current.state != State.SPRINT_STATE_ACTIVE:
        raise precondition("only an active sprint can be completed")
    target = cmd.move_open_tasks_to_sprint_id
    if target:
        dest = row(target)
        if dest.project_id != current.project_id or dest.state == State.SPRINT_STATE_COMPLETED:
            raise validate.invalid(
                "move_open_tasks_to_sprint_id", "open tasks can only move to a sprint not yet done"
            )
    open_tasks = list(
        TaskRow.select().where(
            (TaskRow.sprint_id == current.id)
            & (TaskRow.status != entities_pb2.TaskStatus.TASK_STATUS_DONE)
        )
    )
    project_key = projects.row(current.project_id).key
    for task in open_tasks:
        # Each carried task gets its own event, so every client's copy stays exact.
        tasks.apply(tx, task, project_key, {"sprint_id": target or None}, 0)
    values = {"state": State.SPRINT_STATE_COMPLETED, "completed_at": tx.now}
    merge(tx, current, values, 0, lambda: convert.sprint(current))
    return _emit(tx, current, ["state"], [t.id for t in open_tasks], target)
