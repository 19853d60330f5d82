"""The export document: the workspace read into a ``WorkspaceExport``, and read back.

The document is the protobuf JSON mapping of ``tandem.v1.WorkspaceExport`` (schema in
``proto/tandem/v1/transfer.proto``). ``FORMAT_VERSION`` goes up when a reader of the
previous version would misread a newer document; such a document is refused by name. A
document is written in the oldest format that holds it: one without attachments is still
format 1, so a Tandem from before attachments reads it as it always did.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from tandem.v1 import entities_pb2, transfer_pb2

import server
from server.domain import attachments, convert, members
from server.domain.errors import not_found
from server.domain.transfer.common import BadFile
from server.storage.models import CommentRow, MemberRow, ProjectRow, SprintRow, TaskRow

FORMAT_VERSION = 2
#: The format before attachments, still written when a document has none.
FORMAT_WITHOUT_ATTACHMENTS = 1
WORKFLOW = tuple(
    v for v in entities_pb2.TaskStatus.values() if v != entities_pb2.TASK_STATUS_UNSPECIFIED
)


def _ordered_tasks(project: ProjectRow) -> list[entities_pb2.Task]:
    """Parents before their subtasks; within a depth, by column then rank."""
    rows = list(
        TaskRow.select()
        .where(TaskRow.project_id == project.id)
        .order_by(TaskRow.status, TaskRow.rank, TaskRow.number)
    )
    parent = {r.id: r.parent_task_id for r in rows}

    def depth(task_id: str) -> int:
        n, seen, cursor = 0, set(), parent.get(task_id)
        while cursor and cursor not in seen:
            seen.add(cursor)
            n += 1
            cursor = parent.get(cursor)
        return n

    rows.sort(key=lambda r: depth(r.id))  # stable: column and rank order kept per depth
    return [convert.task(r, project.key) for r in rows]


def project_export(project: ProjectRow) -> transfer_pb2.ProjectExport:
    tasks = _ordered_tasks(project)
    labels: dict[str, None] = {}
    for task in tasks:
        labels.update(dict.fromkeys(task.labels))
    sprints = SprintRow.select().where(SprintRow.project_id == project.id)
    comments = (
        CommentRow.select()
        .where(CommentRow.project_id == project.id)
        .order_by(CommentRow.created_at, CommentRow.id)
    )
    return transfer_pb2.ProjectExport(
        project=convert.project(project),
        tasks=tasks,
        sprints=[convert.sprint(s) for s in sprints.order_by(SprintRow.created_at, SprintRow.id)],
        comments=[convert.comment(c) for c in comments],
        next_task_number=project.next_task_number,
        workflow=WORKFLOW,
        labels=list(labels),
        attachments=attachments.in_project(project.id),
    )


def export_workspace(project_key: str = "", *, now_micros: int) -> transfer_pb2.WorkspaceExport:
    """The whole workspace, or the project whose key is ``project_key``."""
    query = ProjectRow.select().order_by(ProjectRow.created_at, ProjectRow.id)
    if project_key:
        query = query.where(ProjectRow.key == project_key.strip().upper())
        if not query.exists():
            raise not_found("project", project_key)
    doc = transfer_pb2.WorkspaceExport(
        tandem_version=server.__version__,
        export_time=convert.ts(now_micros),
        projects=[project_export(p) for p in query],
    )
    with_files = any(p.attachments for p in doc.projects)
    doc.format_version = FORMAT_VERSION if with_files else FORMAT_WITHOUT_ATTACHMENTS
    named = {members.OWNER_ID}
    for p in doc.projects:
        named.update(t.assignee_id for t in p.tasks if t.assignee_id)
        named.update(c.author_id for c in p.comments)
        named.update(a.author_id for a in p.attachments)
    who = MemberRow.select().order_by(MemberRow.created_at, MemberRow.id)
    if project_key:
        who = who.where(MemberRow.id.in_(sorted(named)))
    doc.members.extend(convert.member(m) for m in who)
    return doc


def to_json(doc: transfer_pb2.WorkspaceExport) -> str:
    return json_format.MessageToJson(doc, indent=2, ensure_ascii=False) + "\n"


def load_json(data: bytes, what: str) -> Any:
    """JSON text, or a refusal naming the line and column where it stops making sense."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadFile(f"byte {exc.start}", f"the {what} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadFile(
            f"line {exc.lineno}, column {exc.colno}", f"the {what} is not valid JSON ({exc.msg})"
        ) from None


def parse(data: bytes) -> transfer_pb2.WorkspaceExport:
    """A Tandem export read back; refused when it is not one, or is newer than this Tandem."""
    raw = load_json(data, "Tandem export")
    if not isinstance(raw, dict) or "formatVersion" not in raw:
        raise BadFile("key formatVersion", "missing: this is not a Tandem export")
    version = raw["formatVersion"]
    if not isinstance(version, int) or version < 1:
        raise BadFile("key formatVersion", f"{version!r} is not a format version")
    if version > FORMAT_VERSION:
        raise BadFile(
            "key formatVersion",
            f"the export has format {version}, but this Tandem reads up to {FORMAT_VERSION}:"
            " it was written by a newer Tandem; install that version (or newer) to import it",
        )
    doc = transfer_pb2.WorkspaceExport()
    try:
        json_format.ParseDict(raw, doc)
    except json_format.ParseError as exc:
        raise BadFile(_key_of(str(exc)), str(exc)) from None
    return doc


def _key_of(message: str) -> str:
    # json_format names the field path: 'Failed to parse tasks field: ...'.
    words = [w for w in message.replace(":", " ").split() if w not in ("Failed", "to", "parse")]
    return f"key {words[0]}" if words else ""
