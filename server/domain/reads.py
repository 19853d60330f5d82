"""Reads of the board for the API and the real-time layer: entities, lists, the snapshot.

Each runs synchronously on the database thread (the caller hands it to ``Domain.read``);
reads made of several queries run in one transaction so that they see one state.
"""

from __future__ import annotations

from collections.abc import Callable

from tandem.v1 import api_pb2, entities_pb2, reports_pb2, websocket_pb2

from server.domain import (
    archive,
    attachments,
    comments,
    labels,
    members,
    projects,
    search,
    sprint_reports,
    sprints,
    tasks,
    trash,
)
from server.domain.changelog import epoch
from server.domain.tasks import TaskFilter
from server.storage.database import Store
from server.storage.models import LogHeadRow


class BoardReads:
    """What can be read of the board; mixed into ``Domain``, which owns ``store``."""

    store: Store
    _clock: Callable[[], int]

    def list_projects(self) -> list[entities_pb2.Project]:
        return projects.list_all()

    def get_project(self, project_id: str) -> entities_pb2.Project:
        return projects.get(project_id)

    def list_tasks(self, project_id: str, flt: TaskFilter) -> api_pb2.ListTasksResponse:
        with self.store.db.atomic():
            return tasks.list_tasks(project_id, flt)

    def get_task(self, task_id: str) -> entities_pb2.Task:
        return tasks.get(task_id)

    def list_comments(self, task_id: str) -> list[entities_pb2.Comment]:
        return comments.list_for(task_id)

    def list_sprints(self, project_id: str) -> list[entities_pb2.Sprint]:
        return sprints.list_for(project_id)

    def list_trash(self, project_id: str) -> api_pb2.ListTrashResponse:
        return trash.list_trash(project_id, self._clock())

    def list_trashed_projects(self) -> api_pb2.ListTrashedProjectsResponse:
        with self.store.db.atomic():
            return trash.list_trashed_projects(self._clock())

    def list_archive(self, project_id: str, text: str = "") -> api_pb2.ListArchiveResponse:
        with self.store.db.atomic():
            return archive.list_archive(project_id, text)

    def get_sprint(self, sprint_id: str) -> entities_pb2.Sprint:
        return sprints.get(sprint_id)

    def search(self, query: search.SearchQuery) -> api_pb2.SearchResponse:
        with self.store.db.atomic():
            return search.search(query)

    def list_attachments(self, task_id: str) -> list[entities_pb2.Attachment]:
        return attachments.list_for_task(task_id)

    def get_attachment(self, attachment_id: str) -> entities_pb2.Attachment:
        return attachments.get(attachment_id)

    def sprint_report(self, sprint_id: str) -> reports_pb2.SprintReport:
        with self.store.db.atomic():
            return sprint_reports.report(sprint_id, self._clock())

    def velocity(self, project_id: str, last: int) -> reports_pb2.VelocityResponse:
        with self.store.db.atomic():
            return sprint_reports.velocity(project_id, last)

    def list_members(self) -> list[entities_pb2.Member]:
        return members.list_all()

    def snapshot(self, project_id: str) -> websocket_pb2.Snapshot:
        """The board as of one seq: everything read in one transaction."""
        with self.store.db.atomic():
            project = projects.row(project_id)
            head = LogHeadRow.get_by_id(project_id)
            return websocket_pb2.Snapshot(
                project_id=project_id,
                seq=head.head_seq,
                epoch=epoch(self.store, project),
                project=projects.get(project_id),
                tasks=tasks.all_in_project(project_id, project.key),
                sprints=sprints.list_for(project_id),
                members=members.in_project(project_id),
                labels=labels.list_for(project_id),
                attachments=attachments.in_project(project_id),
            )
