"""Projects: create, rename, describe, delete; and reading them."""

from __future__ import annotations

from typing import Any

from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import convert, validate
from server.domain.errors import DomainError, ErrorCode
from server.domain.rows import get_or_not_found
from server.domain.tx import FieldReader, Tx, masked_values, merge
from server.storage.models import ProjectRow


def row(project_id: str) -> ProjectRow:
    return get_or_not_found(ProjectRow, project_id, "project")


def get(project_id: str) -> entities_pb2.Project:
    return convert.project(row(project_id))


def list_all() -> list[entities_pb2.Project]:
    return [convert.project(r) for r in ProjectRow.select().order_by(ProjectRow.created_at)]


def _key_free(key: str, except_id: str = "") -> None:
    clash = ProjectRow.get_or_none((ProjectRow.key == key) & (ProjectRow.id != except_id))
    if clash is not None:
        raise DomainError(
            ErrorCode.ERROR_CODE_ALREADY_EXISTS, f"project key {key} is taken", field="key"
        )


def _key(p: entities_pb2.Project, _project: str, self_id: str) -> str:
    key = validate.project_key(p.key)
    _key_free(key, self_id)
    return key


#: Each field an update may set, and how its value is read from a Project.
FIELDS: dict[str, FieldReader] = {
    "key": _key,
    "name": lambda p, _p, _s: validate.text("name", p.name, max_len=200, required=True),
    "description": lambda p, _p, _s: validate.text("description", p.description, max_len=20_000),
}


def create(tx: Tx, cmd: commands_pb2.CreateProject) -> websocket_pb2.Ack:
    p = cmd.project
    key = validate.project_key(p.key)
    name = validate.text("name", p.name, max_len=200, required=True)
    description = validate.text("description", p.description, max_len=20_000)
    project_id = validate.new_id("id", p.id)
    if ProjectRow.get_or_none(ProjectRow.id == project_id) is not None:
        raise DomainError(ErrorCode.ERROR_CODE_ALREADY_EXISTS, f"project {project_id} exists")
    _key_free(key)
    new = ProjectRow.create(
        id=project_id,
        key=key,
        name=name,
        description=description,
        version=1,
        created_at=tx.now,
        updated_at=tx.now,
    )
    tx.start_log(project_id)
    result = convert.project(new)
    seq = tx.emit(
        project_id,
        "project_updated",
        events_pb2.ProjectUpdated(
            project_id=project_id, project=result, actor_id=tx.actor.member_id
        ),
    )
    return websocket_pb2.Ack(seq=seq, project=result)


def update(tx: Tx, cmd: commands_pb2.UpdateProject) -> websocket_pb2.Ack:
    current = row(cmd.project_id)
    values = masked_values(cmd.update_mask, FIELDS, cmd.project, current.id, current.id)
    return apply(tx, current, values, cmd.base_version)


def apply(
    tx: Tx, current: ProjectRow, values: dict[str, Any], base_version: int
) -> websocket_pb2.Ack:
    """Set column values on the project (version-checked) and log the change; an ack with
    seq 0 when nothing changed."""
    changed = merge(tx, current, values, base_version, lambda: convert.project(current))
    result = convert.project(current)
    if not changed:
        return websocket_pb2.Ack(project=result)
    event = events_pb2.ProjectUpdated(
        project_id=current.id, project=result, actor_id=tx.actor.member_id
    )
    event.update_mask.paths.extend(changed)
    return websocket_pb2.Ack(seq=tx.emit(current.id, "project_updated", event), project=result)


def delete(tx: Tx, cmd: commands_pb2.DeleteProject) -> websocket_pb2.Ack:
    current = row(cmd.project_id)
    result = convert.project(current)
    seq = tx.emit(
        current.id,
        "project_deleted",
        events_pb2.ProjectDeleted(project_id=current.id, actor_id=tx.actor.member_id),
    )
    # Cascades to tasks, sprints, comments and the change log; the event above is still
    # published to subscribers after commit.
    current.delete_instance()
    return websocket_pb2.Ack(seq=seq, project=result)
