"""Projects: create, rename, describe, delete (to the trash), restore; and reading them.

A deleted project keeps its rows for the trash's 30 days, marked in ``project_trash``: every
read and command that finds projects through ``row`` then sees it gone (NOT_FOUND), as a
delete always did, until it is restored or purged (``trash.purge_expired``)."""

from __future__ import annotations

from typing import Any

import peewee as pw
from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.domain import convert, retention, validate
from server.domain.errors import DomainError, ErrorCode, not_found
from server.domain.rows import by_id, get_or_not_found
from server.domain.tx import FieldReader, Tx, masked_values, merge
from server.storage.models import ProjectRow, ProjectTrashRow


def row(project_id: str) -> ProjectRow:
    """The project; NOT_FOUND when there is none or it is in the trash."""
    found = get_or_not_found(ProjectRow, project_id, "project")
    if by_id(ProjectTrashRow, project_id) is not None:
        raise not_found("project", project_id)
    return found


def not_trashed() -> Any:
    """A condition on ProjectRow: the project is not in the trash."""
    marked = ProjectTrashRow.select(ProjectTrashRow.project_id).where(
        ProjectTrashRow.project_id == ProjectRow.id
    )
    return ~pw.fn.EXISTS(marked)


def get(project_id: str) -> entities_pb2.Project:
    return convert.project(row(project_id))


def list_all() -> list[entities_pb2.Project]:
    rows = ProjectRow.select().where(not_trashed()).order_by(ProjectRow.created_at)
    return [convert.project(r) for r in rows]


def _key_free(key: str, except_id: str = "") -> None:
    clash = ProjectRow.get_or_none((ProjectRow.key == key) & (ProjectRow.id != except_id))
    if clash is not None:
        trashed = by_id(ProjectTrashRow, clash.id) is not None
        where = " by a deleted project in the trash (restore it, or choose another key)"
        raise DomainError(
            ErrorCode.ERROR_CODE_ALREADY_EXISTS,
            f"project key {key} is taken{where if trashed else ''}",
            field="key",
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


def _purge_expired_holding(tx: Tx, project_id: str, key: str) -> None:
    """A deleted project past the trash's time that still holds this id or key goes now."""
    holding = ProjectRow.select(ProjectRow.id).where(
        (ProjectRow.id == project_id) | (ProjectRow.key == key)
    )
    expired = ProjectTrashRow.select(ProjectTrashRow.project_id).where(
        ProjectTrashRow.project_id.in_(holding)
        & (ProjectTrashRow.deleted_at < retention.cutoff(tx.now))
    )
    ProjectRow.delete().where(ProjectRow.id.in_(expired)).execute()


def create(tx: Tx, cmd: commands_pb2.CreateProject) -> websocket_pb2.Ack:
    p = cmd.project
    key = validate.project_key(p.key)
    name = validate.text("name", p.name, max_len=200, required=True)
    description = validate.text("description", p.description, max_len=20_000)
    project_id = validate.new_id("id", p.id)
    _purge_expired_holding(tx, project_id, key)
    if ProjectRow.get_or_none(ProjectRow.id == project_id) is not None:
        trashed = by_id(ProjectTrashRow, project_id) is not None
        where = " (deleted, in the trash: restore it instead)" if trashed else ""
        raise DomainError(
            ErrorCode.ERROR_CODE_ALREADY_EXISTS, f"project {project_id} exists{where}"
        )
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
    """To the trash: its board leaves every list and subscription; restorable for 30 days."""
    current = row(cmd.project_id)
    result = convert.project(current)
    ProjectTrashRow.create(project_id=current.id, deleted_at=tx.now, deleted_by=tx.actor.member_id)
    seq = tx.emit(
        current.id,
        "project_deleted",
        events_pb2.ProjectDeleted(project_id=current.id, actor_id=tx.actor.member_id),
    )
    return websocket_pb2.Ack(seq=seq, project=result)


def restore(tx: Tx, cmd: commands_pb2.RestoreProject, cutoff: int) -> websocket_pb2.Ack:
    """Back from the trash (deleted at or after ``cutoff``); one on the list already is
    answered as it is."""
    current = get_or_not_found(ProjectRow, cmd.project_id, "project")
    mark = by_id(ProjectTrashRow, current.id)
    result = convert.project(current)
    if mark is None:
        return websocket_pb2.Ack(project=result)
    if mark.deleted_at < cutoff:
        raise not_found("project", current.id)
    _key_free(current.key, current.id)
    mark.delete_instance()
    seq = tx.emit(
        current.id,
        "project_updated",
        events_pb2.ProjectUpdated(
            project_id=current.id, project=result, actor_id=tx.actor.member_id
        ),
    )
    return websocket_pb2.Ack(seq=seq, project=result)


def trashed(cutoff: int) -> list[tuple[entities_pb2.Project, ProjectTrashRow]]:
    """The deleted projects still restorable (deleted at or after ``cutoff``), newest first."""
    marks = (
        ProjectTrashRow.select()
        .where(ProjectTrashRow.deleted_at >= cutoff)
        .order_by(ProjectTrashRow.deleted_at.desc())
    )
    return [(convert.project(ProjectRow.get_by_id(m.project_id)), m) for m in marks]
