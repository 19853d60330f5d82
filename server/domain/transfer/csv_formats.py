"""CSV files: Jira's issue export, Linear's, and any CSV with a column mapping.

All three read rows into tasks the same way (``_Rows``); they differ in which headers
mean what, how rows group into projects (Jira's ``Project key``, Linear's ``Team``, one
project for any other CSV), and in Jira's comments (``date;author;body``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath

from tandem.v1 import entities_pb2, transfer_pb2

from server.domain.transfer import common, csvfile
from server.domain.transfer.common import BadFile
from server.domain.transfer.parsed import Parsed

Status = entities_pb2.TaskStatus
Priority = entities_pb2.TaskPriority

JIRA_ALIASES: dict[str, tuple[str, ...]] = {
    **csvfile.FIELDS,
    "id": ("issue id",),
    "key": ("issue key",),
    "title": ("summary",),
    "points": (
        "custom field (story points)",
        "custom field (story point estimate)",
        "story points",
        "story point estimate",
    ),
    "parent": ("parent id", "parent key", "parent"),
    "comment": ("comment",),
    "created": ("created",),
    "updated": ("updated",),
    "project_key": ("project key",),
    "project_name": ("project name",),
    "issue_type": ("issue type",),
}
LINEAR_ALIASES: dict[str, tuple[str, ...]] = {
    **csvfile.FIELDS,
    "id": ("id",),
    "sprint": ("cycle name", "cycle number", "cycle"),
    "parent": ("parent issue", "parent"),
    "points": ("estimate",),
    "project_name": ("team",),
    "created": ("created",),
    "updated": ("updated",),
}
GENERIC_ALIASES: dict[str, tuple[str, ...]] = {
    **csvfile.FIELDS,
    "created": ("created", "created at", "create time"),
    "updated": ("updated", "updated at", "update time"),
}


class _Rows:
    """Rows to tasks, in one or more projects of a plan."""

    def __init__(self, m: csvfile.Mapping_, out: Parsed) -> None:
        self.m = m
        self.out = out
        self.people: dict[str, str] = {}
        self.projects: dict[str, tuple[transfer_pb2.ProjectExport, dict[str, str]]] = {}
        self.refs: dict[str, tuple[str, str]] = {}  # id or key -> (project, task id)
        self.unknown_status: set[str] = set()

    def person(self, name: str) -> str:
        if not name:
            return ""
        ident = self.people.get(name.casefold())
        if ident is None:
            ident = self.people[name.casefold()] = f"person:{name.casefold()}"
            self.out.doc.members.add(id=ident, display_name=name)
        return ident

    def project(self, group: str, name: str, key: str = "") -> transfer_pb2.ProjectExport:
        found = self.projects.get(group)
        if found is None:
            pe = self.out.doc.projects.add()
            pe.project.name = name or group
            pe.project.key = key
            found = self.projects[group] = (pe, {})
        return found[0]

    def sprint(self, pe: transfer_pb2.ProjectExport, name: str) -> str:
        sprints = self.projects[next(g for g, v in self.projects.items() if v[0] is pe)][1]
        ident = sprints.get(name)
        if ident is None:
            ident = sprints[name] = f"sprint:{len(sprints) + 1}"
            pe.sprints.add(id=ident, name=name[:200], state=entities_pb2.SPRINT_STATE_PLANNED)
        return ident

    def task(self, pe: transfer_pb2.ProjectExport, line: int, row: list[str]) -> entities_pb2.Task:
        m = self.m
        ident = f"row:{line}"
        task = pe.tasks.add(id=ident)
        task.title = common.title(m.value(row, "title"), m.where(line, "title"))
        for ref in (m.value(row, "id"), m.value(row, "key")):
            if ref:
                self.refs[ref] = (pe.project.name, ident)
        task.description = "\n\n".join(m.values(row, "description"))
        status = m.value(row, "status")
        if status:
            found = common.status_named(status)
            if found is None:
                self.unknown_status.add(status)
            task.status = found or Status.TASK_STATUS_TODO
            if found == Status.TASK_STATUS_DONE and status.casefold() in ("canceled", "cancelled"):
                task.labels.append(status)
        priority = m.value(row, "priority")
        if priority:
            found_priority = common.priority_named(priority)
            if found_priority is None:
                raise BadFile(m.where(line, "priority"), f"{priority!r} is not a priority")
            task.priority = found_priority
        task.assignee_id = self.person(m.value(row, "assignee"))
        estimate = common.points(m.value(row, "points"), m.where(line, "points"))
        if estimate is not None:
            task.story_points = estimate
        labels = [part for cell in m.values(row, "labels") for part in common.split_list(cell)]
        task.labels[:] = common.labels([*labels, *task.labels])
        task.due_date = common.iso_date(m.value(row, "due_date"), m.where(line, "due_date"))
        sprints = m.values(row, "sprint")
        for name in sprints:  # every sprint named is made; the task is in the last one
            task.sprint_id = self.sprint(pe, name)
        for name, target in (("created", task.create_time), ("updated", task.update_time)):
            value = m.value(row, name)
            when = common.stamp(value)
            if value and when is None:
                raise BadFile(m.where(line, name), f"{value!r} is not a date")
            if when is not None:
                target.CopyFrom(when)
        return task

    def link_parents(self, parents: dict[str, tuple[int, str]]) -> None:
        for pe, _ in self.projects.values():
            for task in pe.tasks:
                wanted = parents.get(task.id)
                if wanted is None:
                    continue
                line, ref = wanted
                found = self.refs.get(ref)
                if found is None:
                    self.out.notes.append(
                        f"line {line}: parent {ref!r} is not in the file; kept top-level"
                    )
                elif found[0] != pe.project.name:
                    self.out.notes.append(
                        f"line {line}: parent {ref!r} is in another project; kept top-level"
                    )
                else:
                    task.parent_task_id = found[1]

    def finish(self) -> None:
        if self.unknown_status:
            self.out.notes.append(
                "statuses not known, imported as To do: " + ", ".join(sorted(self.unknown_status))
            )
        self.out.columns = self.m.columns()


def _read(
    data: bytes, given: Mapping[str, str], aliases: Mapping[str, tuple[str, ...]]
) -> tuple[csvfile.Mapping_, Parsed]:
    table = csvfile.read(data)
    m = csvfile.mapping(table, given, aliases)
    return m, Parsed(doc=transfer_pb2.WorkspaceExport())


def _comment(
    rows: _Rows, pe: transfer_pb2.ProjectExport, task_id: str, cell: str, where: str
) -> None:
    parts = cell.split(";", 2)
    if len(parts) < 3:
        pe.comments.add(id=f"{task_id}/c{len(pe.comments)}", task_id=task_id, body=cell)
        return
    when, author, body = parts
    stamp = common.stamp(when)
    if stamp is None:
        raise BadFile(where, f"{when!r} is not a date (a comment is date;author;body)")
    pe.comments.add(
        id=f"{task_id}/c{len(pe.comments)}",
        task_id=task_id,
        author_id=rows.person(author.strip()),
        body=body.strip() or "(empty)",
        create_time=stamp,
    )


def parse_jira(data: bytes, given: Mapping[str, str] | None = None) -> Parsed:
    m, out = _read(data, given or {}, JIRA_ALIASES)
    rows = _Rows(m, out)
    parents: dict[str, tuple[int, str]] = {}
    for line, row in m.rows():
        key = m.value(row, "project_key")
        pe = rows.project(key or "Jira", m.value(row, "project_name") or key or "Jira", key)
        task = rows.task(pe, line, row)
        issue_type = m.value(row, "issue_type")
        if issue_type and issue_type.casefold() not in ("task", "sub-task", "subtask"):
            task.labels[:] = common.labels([*task.labels, issue_type])
        parent = m.value(row, "parent")
        if parent:
            parents[task.id] = (line, parent)
        for cell in m.values(row, "comment"):
            _comment(rows, pe, task.id, cell, m.where(line, "comment"))
    rows.link_parents(parents)
    rows.finish()
    return out


def parse_linear(data: bytes, given: Mapping[str, str] | None = None) -> Parsed:
    m, out = _read(data, given or {}, LINEAR_ALIASES)
    rows = _Rows(m, out)
    parents: dict[str, tuple[int, str]] = {}
    for line, row in m.rows():
        team = m.value(row, "project_name") or "Linear"
        ident = m.value(row, "id")
        prefix = ident.split("-")[0] if "-" in ident else ""
        pe = rows.project(team, team, prefix)
        task = rows.task(pe, line, row)
        parent = m.value(row, "parent")
        if parent:
            parents[task.id] = (line, parent.split(" ")[0])
    rows.link_parents(parents)
    rows.finish()
    return out


def parse_generic(
    data: bytes, given: Mapping[str, str] | None = None, file_name: str = ""
) -> Parsed:
    m, out = _read(data, given or {}, GENERIC_ALIASES)
    rows = _Rows(m, out)
    name = PurePath(file_name).stem.replace("_", " ").replace("-", " ").strip() or "Imported"
    pe = rows.project("", name)
    parents: dict[str, tuple[int, str]] = {}
    for line, row in m.rows():
        task = rows.task(pe, line, row)
        parent = m.value(row, "parent")
        if parent:
            parents[task.id] = (line, parent)
    rows.link_parents(parents)
    rows.finish()
    return out


def looks_like_jira(headers: list[str]) -> bool:
    folded = {h.casefold() for h in headers}
    return "summary" in folded and ("issue key" in folded or "issue id" in folded)


def looks_like_linear(headers: list[str]) -> bool:
    folded = {h.casefold() for h in headers}
    return {"id", "title", "team", "status"} <= folded
