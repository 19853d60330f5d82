"""Writing a plan (a ``WorkspaceExport``) into the database, in bulk, in the caller's
transaction: members, projects, sprints, tasks, comments, attachments (those whose content
came with the file or is here already), then one ``project_imported`` event per project,
which tells every subscriber to read a fresh snapshot.

``build`` checks every value and works out every row first; ``write`` then inserts them
with one prepared statement per table. A preview is ``build`` alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fractional_indexing import (  # type: ignore[import-untyped]
    FIError,
    generate_n_keys_between,
    validate_order_key,
)
from tandem.v1 import entities_pb2, transfer_pb2

from server.domain import attachments, comments, members, rows, validate
from server.domain.errors import DomainError
from server.domain.transfer.common import BadFile, project_key_from
from server.domain.tx import Tx
from server.storage.blobs import is_sha256
from server.storage.models import AttachmentRow, ProjectRow

Role = entities_pb2.MemberRole
Status = entities_pb2.TaskStatus
SAMPLE_TASKS = 5
DEFAULT_OWNER_NAME = "Owner"


def _micros(stamp: Any, default: int) -> int:
    return int(stamp.ToMicroseconds()) if stamp.seconds or stamp.nanos else default


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@dataclass
class Plan:
    """Every row an import will insert, checked, and what it will tell the person."""

    members: list[tuple[Any, ...]] = field(default_factory=list)
    owner_name: str | None = None
    projects: list[tuple[Any, ...]] = field(default_factory=list)
    sprints: list[tuple[Any, ...]] = field(default_factory=list)
    tasks: list[tuple[Any, ...]] = field(default_factory=list)
    comments: list[tuple[Any, ...]] = field(default_factory=list)
    # Attachment rows but what the content itself says (type, size, pixels: see write).
    attachments: list[dict[str, Any]] = field(default_factory=list)
    # Content that came with the file, by SHA-256, to put in the store.
    files: dict[str, bytes] = field(default_factory=dict)
    # project id -> the number its next task gets
    next_numbers: dict[str, int] = field(default_factory=dict)
    summary: transfer_pb2.ImportSummary = field(default_factory=transfer_pb2.ImportSummary)


class _Builder:
    def __init__(
        self,
        doc: transfer_pb2.WorkspaceExport,
        keep_ids: bool,
        now: int,
        has_content: Callable[[str], bool],
    ) -> None:
        self.doc = doc
        self.keep_ids = keep_ids
        self.now = now
        self.has_content = has_content
        self.plan = Plan()
        self.missing_files = 0
        # The file's comment ids -> the rows' ids, of the project being built.
        self.comment_ids: dict[str, str] = {}
        self.taken_ids: set[str] = set()
        self.member_map: dict[str, str] = {}
        # The file's task ids -> the rows' ids, of the project being built.
        self.task_ids: dict[str, str] = {}
        self.keys = {str(k) for (k,) in rows.execute("SELECT key FROM project").fetchall()}

    # ---- ids ---------------------------------------------------------------------------

    def _fresh(self, proposed: str, table: str) -> tuple[str, bool]:
        """The id a row gets: the file's when kept and free, else a new one (remapped)."""
        if self.keep_ids:
            kept = _uuid(proposed)
            if kept is not None and kept not in self.taken_ids:
                found = rows.execute(f"SELECT 1 FROM {table} WHERE id = ?", (kept,)).fetchone()
                if found is None:
                    self.taken_ids.add(kept)
                    return kept, False
        new = str(uuid.uuid4())
        self.taken_ids.add(new)
        return new, self.keep_ids

    def _key(self, wanted: str, name: str, where: str) -> str:
        try:
            key = validate.project_key(wanted or project_key_from(name))
        except DomainError:
            key = validate.project_key(project_key_from(name))
        base, n = key, 1
        while key in self.keys:
            n += 1
            key = f"{base[: 10 - len(str(n))]}{n}"
        self.keys.add(key)
        return key

    # ---- members -----------------------------------------------------------------------

    def members(self) -> None:
        known = {str(i): str(n) for i, n in rows.execute("SELECT id, display_name FROM member")}
        by_name = {name.casefold(): ident for ident, name in known.items()}
        created = 0
        for i, m in enumerate(self.doc.members):
            where = f"members[{i}]"
            name = validate.text(where, m.display_name, max_len=80).strip() or "Someone"
            if m.id == members.OWNER_ID or m.rest_caller:
                self.member_map[m.id] = members.OWNER_ID
                local = known.get(members.OWNER_ID)
                if self.keep_ids and local == DEFAULT_OWNER_NAME and name != local:
                    self.plan.owner_name = name  # a fresh workspace takes the owner's name
                continue
            if self.keep_ids and m.id in known:
                self.member_map[m.id] = m.id
                continue
            if name.casefold() in by_name:
                self.member_map[m.id] = by_name[name.casefold()]
                continue
            ident, _ = self._fresh(m.id, "member")
            role = m.role if m.role in (Role.MEMBER_ROLE_VIEWER, Role.MEMBER_ROLE_EDITOR) else 0
            client_id = None
            if m.role == Role.MEMBER_ROLE_OWNER:
                # A browser of the other workspace: a person, not the REST caller identity.
                role, client_id = Role.MEMBER_ROLE_OWNER, f"imported:{ident}"
            color = m.color if m.color.startswith("#") and len(m.color) == 7 else ""
            self.plan.members.append(
                (
                    ident,
                    name,
                    color or members.PALETTE[uuid.UUID(ident).int % len(members.PALETTE)],
                    role or Role.MEMBER_ROLE_EDITOR,
                    client_id,
                    self.now + i,
                )
            )
            by_name[name.casefold()] = ident
            self.member_map[m.id] = ident
            created += 1
        self.plan.summary.members = created

    def member(self, ident: str, where: str) -> str | None:
        if not ident:
            return None
        found = self.member_map.get(ident)
        if found is None:
            raise BadFile(where, f"{ident!r} is not a member listed in the file")
        return found

    # ---- projects ----------------------------------------------------------------------

    def project(self, pi: int, pe: transfer_pb2.ProjectExport, into: ProjectRow | None) -> None:
        where = f"projects[{pi}]"
        p = pe.project
        if into is not None:
            project_id, remapped = into.id, False
            first_number = into.next_task_number
            last = rows.execute("SELECT MAX(rank) FROM task WHERE project_id = ?", (into.id,))
            last_rank = last.fetchone()[0]
            shown = entities_pb2.Project(id=into.id, key=into.key, name=into.name)
        else:
            project_id, remapped = self._fresh(p.id, "project")
            name = validate.text(f"{where}.name", p.name, max_len=200).strip() or "Imported"
            key = self._key(p.key, name, where)
            description = validate.text(f"{where}.description", p.description, max_len=20_000)
            created = _micros(p.create_time, self.now)
            version = p.version if self.keep_ids and p.version > 0 else 1
            self.plan.projects.append(
                (
                    project_id,
                    key,
                    name,
                    description,
                    version,
                    created,
                    _micros(p.update_time, created),
                )
            )
            first_number, last_rank = 1, None
            shown = entities_pb2.Project(id=project_id, key=key, name=name, description=description)
        sprint_map = self.sprints(where, pe, project_id)
        n_tasks, next_number = self.tasks(
            where,
            pe,
            project_id,
            shown.key,
            sprint_map,
            first_number,
            last_rank,
            renumber=into is not None,
        )
        self.plan.next_numbers[project_id] = max(next_number, int(pe.next_task_number))
        n_comments = self.comments(where, pe, project_id)
        n_files = self.attachments(where, pe, project_id)
        self.plan.summary.projects.add(
            project=shown,
            tasks=n_tasks,
            sprints=len(sprint_map),
            comments=n_comments,
            remapped=remapped,
            attachments=n_files,
        )

    def sprints(
        self, where: str, pe: transfer_pb2.ProjectExport, project_id: str
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        for si, s in enumerate(pe.sprints):
            at = f"{where}.sprints[{si}]"
            ident, _ = self._fresh(s.id, "sprint")
            out[s.id] = ident
            state = validate.enum(f"{at}.state", s.state, range(1, 4), 1)
            created = _micros(s.create_time, self.now)
            completed = _micros(s.complete_time, 0) or None
            self.plan.sprints.append(
                (
                    ident,
                    project_id,
                    validate.text(f"{at}.name", s.name, max_len=200, required=True),
                    validate.text(f"{at}.goal", s.goal, max_len=2000),
                    state,
                    validate.date(f"{at}.start_date", s.start_date),
                    validate.date(f"{at}.end_date", s.end_date),
                    s.version if self.keep_ids and s.version > 0 else 1,
                    created,
                    _micros(s.update_time, created),
                    completed,
                )
            )
        return out

    def tasks(
        self,
        where: str,
        pe: transfer_pb2.ProjectExport,
        project_id: str,
        key: str,
        sprint_map: dict[str, str],
        first_number: int,
        last_rank: str | None,
        *,
        renumber: bool,
    ) -> tuple[int, int]:
        ids: dict[str, str] = {}
        for ti, t in enumerate(pe.tasks):
            if t.id in ids:
                raise BadFile(f"{where}.tasks[{ti}].id", f"{t.id!r} names two tasks")
            ids[t.id] = self._fresh(t.id, "task")[0]
        self.task_ids = ids
        parents = {t.id: t.parent_task_id for t in pe.tasks}
        order = sorted(range(len(pe.tasks)), key=lambda i: _depth(pe.tasks[i].id, parents, where))
        fresh_ranks = iter(generate_n_keys_between(last_rank, None, len(pe.tasks)))
        number = first_number
        used: set[int] = set()
        planned: list[tuple[Any, ...]] = [()] * len(pe.tasks)
        for ti, t in enumerate(pe.tasks):
            at = f"{where}.tasks[{ti}]"
            rank = next(fresh_ranks)
            if self.keep_ids and not renumber and _valid_rank(t.rank):
                rank = t.rank
            own = _number_of(t.key) if self.keep_ids and not renumber else None
            if own is None or own in used:
                while number in used:
                    number += 1
                own = number
            used.add(own)
            number = max(number, own + 1)
            parent = None
            if t.parent_task_id:
                parent = ids.get(t.parent_task_id)
                if parent is None:
                    raise BadFile(
                        f"{at}.parent_task_id", f"no task {t.parent_task_id!r} in the file"
                    )
            sprint = None
            if t.sprint_id:
                sprint = sprint_map.get(t.sprint_id)
                if sprint is None:
                    raise BadFile(f"{at}.sprint_id", f"no sprint {t.sprint_id!r} in the file")
            if t.HasField("story_points") and not 0 <= t.story_points <= 1000:
                raise BadFile(f"{at}.story_points", "story points must be between 0 and 1000")
            try:
                labels = validate.labels(list(t.labels))
            except DomainError as err:
                raise BadFile(f"{at}.labels", err.message) from None
            created = _micros(t.create_time, self.now)
            planned[ti] = (
                ids[t.id],
                project_id,
                own,
                validate.text(f"{at}.title", t.title, max_len=500, required=True),
                validate.text(f"{at}.description", t.description, max_len=100_000),
                validate.enum(f"{at}.status", t.status, range(1, 6), Status.TASK_STATUS_TODO),
                validate.enum(f"{at}.priority", t.priority, range(1, 6), 1),
                self.member(t.assignee_id, f"{at}.assignee_id"),
                t.story_points if t.HasField("story_points") else None,
                json.dumps(labels),
                validate.date(f"{at}.due_date", t.due_date),
                sprint,
                parent,
                rank,
                t.version if self.keep_ids and t.version > 0 else 1,
                created,
                _micros(t.update_time, created),
            )
        self.plan.tasks.extend(planned[i] for i in order)
        for i in range(min(SAMPLE_TASKS, len(pe.tasks))):
            row = planned[i]
            self.plan.summary.sample_tasks.add(
                id=row[0],
                project_id=project_id,
                key=f"{key}-{row[2]}",
                title=row[3],
                status=row[5],
                priority=row[6],
                assignee_id=row[7] or "",
                labels=json.loads(row[9]),
                due_date=row[10],
            )
        return len(pe.tasks), number

    def comments(self, where: str, pe: transfer_pb2.ProjectExport, project_id: str) -> int:
        for ci, c in enumerate(pe.comments):
            at = f"{where}.comments[{ci}]"
            task = self.task_ids.get(c.task_id)
            if task is None:
                raise BadFile(f"{at}.task_id", f"no task {c.task_id!r} in the file")
            ident, _ = self._fresh(c.id, "comment")
            self.comment_ids[c.id] = ident
            created = _micros(c.create_time, self.now)
            self.plan.comments.append(
                (
                    ident,
                    task,
                    project_id,
                    self.member(c.author_id, f"{at}.author_id") or members.OWNER_ID,
                    validate.text(f"{at}.body", c.body, max_len=comments.MAX_BODY, required=True),
                    c.version if self.keep_ids and c.version > 0 else 1,
                    created,
                    _micros(c.edit_time, 0) or None,
                )
            )
        return len(pe.comments)

    def attachments(self, where: str, pe: transfer_pb2.ProjectExport, project_id: str) -> int:
        """The attachments whose content is at hand; the others are counted for a note."""
        made = 0
        per_task: dict[str, int] = {}
        for ai, a in enumerate(pe.attachments):
            at = f"{where}.attachments[{ai}]"
            task = self.task_ids.get(a.task_id)
            if task is None:
                raise BadFile(f"{at}.task_id", f"no task {a.task_id!r} in the file")
            comment = None
            if a.comment_id:
                comment = self.comment_ids.get(a.comment_id)
                if comment is None:
                    raise BadFile(f"{at}.comment_id", f"no comment {a.comment_id!r} in the file")
            if not is_sha256(a.sha256):
                raise BadFile(f"{at}.sha256", f"{a.sha256!r} is not a SHA-256 in lower-case hex")
            if not self.has_content(a.sha256):
                self.missing_files += 1
                continue
            per_task[task] = per_task.get(task, 0) + 1
            if per_task[task] > attachments.MAX_PER_TASK:
                raise BadFile(at, f"a task has at most {attachments.MAX_PER_TASK} attachments")
            ident, _ = self._fresh(a.id, "attachment")
            self.plan.attachments.append(
                {
                    "id": ident,
                    "project_id": project_id,
                    "task_id": task,
                    "comment_id": comment,
                    "name": attachments.clean_name(
                        validate.text(f"{at}.name", a.name, max_len=10_000)
                    ),
                    "sha256": a.sha256,
                    "author_id": self.member(a.author_id, f"{at}.author_id") or members.OWNER_ID,
                    "created_at": _micros(a.create_time, self.now),
                }
            )
            made += 1
        return made


def _depth(task_id: str, parents: dict[str, str], where: str) -> int:
    n, seen, cursor = 0, {task_id}, parents.get(task_id)
    while cursor:
        if cursor in seen:
            raise BadFile(f"{where}.tasks", f"task {task_id!r} is its own ancestor")
        seen.add(cursor)
        n += 1
        cursor = parents.get(cursor)
    return n


def _valid_rank(rank: str) -> bool:
    if not (0 < len(rank) <= 200 and rank.isascii() and rank.isalnum()):
        return False
    try:
        validate_order_key(rank)
    except FIError:
        return False
    return True


def _number_of(key: str) -> int | None:
    tail = key.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() and int(tail) > 0 else None


def build(
    doc: transfer_pb2.WorkspaceExport,
    *,
    keep_ids: bool,
    now: int,
    into_key: str = "",
    files: dict[str, bytes] | None = None,
    stored: Callable[[str], bool] = lambda _sha: False,
) -> Plan:
    """Every row the plan makes, checked; raises a ``BadFile`` naming the first bad value.
    An attachment comes with its content in ``files`` or already ``stored`` here; the others
    are left out, and a note says how many."""
    given = files or {}
    builder = _Builder(doc, keep_ids, now, lambda sha: sha in given or stored(sha))
    builder.members()
    into = None
    if into_key:
        into = ProjectRow.get_or_none(ProjectRow.key == into_key.strip().upper())
        if into is not None and len(doc.projects) != 1:
            raise BadFile("project_key", "only a file of one project can go into an existing one")
    for pi, pe in enumerate(doc.projects):
        if into is None and into_key:
            pe.project.key = into_key
        builder.project(pi, pe, into)
    plan = builder.plan
    plan.files = {a["sha256"]: given[a["sha256"]] for a in plan.attachments if a["sha256"] in given}
    if builder.missing_files:
        n = builder.missing_files
        what = f"{n} attachments are" if n > 1 else "1 attachment is"
        plan.summary.notes.append(
            f"{what} listed without the file, and left out: import the .zip export, which"
            " carries the files"
        )
    return plan


_INSERT = {
    "member": "INSERT INTO member (id, display_name, color, role, client_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)",
    "project": "INSERT INTO project (id, key, name, description, version, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)",
    "sprint": "INSERT INTO sprint (id, project_id, name, goal, state, start_date, end_date,"
    " version, created_at, updated_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "task": "INSERT INTO task (id, project_id, number, title, description, status, priority,"
    " assignee_id, story_points, labels, due_date, sprint_id, parent_task_id, rank, version,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "comment": "INSERT INTO comment (id, task_id, project_id, author_id, body, version,"
    " created_at, edited_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
}


def write(tx: Tx, plan: Plan) -> int:
    """Insert the plan's rows and announce each project once; returns the last seq."""
    if plan.owner_name is not None:
        rows.execute(
            "UPDATE member SET display_name = ? WHERE id = ?", (plan.owner_name, members.OWNER_ID)
        )
    rows.execute_many(_INSERT["member"], plan.members)
    rows.execute_many(_INSERT["project"], plan.projects)
    new_projects = {p[0] for p in plan.projects}
    for project_id in new_projects:
        tx.start_log(project_id)
    rows.execute_many(_INSERT["sprint"], plan.sprints)
    rows.execute_many(_INSERT["task"], plan.tasks)
    rows.execute_many(_INSERT["comment"], plan.comments)
    _write_attachments(tx, plan)
    seq = 0
    for imported in plan.summary.projects:
        project_id = imported.project.id
        # The larger of the two, spelt alike in SQLite and PostgreSQL (max() and greatest()).
        number = plan.next_numbers[project_id]
        rows.execute(
            "UPDATE project SET next_task_number = CASE WHEN next_task_number > ?"
            " THEN next_task_number ELSE ? END WHERE id = ?",
            (number, number, project_id),
        )
        event = transfer_pb2.ProjectImported(project_id=project_id, tasks=imported.tasks)
        seq = tx.emit(project_id, "project_imported", event)
    return seq


def _write_attachments(tx: Tx, plan: Plan) -> None:
    """The files into the store, then their records, typed by what the content is (never by
    what the file says: a document could call any content an image). Content put in by an
    import that does not commit is swept with other unreferenced content."""
    if not plan.attachments:
        return
    blobs = tx.blobs
    assert blobs is not None, "an import with attachments needs the attachment store"
    for sha, content in plan.files.items():
        if not blobs.has(sha):
            blobs.put(content, len(content))
    for values in plan.attachments:
        sha = values["sha256"]
        # Recognising a large image takes a moment; an import is rare and runs once.
        kind = blobs.kind(sha) or blobs.recognise(sha)
        AttachmentRow.insert(
            **values,
            content_type=kind.content_type,
            size=blobs.size(sha),
            width=kind.width,
            height=kind.height,
        ).execute()
