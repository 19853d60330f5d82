"""Rows to protobuf entities. Times are stored as integer microseconds since the epoch (UTC)."""

from __future__ import annotations

import json

from google.protobuf.timestamp_pb2 import Timestamp
from tandem.v1 import entities_pb2

from server.domain import columns
from server.storage.models import (
    AttachmentRow,
    CommentRow,
    MemberRow,
    ProjectRow,
    SprintRow,
    TaskRow,
)

Status = entities_pb2.TaskStatus
Priority = entities_pb2.TaskPriority
State = entities_pb2.SprintState
Role = entities_pb2.MemberRole


def ts(micros: int | None) -> Timestamp | None:
    if micros is None:
        return None
    # What Timestamp.FromMicroseconds does, without its Python-level steps.
    seconds, micro = divmod(micros, 1_000_000)
    return Timestamp(seconds=seconds, nanos=micro * 1000)


def project(row: ProjectRow) -> entities_pb2.Project:
    return entities_pb2.Project(
        id=row.id,
        key=row.key,
        name=row.name,
        description=row.description,
        version=row.version,
        create_time=ts(row.created_at),
        update_time=ts(row.updated_at),
        columns=columns.decode(row.columns),
    )


def _labels(text: str) -> list[str]:
    # Most tasks have none: their "[]" needs no JSON parser.
    return [] if text == "[]" else json.loads(text)


def _set_time(stamp: Timestamp, micros: int | None) -> None:
    # In place, what ts() makes: no Timestamp built to be copied into the message.
    if micros is not None:
        stamp.seconds, micro = divmod(micros, 1_000_000)
        stamp.nanos = micro * 1000


def task(row: TaskRow, project_key: str) -> entities_pb2.Task:
    # The row's values as loaded (what its attributes return), read without a descriptor each.
    d = row.__data__
    msg = entities_pb2.Task(
        id=d.get("id"),
        project_id=d.get("project_id"),
        key=f"{project_key}-{d.get('number')}",
        title=d.get("title"),
        description=d.get("description"),
        status=d.get("status"),
        priority=d.get("priority"),
        assignee_id=d.get("assignee_id") or "",
        labels=_labels(d.get("labels")),
        due_date=d.get("due_date"),
        sprint_id=d.get("sprint_id") or "",
        parent_task_id=d.get("parent_task_id") or "",
        rank=d.get("rank"),
        column_id=d.get("column_id") or "",
        version=d.get("version"),
    )
    _set_time(msg.create_time, d.get("created_at"))
    _set_time(msg.update_time, d.get("updated_at"))
    if d.get("story_points") is not None:
        msg.story_points = d["story_points"]
    return msg


def sprint(row: SprintRow) -> entities_pb2.Sprint:
    return entities_pb2.Sprint(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        goal=row.goal,
        state=State.ValueType(row.state),
        start_date=row.start_date,
        end_date=row.end_date,
        version=row.version,
        create_time=ts(row.created_at),
        update_time=ts(row.updated_at),
        complete_time=ts(row.completed_at),
        capacity=row.capacity,
    )


def comment(row: CommentRow) -> entities_pb2.Comment:
    return entities_pb2.Comment(
        id=row.id,
        task_id=row.task_id,
        project_id=row.project_id,
        author_id=row.author_id,
        body=row.body,
        version=row.version,
        create_time=ts(row.created_at),
        edit_time=ts(row.edited_at),
    )


def member(row: MemberRow) -> entities_pb2.Member:
    return member_of(row.id, row.display_name, row.color, row.role, row.client_id)


def member_of(
    member_id: str, display_name: str, color: str, role: int, client_id: str | None
) -> entities_pb2.Member:
    """A member from its row's columns (as a statement of its own reads them)."""
    return entities_pb2.Member(
        id=member_id,
        display_name=display_name,
        color=color,
        role=Role.ValueType(role),
        # Browsers have a client id and invitees are editors or viewers: an owner with neither
        # is the identity REST calls act as.
        rest_caller=client_id is None and role == Role.MEMBER_ROLE_OWNER,
    )


def attachment(row: AttachmentRow) -> entities_pb2.Attachment:
    return entities_pb2.Attachment(
        id=row.id,
        project_id=row.project_id,
        task_id=row.task_id,
        comment_id=row.comment_id or "",
        name=row.name,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        author_id=row.author_id,
        create_time=ts(row.created_at),
    )
