"""The trash and the archive over a real SQLite file, with a clock the test moves: a deleted
task comes back where it was with its comments and subtasks for 30 days, then is purged; done
tasks and completed sprints are archived out of the board and restored; every refusal is coded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

from server.domain.errors import DomainError, ErrorCode
from server.domain.events import CommittedEvent
from server.domain.retention import TRASH_DAYS
from server.domain.service import Domain, TaskFilter
from server.storage.database import Store
from server.storage.models import TaskTrashRow
from tests.api_client import ApiClient
from tests.test_domain import cmd, make_project, make_task, update

Status = entities_pb2.TaskStatus
DAY = 24 * 3600 * 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000 * 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def domain(tmp_path: Path, clock: Clock) -> Iterator[Domain]:
    d = Domain(Store(tmp_path / "tandem.db"), clock=clock)
    yield d
    d.close()


def run(domain: Domain, **payload: object) -> websocket_pb2.Ack:
    return domain.execute(domain.owner_actor(), *cmd(**payload))  # type: ignore[arg-type]


def refused(domain: Domain, **payload: object) -> DomainError:
    with pytest.raises(DomainError) as err:
        run(domain, **payload)
    return err.value


def board(domain: Domain, project_id: str) -> list[str]:
    return [t.title for t in domain.snapshot(project_id).tasks]


def test_a_deleted_task_waits_in_the_trash_and_comes_back_where_it_was(domain: Domain) -> None:
    project = make_project(domain)
    first = make_task(domain, project.id, "First")
    middle = make_task(domain, project.id, "Middle")
    make_task(domain, project.id, "Last")
    child = run(
        domain,
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="Child", parent_task_id=middle.id)
        ),
    ).task
    run(domain, add_comment=commands_pb2.AddComment(task_id=middle.id, body="Keep this"))
    run(domain, add_comment=commands_pb2.AddComment(task_id=child.id, body="And this"))
    published: list[CommittedEvent] = []
    domain.sink.add_listener(published.extend)

    ack = run(domain, delete_task=commands_pb2.DeleteTask(task_id=middle.id))
    assert ack.task.id == middle.id
    # Gone from every read that knows nothing of the trash, as a delete always was.
    assert board(domain, project.id) == ["First", "Last"]
    with pytest.raises(DomainError) as err:
        domain.get_task(middle.id)
    assert err.value.code == ErrorCode.ERROR_CODE_NOT_FOUND
    listed = domain.list_trash(project.id).tasks
    assert [(e.task.title, e.subtask_count, e.comment_count) for e in listed] == [("Middle", 1, 2)]
    assert listed[0].deleted_by_id == domain.owner_actor().member_id
    assert listed[0].purge_time.ToMicroseconds() - listed[0].delete_time.ToMicroseconds() == (
        TRASH_DAYS * DAY
    )

    restored = run(domain, restore_task=commands_pb2.RestoreTask(task_id=middle.id))
    assert restored.task == middle  # the same key, rank, version: where it was
    assert board(domain, project.id) == ["First", "Middle", "Last", "Child"]
    assert [c.body for c in domain.list_comments(middle.id)] == ["Keep this"]
    assert [c.body for c in domain.list_comments(child.id)] == ["And this"]
    assert domain.list_trash(project.id).tasks == []
    kinds = [websocket_pb2.WebSocketMessage.FromString(e.frame) for e in published]
    assert [k.WhichOneof("payload") for k in kinds] == ["task_deleted", "tasks_restored"]
    event = kinds[1].tasks_restored
    assert [t.title for t in event.tasks] == ["Middle", "Child"]
    assert event.from_trash and len(event.comments) == 2
    # Restoring again changes nothing and succeeds; a task never deleted is refused by code.
    again = run(domain, restore_task=commands_pb2.RestoreTask(task_id=middle.id))
    assert again.seq == 0 and again.task.id == middle.id
    unknown = refused(domain, restore_task=commands_pb2.RestoreTask(task_id=first.id + "x"))
    assert unknown.code == ErrorCode.ERROR_CODE_NOT_FOUND and unknown.field == "task_id"


def test_the_trash_is_purged_after_thirty_days_by_the_clock(domain: Domain, clock: Clock) -> None:
    project = make_project(domain)
    kept = make_task(domain, project.id, "Kept")
    lost = make_task(domain, project.id, "Lost")
    run(domain, delete_task=commands_pb2.DeleteTask(task_id=kept.id))
    run(domain, delete_task=commands_pb2.DeleteTask(task_id=lost.id))

    clock.now += (TRASH_DAYS - 1) * DAY
    run(domain, restore_task=commands_pb2.RestoreTask(task_id=kept.id))
    assert [e.task.title for e in domain.list_trash(project.id).tasks] == ["Lost"]

    clock.now += 2 * DAY  # past 30 days for Lost
    assert domain.list_trash(project.id).tasks == []
    err = refused(domain, restore_task=commands_pb2.RestoreTask(task_id=lost.id))
    assert err.code == ErrorCode.ERROR_CODE_NOT_FOUND
    assert "deleted for good" in err.message
    # The refused command rolled back; the next trash command removes the row itself.
    run(domain, delete_task=commands_pb2.DeleteTask(task_id=kept.id))
    assert TaskTrashRow.get_or_none(TaskTrashRow.task_id == lost.id) is None
    assert TaskTrashRow.get_or_none(TaskTrashRow.task_id == kept.id) is not None


def test_delete_forever_is_final_and_a_retry_gets_the_same_answer(domain: Domain) -> None:
    project = make_project(domain)
    task = make_task(domain, project.id)
    err = refused(domain, purge_task=commands_pb2.PurgeTask(task_id=task.id))
    assert err.code == ErrorCode.ERROR_CODE_FAILED_PRECONDITION  # on the board: not purged
    run(domain, delete_task=commands_pb2.DeleteTask(task_id=task.id))
    purge = commands_pb2.PurgeTask(task_id=task.id)
    first = domain.execute(domain.owner_actor(), purge, "purge-1")
    assert first.seq > 0 and first.task.title == task.title
    assert domain.execute(domain.owner_actor(), purge, "purge-1") == first  # a retry
    err = refused(domain, purge_task=purge)  # a new request: it is gone
    assert err.code == ErrorCode.ERROR_CODE_NOT_FOUND
    err = refused(domain, restore_task=commands_pb2.RestoreTask(task_id=task.id))
    assert err.code == ErrorCode.ERROR_CODE_NOT_FOUND


def test_a_restored_task_lets_go_of_what_was_deleted_meanwhile(domain: Domain) -> None:
    project = make_project(domain)
    parent = make_task(domain, project.id, "Parent")
    child = run(
        domain,
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="Child", parent_task_id=parent.id)
        ),
    ).task
    run(domain, delete_task=commands_pb2.DeleteTask(task_id=child.id))
    run(domain, delete_task=commands_pb2.DeleteTask(task_id=parent.id))
    back = run(domain, restore_task=commands_pb2.RestoreTask(task_id=child.id)).task
    assert back.parent_task_id == ""  # its parent is still in the trash: top level
    assert board(domain, project.id) == ["Child"]


def test_a_deleted_comment_can_be_restored(domain: Domain) -> None:
    project = make_project(domain)
    task = make_task(domain, project.id)
    comment = run(domain, add_comment=commands_pb2.AddComment(task_id=task.id, body="Oops")).comment
    run(domain, delete_comment=commands_pb2.DeleteComment(comment_id=comment.id))
    assert domain.list_comments(task.id) == []
    back = run(domain, restore_comment=commands_pb2.RestoreComment(comment_id=comment.id))
    assert back.comment == comment
    assert [c.body for c in domain.list_comments(task.id)] == ["Oops"]
    assert run(domain, restore_comment=commands_pb2.RestoreComment(comment_id=comment.id)).seq == 0
    err = refused(domain, restore_comment=commands_pb2.RestoreComment(comment_id="nope"))
    assert err.code == ErrorCode.ERROR_CODE_NOT_FOUND


def test_done_tasks_are_archived_off_the_board_searchable_and_restorable(domain: Domain) -> None:
    project = make_project(domain)
    done = make_task(domain, project.id, "Shipped the login")
    other = make_task(domain, project.id, "Shipped the logout")
    open_task = make_task(domain, project.id, "Still open")
    done = update(domain, done, done.version, status=Status.TASK_STATUS_DONE).task
    update(domain, other, other.version, status=Status.TASK_STATUS_DONE)

    err = refused(domain, archive_task=commands_pb2.ArchiveTask(task_id=open_task.id))
    assert err.code == ErrorCode.ERROR_CODE_FAILED_PRECONDITION and "not done" in err.message
    run(domain, archive_task=commands_pb2.ArchiveTask(task_id=done.id))
    assert run(domain, archive_task=commands_pb2.ArchiveTask(task_id=done.id)).seq == 0
    assert board(domain, project.id) == ["Shipped the logout", "Still open"]
    assert domain.get_task(done.id).title == "Shipped the login"  # still openable
    err = refused(domain, **{"update_task": _title(done, "Changed")})
    assert err.code == ErrorCode.ERROR_CODE_FAILED_PRECONDITION

    all_done = run(
        domain, archive_done_tasks=commands_pb2.ArchiveDoneTasks(project_id=project.id)
    ).archived
    assert list(all_done.task_ids) == [other.id]
    assert board(domain, project.id) == ["Still open"]
    found = domain.list_archive(project.id, "login").tasks
    assert [a.task.title for a in found] == ["Shipped the login"]
    listed = domain.list_tasks(project.id, TaskFilter(text="shipped", archived="include"))
    assert listed.total_size == 2
    assert domain.list_tasks(project.id, TaskFilter(text="shipped")).total_size == 0

    run(domain, restore_task=commands_pb2.RestoreTask(task_id=done.id))
    assert board(domain, project.id) == ["Shipped the login", "Still open"]


def _title(task: entities_pb2.Task, title: str) -> commands_pb2.UpdateTask:
    out = commands_pb2.UpdateTask(task_id=task.id, base_version=task.version)
    out.update_mask.paths.append("title")
    out.task.title = title
    return out


def test_a_completed_sprint_is_archived_with_its_tasks_and_comes_back(domain: Domain) -> None:
    project = make_project(domain)
    sprint = run(
        domain,
        create_sprint=commands_pb2.CreateSprint(
            project_id=project.id, sprint=entities_pb2.Sprint(name="Sprint 1")
        ),
    ).sprint
    task = make_task(domain, project.id, "In the sprint")
    task = update(domain, task, task.version, sprint_id=sprint.id).task
    err = refused(domain, archive_sprint=commands_pb2.ArchiveSprint(sprint_id=sprint.id))
    assert err.code == ErrorCode.ERROR_CODE_FAILED_PRECONDITION  # not completed
    run(domain, start_sprint=commands_pb2.StartSprint(sprint_id=sprint.id))
    update(domain, task, task.version, status=Status.TASK_STATUS_DONE)
    run(domain, complete_sprint=commands_pb2.CompleteSprint(sprint_id=sprint.id))

    run(domain, archive_sprint=commands_pb2.ArchiveSprint(sprint_id=sprint.id))
    snap = domain.snapshot(project.id)
    assert list(snap.sprints) == [] and list(snap.tasks) == []
    assert domain.get_sprint(sprint.id).name == "Sprint 1"  # still openable
    archived = domain.list_archive(project.id)
    assert [(s.sprint.name, s.task_count) for s in archived.sprints] == [("Sprint 1", 1)]

    run(domain, unarchive_sprint=commands_pb2.UnarchiveSprint(sprint_id=sprint.id))
    snap = domain.snapshot(project.id)
    assert [s.name for s in snap.sprints] == ["Sprint 1"]
    assert [t.title for t in snap.tasks] == ["In the sprint"]


def test_a_deleted_project_waits_in_the_trash_whole_and_comes_back(
    domain: Domain, clock: Clock
) -> None:
    project = make_project(domain, "WEB")
    task = make_task(domain, project.id, "Inside")
    run(domain, delete_project=commands_pb2.DeleteProject(project_id=project.id))
    assert domain.list_projects() == []
    for read in (lambda: domain.get_project(project.id), lambda: domain.get_task(task.id)):
        with pytest.raises(DomainError) as missing:
            read()
        assert missing.value.code == ErrorCode.ERROR_CODE_NOT_FOUND
    edit = refused(domain, **{"update_task": _title(task, "Changed")})
    assert edit.code == ErrorCode.ERROR_CODE_NOT_FOUND
    # Its key stays its own while it can come back; the refusal says why.
    taken = refused(
        domain,
        create_project=commands_pb2.CreateProject(
            project=entities_pb2.Project(key="WEB", name="W")
        ),
    )
    assert taken.code == ErrorCode.ERROR_CODE_ALREADY_EXISTS and "trash" in taken.message
    listed = domain.list_trashed_projects().projects
    assert [p.project.key for p in listed] == ["WEB"]

    back = run(domain, restore_project=commands_pb2.RestoreProject(project_id=project.id))
    assert back.project == project
    assert [t.title for t in domain.snapshot(project.id).tasks] == ["Inside"]
    assert run(domain, restore_project=commands_pb2.RestoreProject(project_id=project.id)).seq == 0

    run(domain, delete_project=commands_pb2.DeleteProject(project_id=project.id))
    clock.now += (TRASH_DAYS + 1) * DAY
    assert domain.list_trashed_projects().projects == []
    late = refused(domain, restore_project=commands_pb2.RestoreProject(project_id=project.id))
    assert late.code == ErrorCode.ERROR_CODE_NOT_FOUND
    make_project(domain, "WEB")  # purged: the key is free again


# ---- over REST ----------------------------------------------------------------------------


async def test_rest_delete_keeps_its_contract_and_the_trash_takes_it_back(api: ApiClient) -> None:
    pid = (await api.make_project("WEB"))["id"]
    task = await api.make_task(pid, "Bring me back", status="TASK_STATUS_DONE")
    tid = task["id"]
    assert (await api.delete(f"/api/v1/tasks/{tid}")).status == 204
    assert (await api.get(f"/api/v1/tasks/{tid}")).status == 404  # as before: it is gone
    assert (await api.delete(f"/api/v1/tasks/{tid}")).status == 404
    trash = (await api.get(f"/api/v1/projects/{pid}/trash")).json["tasks"]
    assert [e["task"]["key"] for e in trash] == ["WEB-1"]
    assert trash[0]["deleteTime"] and trash[0]["purgeTime"] and trash[0]["deletedById"]

    restored = await api.post(f"/api/v1/tasks/{tid}/restore", {})
    assert restored.status == 200, restored.json
    assert restored.json == task
    again = await api.post(f"/api/v1/tasks/{tid}/restore", {})
    assert again.status == 200 and again.json == task  # idempotent
    unknown = await api.post("/api/v1/tasks/no-such-task/restore", {})
    assert unknown.status == 404 and unknown.json["error"]["code"] == "ERROR_CODE_NOT_FOUND"

    archived = await api.post(f"/api/v1/tasks/{tid}/archive", {})
    assert archived.status == 200, archived.json
    listed = await api.get(f"/api/v1/projects/{pid}/tasks")
    assert listed.json.get("tasks", []) == []
    found = await api.get(f"/api/v1/projects/{pid}/tasks", q="bring", archived="include")
    assert [t["id"] for t in found.json["tasks"]] == [tid]
    bad = await api.get(f"/api/v1/projects/{pid}/tasks", archived="sometimes")
    assert bad.status == 400 and bad.json["error"]["field"] == "archived"
    archive = (await api.get(f"/api/v1/projects/{pid}/archive", q="bring")).json
    assert [a["task"]["id"] for a in archive["tasks"]] == [tid]

    still_open = await api.make_task(pid, "Not yet", status="TASK_STATUS_TODO")
    refused = await api.post(f"/api/v1/tasks/{still_open['id']}/archive", {})
    assert refused.status == 409
    assert refused.json["error"]["code"] == "ERROR_CODE_FAILED_PRECONDITION"
    assert (await api.get(f"/api/v1/tasks/{still_open['id']}")).json == still_open  # untouched

    await api.delete(f"/api/v1/tasks/{still_open['id']}")
    assert (await api.delete(f"/api/v1/trash/tasks/{still_open['id']}")).status == 204
    gone = await api.post(f"/api/v1/tasks/{still_open['id']}/restore", {})
    assert gone.status == 404

    assert (await api.delete(f"/api/v1/projects/{pid}")).status == 204
    assert (await api.get(f"/api/v1/projects/{pid}")).status == 404
    trashed = (await api.get("/api/v1/trash/projects")).json["projects"]
    assert [p["project"]["id"] for p in trashed] == [pid]
    assert (await api.post(f"/api/v1/projects/{pid}/restore", {})).status == 200
    assert (await api.get(f"/api/v1/tasks/{tid}")).json["title"] == "Bring me back"
