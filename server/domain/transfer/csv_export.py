"""One project's tasks as CSV, for spreadsheets; its headers are ones the CSV importer
recognises, so the file imports back as it is."""

from __future__ import annotations

import csv
import io

from tandem.v1 import entities_pb2

from server.domain.transfer.document import export_workspace

HEADERS = (
    "Key", "Title", "Status", "Priority", "Assignee", "Story points", "Labels", "Due date",
    "Sprint", "Parent", "Description", "Created", "Updated",
)  # fmt: skip

STATUS_NAMES = {
    entities_pb2.TASK_STATUS_BACKLOG: "Backlog",
    entities_pb2.TASK_STATUS_TODO: "To do",
    entities_pb2.TASK_STATUS_IN_PROGRESS: "In progress",
    entities_pb2.TASK_STATUS_IN_REVIEW: "In review",
    entities_pb2.TASK_STATUS_DONE: "Done",
}
PRIORITY_NAMES = {
    entities_pb2.TASK_PRIORITY_NONE: "",
    entities_pb2.TASK_PRIORITY_LOW: "Low",
    entities_pb2.TASK_PRIORITY_MEDIUM: "Medium",
    entities_pb2.TASK_PRIORITY_HIGH: "High",
    entities_pb2.TASK_PRIORITY_URGENT: "Urgent",
}


def tasks_csv(project_key: str) -> str:
    doc = export_workspace(project_key, now_micros=0)
    people = {m.id: m.display_name for m in doc.members}
    pe = doc.projects[0]
    sprints = {s.id: s.name for s in pe.sprints}
    keys = {t.id: t.key for t in pe.tasks}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for t in sorted(pe.tasks, key=lambda t: int(t.key.rsplit("-", 1)[-1])):
        writer.writerow((
            t.key, t.title, STATUS_NAMES.get(t.status, ""), PRIORITY_NAMES.get(t.priority, ""),
            people.get(t.assignee_id, ""),
            t.story_points if t.HasField("story_points") else "",
            ", ".join(t.labels), t.due_date, sprints.get(t.sprint_id, ""),
            keys.get(t.parent_task_id, ""), t.description,
            t.create_time.ToJsonString(), t.update_time.ToJsonString(),
        ))  # fmt: skip
    return out.getvalue()
