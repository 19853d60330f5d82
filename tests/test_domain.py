"""The domain service over a real SQLite file: every command, its errors, its events."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

from server.config import ServerConfig
from server.domain.actor import Actor
from server.domain.errors import DomainError, ErrorCode
from server.domain.events import CommittedEvent
from server.domain.retention import TRASH_DAYS
from server.domain.service import Domain, TaskFilter, open_domain
from server.storage.database import Store

Status = entities_pb2.TaskStatus
Role = entities_pb2.MemberRole


def cmd(message_id: str = "", **payload: Message) -> tuple[Message, str]:
    """The one command named by keyword, and its request id: ``domain.execute(a, *cmd(...))``."""
    (command,) = payload.values()
    return command, message_id


def make_project(domain: Domain, key: str = "WEB") -> entities_pb2.Project:
    ack = domain.execute(
        domain.owner_actor(),
        *cmd(
            create_project=commands_pb2.CreateProject(
                project=entities_pb2.Project(key=key, name=key)
            )
        ),
    )
    return ack.project


def make_task(domain: Domain, project_id: str, title: str = "A task") -> entities_pb2.Task:
    ack = domain.execute(
        domain.owner_actor(),
        *cmd(
            create_task=commands_pb2.CreateTask(
                project_id=project_id, task=entities_pb2.Task(title=title)
            )
        ),
    )
    return ack.task


def update(
    domain: Domain, task: entities_pb2.Task, base: int, **fields: object
) -> websocket_pb2.Ack:
    return domain.execute(
        domain.owner_actor(),
        *cmd(
            update_task=commands_pb2.UpdateTask(
                task_id=task.id,
                base_version=base,
                update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
                task=entities_pb2.Task(**fields),  # type: ignore[arg-type]
            )
        ),
    )


def test_create_task_assigns_key_defaults_and_logs_event(domain: Domain) -> None:
    published: list[CommittedEvent] = []
    domain.sink.add_listener(published.extend)
    project = make_project(domain)
    first = make_task(domain, project.id, "First")
    second = make_task(domain, project.id, "Second")
    assert (first.key, second.key) == ("WEB-1", "WEB-2")
    assert first.status == Status.TASK_STATUS_TODO
    assert first.version == 1 and first.rank < second.rank
    assert [e.seq for e in published] == [1, 2, 3]
    assert published[1].message().task_created.task == first
    assert domain.get_task(first.id) == first


def test_update_merges_other_fields_and_rejects_conflicting_ones(domain: Domain) -> None:
    project = make_project(domain)
    task = make_task(domain, project.id)
    # Ana and Ben both start from version 1. Ana changes the title.
    ana = update(domain, task, 1, title="Ana's title")
    assert ana.task.version == 2
    # Ben changes the status from version 1: a different field, so it merges.
    ben = update(domain, task, 1, status=Status.TASK_STATUS_DONE)
    assert ben.task.title == "Ana's title" and ben.task.status == Status.TASK_STATUS_DONE
    # Ben now changes the title from version 1: Ana changed it since, so it is refused.
    with pytest.raises(DomainError) as refused:
        update(domain, task, 1, title="Ben's title")
    assert refused.value.code == ErrorCode.ERROR_CODE_CONFLICT
    assert refused.value.conflicting_fields == ("title",)
    assert isinstance(refused.value.current, entities_pb2.Task)
    assert refused.value.current.title == "Ana's title"
    # Setting the title to the value it already has is not a conflict, and writes nothing.
    same = update(domain, task, 1, title="Ana's title")
    assert same.seq == 0 and same.task.version == 3
    assert domain.get_task(task.id).title == "Ana's title"


def test_repeated_message_id_has_one_effect_and_the_same_answer(domain: Domain) -> None:
    project = make_project(domain)
    actor = Actor(member_id=domain.owner_actor().member_id, client_key="browser-1")
    create = cmd(
        "m-1",
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="Once")
        ),
    )
    first = domain.execute(actor, *create)
    again = domain.execute(actor, *create)
    assert again == first
    assert domain.list_tasks(project.id, TaskFilter()).total_size == 1
    # Another client using the same id is another command.
    other = domain.execute(Actor(member_id=actor.member_id, client_key="browser-2"), *create)
    assert other.task.id != first.task.id
    # A refusal is remembered too.
    bad = cmd("m-2", update_task=commands_pb2.UpdateTask(task_id="nope"))
    for _ in range(2):
        with pytest.raises(DomainError) as refused:
            domain.execute(actor, *bad)
        assert refused.value.code == ErrorCode.ERROR_CODE_NOT_FOUND


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        (
            commands_pb2.CreateProject(project=entities_pb2.Project(key="1X", name="n")),
            "INVALID_ARGUMENT",
            "key",
        ),
        (
            commands_pb2.CreateProject(project=entities_pb2.Project(key="WEB", name=" ")),
            "INVALID_ARGUMENT",
            "name",
        ),
        (
            commands_pb2.CreateProject(project=entities_pb2.Project(key="WEB", name="dup")),
            "ALREADY_EXISTS",
            "key",
        ),
        (
            commands_pb2.CreateTask(project_id="missing", task=entities_pb2.Task(title="t")),
            "NOT_FOUND",
            "",
        ),
        (commands_pb2.UpdateTask(task_id="TASK"), "INVALID_ARGUMENT", "update_mask"),
        (
            commands_pb2.MoveTask(task_id="TASK", status=Status.ValueType(99)),
            "INVALID_ARGUMENT",
            "status",
        ),
        (commands_pb2.DeleteTask(task_id="missing"), "NOT_FOUND", ""),
        (commands_pb2.AddComment(task_id="TASK", body=""), "INVALID_ARGUMENT", "body"),
        (commands_pb2.StartSprint(sprint_id="missing"), "NOT_FOUND", ""),
    ],
)
def test_bad_commands_get_coded_errors_and_change_nothing(
    domain: Domain, payload: object, code: str, field: str
) -> None:
    project = make_project(domain)
    task = make_task(domain, project.id)
    for name in ("task_id",):
        if getattr(payload, name, None) == "TASK":
            setattr(payload, name, task.id)
    before = domain.events_since(project.id, 0)
    with pytest.raises(DomainError) as refused:
        domain.execute(domain.owner_actor(), payload)  # type: ignore[arg-type]
    assert refused.value.code == ErrorCode.Value(f"ERROR_CODE_{code}")
    assert refused.value.field == field
    assert domain.events_since(project.id, 0) == before


def test_viewer_cannot_change_anything(domain: Domain) -> None:
    project = make_project(domain)
    viewer = Actor(member_id="v", role=Role.MEMBER_ROLE_VIEWER)
    with pytest.raises(DomainError) as refused:
        domain.execute(
            viewer, *cmd(delete_project=commands_pb2.DeleteProject(project_id=project.id))
        )
    assert refused.value.code == ErrorCode.ERROR_CODE_PERMISSION_DENIED
    assert domain.get_project(project.id) == project


def test_move_places_a_task_between_neighbours(domain: Domain) -> None:
    project = make_project(domain)
    a, b, c = (make_task(domain, project.id, t) for t in "abc")
    moved = domain.execute(
        domain.owner_actor(),
        *cmd(
            move_task=commands_pb2.MoveTask(
                task_id=c.id,
                base_version=1,
                status=Status.TASK_STATUS_IN_PROGRESS,
                after_task_id=a.id,
                before_task_id=b.id,
            )
        ),
    ).task
    assert a.rank < moved.rank < b.rank
    assert moved.status == Status.TASK_STATUS_IN_PROGRESS
    titles = [t.title for t in domain.list_tasks(project.id, TaskFilter()).tasks]
    assert titles == ["a", "c", "b"]


def test_a_rank_the_server_did_not_make_is_refused(domain: Domain) -> None:
    project = make_project(domain)
    task = make_task(domain, project.id)
    for rank in ("n", "", "a0 ", "a" * 300):
        with pytest.raises(DomainError) as refused:
            update(domain, task, 1, rank=rank)
        assert refused.value.field == "rank"
    assert update(domain, task, 1, rank="Zz").task.rank == "Zz"
    assert make_task(domain, project.id, "after").rank > "Zz"


def test_list_filters_and_pages(domain: Domain) -> None:
    project = make_project(domain)
    for i in range(5):
        task = make_task(domain, project.id, f"task {i}")
        if i % 2:
            update(domain, task, 1, labels=["bug"], status=Status.TASK_STATUS_DONE)
    assert domain.list_tasks(project.id, TaskFilter(label="bug")).total_size == 2
    assert domain.list_tasks(project.id, TaskFilter(status=Status.TASK_STATUS_DONE)).total_size == 2
    assert [t.title for t in domain.list_tasks(project.id, TaskFilter(text="task 3")).tasks] == [
        "task 3"
    ]
    page = domain.list_tasks(project.id, TaskFilter(page_size=2))
    rest = domain.list_tasks(project.id, TaskFilter(page_size=10, page_token=page.next_page_token))
    assert len(page.tasks) == 2 and len(rest.tasks) == 3 and rest.next_page_token == ""
    with pytest.raises(DomainError):
        domain.list_tasks(project.id, TaskFilter(page_token="x"))


def test_sprint_lifecycle_carries_unfinished_work(domain: Domain) -> None:
    project = make_project(domain)
    owner = domain.owner_actor()
    s1 = domain.execute(
        owner,
        *cmd(
            create_sprint=commands_pb2.CreateSprint(
                project_id=project.id, sprint=entities_pb2.Sprint(name="S1")
            )
        ),
    ).sprint
    s2 = domain.execute(
        owner,
        *cmd(
            create_sprint=commands_pb2.CreateSprint(
                project_id=project.id, sprint=entities_pb2.Sprint(name="S2")
            )
        ),
    ).sprint
    done, open_ = make_task(domain, project.id, "done"), make_task(domain, project.id, "open")
    update(domain, done, 1, sprint_id=s1.id, status=Status.TASK_STATUS_DONE)
    update(domain, open_, 1, sprint_id=s1.id)
    domain.execute(owner, *cmd(start_sprint=commands_pb2.StartSprint(sprint_id=s1.id)))
    with pytest.raises(DomainError) as refused:
        domain.execute(owner, *cmd(start_sprint=commands_pb2.StartSprint(sprint_id=s2.id)))
    assert refused.value.code == ErrorCode.ERROR_CODE_FAILED_PRECONDITION
    ack = domain.execute(
        owner,
        *cmd(
            complete_sprint=commands_pb2.CompleteSprint(
                sprint_id=s1.id, move_open_tasks_to_sprint_id=s2.id
            )
        ),
    )
    assert ack.sprint.state == entities_pb2.SprintState.SPRINT_STATE_COMPLETED
    assert domain.get_task(open_.id).sprint_id == s2.id
    assert domain.get_task(done.id).sprint_id == s1.id
    event = domain.events_since(project.id, ack.seq - 1).events[0].sprint_updated
    assert list(event.carried_over_task_ids) == [open_.id]


def test_comments_belong_to_their_author(domain: Domain) -> None:
    project = make_project(domain)
    task = make_task(domain, project.id)
    ana = Actor(member_id=domain.owner_actor().member_id)
    comment = domain.execute(
        ana, *cmd(add_comment=commands_pb2.AddComment(task_id=task.id, body="hello"))
    ).comment
    edited = domain.execute(
        ana, *cmd(edit_comment=commands_pb2.EditComment(comment_id=comment.id, body="hello!"))
    ).comment
    assert edited.body == "hello!" and edited.HasField("edit_time")
    ben = Actor(member_id="someone-else")
    with pytest.raises(DomainError) as refused:
        domain.execute(ben, *cmd(delete_comment=commands_pb2.DeleteComment(comment_id=comment.id)))
    assert refused.value.code == ErrorCode.ERROR_CODE_PERMISSION_DENIED
    assert [c.body for c in domain.list_comments(task.id)] == ["hello!"]


def test_deleting_a_task_removes_subtasks_and_reports_them(domain: Domain) -> None:
    project = make_project(domain)
    parent, child = make_task(domain, project.id, "parent"), make_task(domain, project.id, "child")
    update(domain, child, 1, parent_task_id=parent.id)
    with pytest.raises(DomainError):
        update(domain, parent, 1, parent_task_id=child.id)  # would make a cycle
    ack = domain.execute(
        domain.owner_actor(), *cmd(delete_task=commands_pb2.DeleteTask(task_id=parent.id))
    )
    event = domain.events_since(project.id, ack.seq - 1).events[0].task_deleted
    assert list(event.deleted_subtask_ids) == [child.id]
    assert domain.list_tasks(project.id, TaskFilter()).total_size == 0


def test_events_since_replays_and_detects_trimmed_history(tmp_path: Path) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path, history_limit=10))
    try:
        project = make_project(domain)
        for i in range(30):
            make_task(domain, project.id, f"t{i}")
        log = domain.events_since(project.id, 25)
        assert [e.task_created.seq for e in log.events] == [26, 27, 28, 29, 30, 31]
        assert log.head_seq == 31 and not log.resync_required
        assert domain.events_since(project.id, 1).resync_required  # trimmed away
        assert domain.events_since(project.id, 99).resync_required  # from the future
    finally:
        domain.close()


async def test_concurrent_writers_get_gapless_ordered_seqs(domain: Domain) -> None:
    project = make_project(domain)
    seen: list[int] = []
    domain.sink.add_listener(lambda events: seen.extend(e.seq for e in events))

    async def writer(n: int) -> list[int]:
        acks = []
        for i in range(25):
            create = commands_pb2.CreateTask(
                project_id=project.id, task=entities_pb2.Task(title=f"{n}-{i}")
            )
            acks.append((await domain.command(domain.owner_actor(), *cmd(create_task=create))).seq)
        return acks

    results = await asyncio.gather(*(writer(n) for n in range(8)))
    acked = sorted(s for r in results for s in r)
    assert acked == list(range(2, 202))
    assert seen == list(range(2, 202))  # published in commit order, no gaps
    log = domain.events_since(project.id, 0)
    assert [e.WhichOneof("payload") for e in log.events][:2] == ["project_updated", "task_created"]
    assert len(log.events) == 201


async def test_wait_for_events_returns_when_a_change_commits(domain: Domain) -> None:
    project = make_project(domain)
    waiter = asyncio.create_task(domain.wait_for_events(project.id, 1, timeout=30))
    await asyncio.sleep(0)  # let the waiter register
    assert not waiter.done()
    await domain.command(
        domain.owner_actor(),
        *cmd(
            create_task=commands_pb2.CreateTask(
                project_id=project.id, task=entities_pb2.Task(title="x")
            )
        ),
    )
    await asyncio.wait_for(waiter, 10)
    await domain.wait_for_events(project.id, 2, timeout=0.01)  # nothing new: returns after the wait


def test_data_survives_reopen(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path)
    first = open_domain(config)
    project = make_project(first)
    task = make_task(first, project.id)
    first.close()
    second = open_domain(config)
    try:
        assert second.get_task(task.id) == task
        assert second.head(project.id)[1] == 2
    finally:
        second.close()


@pytest.mark.sqlite_only("migrates an old SQLite file")
def test_migrates_a_version_1_database_after_backing_it_up(tmp_path: Path) -> None:
    from server.storage import migrations

    path = tmp_path / "tandem.sqlite3"
    conn = sqlite3.connect(path)
    migrations.migrate(path, conn, migrations.MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO project (id, key, name, version, created_at, updated_at) "
        "VALUES ('p1', 'OLD', 'Old project', 1, 0, 0)"
    )
    conn.execute("INSERT INTO log_head VALUES ('p1', 0, 0)")
    conn.commit()
    conn.close()
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    try:
        assert domain.get_project("p1").name == "Old project"
        conn = sqlite3.connect(path)
        assert migrations.user_version(conn) == migrations.LATEST
        conn.close()
        backups = list(tmp_path.glob("tandem.sqlite3.v1-*.bak"))
        assert len(backups) == 1
        old = sqlite3.connect(backups[0])
        assert old.execute("PRAGMA user_version").fetchone()[0] == 1
        old.close()
    finally:
        domain.close()


@pytest.mark.sqlite_only("a SQLite file's user_version (PostgreSQL's: test_postgres_backend.py)")
def test_refuses_a_database_from_a_newer_tandem(tmp_path: Path) -> None:
    from server.storage.migrations import DatabaseTooNewError

    path = tmp_path / "tandem.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(DatabaseTooNewError, match="newer Tandem"):
        open_domain(ServerConfig(data_dir=tmp_path))


@pytest.mark.sqlite_only("a read-only SQLite file")
def test_read_only_database_gives_unavailable_and_keeps_data(tmp_path: Path) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    try:
        project = make_project(domain)
        domain.store.db.execute_sql("PRAGMA query_only = 1")
        with pytest.raises(DomainError) as refused:
            make_task(domain, project.id)
        assert refused.value.code == ErrorCode.ERROR_CODE_UNAVAILABLE
        domain.store.db.execute_sql("PRAGMA query_only = 0")
        assert make_task(domain, project.id).key == "WEB-1"
    finally:
        domain.close()


@pytest.mark.sqlite_only("backs the SQLite file up (PostgreSQL: pg_dump)")
def test_backup_is_consistent_and_has_a_new_epoch(domain: Domain, tmp_path: Path) -> None:
    project = make_project(domain)
    make_task(domain, project.id)
    dest = domain.backup(tmp_path / "backups" / "copy.sqlite3")
    conn = sqlite3.connect(dest)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM task").fetchone()[0] == 1
    epoch = conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
    conn.close()
    assert epoch != domain.store.epoch()


def test_a_remembered_refusal_stays_refused_after_the_world_changes(domain: Domain) -> None:
    holder = make_project(domain, "KEY")
    actor = Actor(member_id=domain.owner_actor().member_id, client_key="tab")
    again = cmd(
        "m-dup",
        create_project=commands_pb2.CreateProject(
            project=entities_pb2.Project(key="KEY", name="second")
        ),
    )
    with pytest.raises(DomainError) as first:
        domain.execute(actor, *again)
    assert first.value.code == ErrorCode.ERROR_CODE_ALREADY_EXISTS
    domain.execute(actor, *cmd(delete_project=commands_pb2.DeleteProject(project_id=holder.id)))
    # The key is free now, but this command was answered already: same answer, no effect.
    with pytest.raises(DomainError) as replayed:
        domain.execute(actor, *again)
    assert replayed.value.code == ErrorCode.ERROR_CODE_ALREADY_EXISTS
    assert domain.list_projects() == []


@pytest.mark.sqlite_only("fills the SQLite file's disk")
def test_a_command_refused_for_a_full_disk_can_be_retried(tmp_path: Path) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    try:
        project = make_project(domain)
        actor = Actor(member_id=domain.owner_actor().member_id, client_key="tab")
        create = cmd(
            "m-retry",
            create_task=commands_pb2.CreateTask(
                project_id=project.id, task=entities_pb2.Task(title="t")
            ),
        )
        domain.store.db.execute_sql("PRAGMA query_only = 1")
        with pytest.raises(DomainError) as refused:
            domain.execute(actor, *create)
        assert refused.value.code == ErrorCode.ERROR_CODE_UNAVAILABLE
        domain.store.db.execute_sql("PRAGMA query_only = 0")
        assert domain.execute(actor, *create).task.title == "t"
    finally:
        domain.close()


def test_command_ids_are_forgotten_after_a_week(tmp_path: Path) -> None:
    from server.storage.database import Store

    now = [1_000_000_000_000_000]
    path = tmp_path / "tandem.sqlite3"
    domain = Domain(Store(path), clock=lambda: now[0])
    project = make_project(domain)
    actor = Actor(member_id=domain.owner_actor().member_id, client_key="tab")
    create = cmd(
        "m-old",
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="t")
        ),
    )
    first = domain.execute(actor, *create)
    assert domain.execute(actor, *create) == first  # remembered within the window
    domain.close()
    now[0] += 8 * 24 * 3600 * 1_000_000
    domain = Domain(Store(path), clock=lambda: now[0])  # prunes on open
    try:
        assert domain.execute(actor, *create).task.id != first.task.id
    finally:
        domain.close()


def test_text_search_is_literal_and_finds_keys(domain: Domain) -> None:
    project = make_project(domain)
    make_task(domain, project.id, "100% done")
    make_task(domain, project.id, "snake_case names")
    make_task(domain, project.id, "plain")

    def titles(text: str) -> list[str]:
        return [t.title for t in domain.list_tasks(project.id, TaskFilter(text=text)).tasks]

    assert titles("%") == ["100% done"]
    assert titles("_") == ["snake_case names"]
    assert titles("web-3") == ["plain"]
    assert titles("PLAIN") == ["plain"]
    with pytest.raises(DomainError) as refused:
        domain.list_tasks(project.id, TaskFilter(page_token="99999999999999999999999"))
    assert refused.value.field == "page_token"


@pytest.mark.sqlite_only("a SQLite file's bytes")
def test_a_newer_database_is_left_exactly_as_it_was(tmp_path: Path) -> None:
    from server.storage.migrations import DatabaseTooNewError

    path = tmp_path / "tandem.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseTooNewError):
        open_domain(ServerConfig(data_dir=tmp_path))
    assert path.read_bytes() == before
    assert not (tmp_path / "tandem.sqlite3-wal").exists()


def test_a_message_id_reused_for_another_command_is_refused(domain: Domain) -> None:
    project = make_project(domain)
    task = make_task(domain, project.id)
    actor = Actor(member_id=domain.owner_actor().member_id, client_key="tab")

    def rename(title: str) -> tuple[Message, str]:
        return cmd(
            "m-same",
            update_task=commands_pb2.UpdateTask(
                task_id=task.id,
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
                task=entities_pb2.Task(title=title),
            ),
        )

    first = domain.execute(actor, *rename("first"))
    assert domain.execute(actor, *rename("first")) == first  # a retry: the same answer
    with pytest.raises(DomainError) as refused:
        domain.execute(actor, *rename("second"))  # another command under the same id
    assert refused.value.field == "message_id"
    assert domain.get_task(task.id).title == "first"


def test_a_project_made_again_under_the_same_id_has_another_epoch(tmp_path: Path) -> None:
    now = [1_800_000_000 * 1_000_000]
    domain = Domain(Store(tmp_path / "tandem.db"), clock=lambda: now[0])
    owner = domain.owner_actor()
    project_id = "6f1c1b8e-6d4e-4b8a-9a57-0c4b2b6a1f00"

    def create() -> None:
        domain.execute(
            owner,
            *cmd(
                create_project=commands_pb2.CreateProject(
                    project=entities_pb2.Project(id=project_id, key="AGN", name="again")
                )
            ),
        )

    create()
    make_task(domain, project_id)
    before = domain.events_since(project_id, 0)
    domain.execute(owner, *cmd(delete_project=commands_pb2.DeleteProject(project_id=project_id)))
    # The deleted project waits in the trash under its id; purged, the id is free again.
    with pytest.raises(DomainError) as taken:
        create()
    assert taken.value.code == ErrorCode.ERROR_CODE_ALREADY_EXISTS
    now[0] += (TRASH_DAYS + 1) * 24 * 3600 * 1_000_000
    create()
    make_task(domain, project_id)
    after = domain.events_since(project_id, 0)
    # Same id, same seqs (1, 2), but another history: a client resuming must resync.
    assert after.head_seq == before.head_seq == 2
    assert after.epoch != before.epoch
    assert domain.snapshot(project_id).epoch == after.epoch == domain.head(project_id)[0]
    domain.close()


def test_starting_a_sprint_moves_its_fields_versions(domain: Domain) -> None:
    project = make_project(domain)
    owner = domain.owner_actor()
    sprint = domain.execute(
        owner,
        *cmd(
            create_sprint=commands_pb2.CreateSprint(
                project_id=project.id, sprint=entities_pb2.Sprint(name="S")
            )
        ),
    ).sprint
    started = domain.execute(
        owner, *cmd(start_sprint=commands_pb2.StartSprint(sprint_id=sprint.id))
    )
    assert started.sprint.start_date and started.sprint.version == 2
    stale = commands_pb2.UpdateSprint(
        sprint_id=sprint.id,
        base_version=1,
        update_mask=field_mask_pb2.FieldMask(paths=["start_date"]),
        sprint=entities_pb2.Sprint(start_date="2020-01-01"),
    )
    with pytest.raises(DomainError) as refused:
        domain.execute(owner, *cmd(update_sprint=stale))
    assert refused.value.code == ErrorCode.ERROR_CODE_CONFLICT
    assert domain.get_sprint(sprint.id).start_date == started.sprint.start_date


async def test_a_failing_listener_neither_undoes_the_answer_nor_silences_others(
    domain: Domain,
) -> None:
    heard: list[int] = []

    def broken(_events: object) -> None:
        raise RuntimeError("listener bug")

    domain.sink.add_listener(broken)
    domain.sink.add_listener(lambda events: heard.extend(e.seq for e in events))
    create = commands_pb2.CreateProject(project=entities_pb2.Project(key="LIS", name="l"))
    ack = await domain.command(domain.owner_actor(), *cmd(create_project=create))
    assert ack.seq == 1 and heard == [1]


@pytest.mark.sqlite_only("SQLite's pragmas")
def test_the_database_is_opened_wal_with_foreign_keys_a_busy_timeout_and_full_sync(
    domain: Domain,
) -> None:
    def pragma(name: str) -> object:
        return domain.store.db.execute_sql(f"PRAGMA {name}").fetchone()[0]

    assert pragma("journal_mode") == "wal"
    assert pragma("foreign_keys") == 1
    assert pragma("busy_timeout") == 5000
    assert pragma("synchronous") == 2  # FULL


def test_the_data_folder_is_the_per_user_one_unless_overridden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import platformdirs

    from server import paths

    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)
    assert paths.default_data_dir() == Path(platformdirs.user_data_dir("Tandem", appauthor=False))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "mine"))
    assert paths.default_data_dir() == tmp_path / "mine"
    assert paths.database_path(tmp_path) == tmp_path / "tandem.sqlite3"
