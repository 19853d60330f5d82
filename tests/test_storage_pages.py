"""What one command's commit writes to the database, and the schema steps that made it less.

A commit costs SQLite a write (and later a checkpoint copy) per page it changes, so each
table or index a command touches costs it: the change log is keyed by (project_id, seq)
without a counter to move (V_EVENT_KEY), remembered ids have no index by time
(V_APPLIED_REQUEST_ONE_TIME_INDEX) nor by member (V_APPLIED_REQUEST_SPENT: each member's
bytes are a count of their own, and expired ids are found a slice at a time), and the
sprint ledger writes only the columns that changed, and nothing for a task never in a
sprint. These tests hold those gains, and check that a database from before the steps
keeps its log, its answers and its ledger.
"""

from __future__ import annotations

import asyncio
import sqlite3
import struct
import time
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, events_pb2, reports_pb2, websocket_pb2

from server.config import DATABASE_URL_ENV, ServerConfig
from server.domain import idempotency, members, rows
from server.domain.actor import Actor
from server.domain.events import envelope_frame
from server.domain.service import Domain, open_domain
from server.storage import migrations, postgres
from server.storage.models import SprintLedgerTaskRow
from tests import pg_backend

Outcome = reports_pb2.SprintTaskOutcome

# The pages one title change of a task writes, in a commit of its own: log_head, task,
# event with its key's index, applied_request with its key's index and its member's count
# (applied_request_spent), search's (search_dirty, four of the full-text index's) and the
# inbox's position (inbox_cursor). One more, the ledger's row, for a task in a sprint.
UPDATE_PAGES = 13


def _project(domain: Domain, key: str = "PG") -> str:
    ack = domain.execute(
        domain.owner_actor(),
        commands_pb2.CreateProject(project=entities_pb2.Project(key=key, name=key)),
    )
    return ack.project.id


def _task(domain: Domain, project_id: str, title: str, sprint_id: str = "") -> str:
    task = entities_pb2.Task(title=title, sprint_id=sprint_id, story_points=3)
    ack = domain.execute(
        domain.owner_actor(), commands_pb2.CreateTask(project_id=project_id, task=task)
    )
    return ack.task.id


def _sprint(domain: Domain, project_id: str) -> str:
    """A sprint, started (its record counts the tasks that join it from then)."""
    ack = domain.execute(
        domain.owner_actor(),
        commands_pb2.CreateSprint(project_id=project_id, sprint=entities_pb2.Sprint(name="S")),
    )
    domain.execute(domain.owner_actor(), commands_pb2.StartSprint(sprint_id=ack.sprint.id))
    return ack.sprint.id


def _update(task_id: str, **fields: object) -> commands_pb2.UpdateTask:
    return commands_pb2.UpdateTask(
        task_id=task_id,
        update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
        task=entities_pb2.Task(**fields),  # type: ignore[arg-type]
    )


def _pages_written(domain: Domain, task_id: str, title: str) -> list[str]:
    """The table or index of each page one update's commit writes (read from the WAL, which
    is emptied first)."""
    db = domain.store.db
    db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    domain.execute(domain.owner_actor(), _update(task_id, title=title), f"pages-{title}")
    wal = Path(f"{domain.store.path}-wal").read_bytes()
    (page_size,) = struct.unpack(">I", wal[8:12])
    pages = []
    for offset in range(32, len(wal) - page_size - 23, page_size + 24):
        pages.append(struct.unpack(">I", wal[offset : offset + 4])[0])
    owners = dict(db.execute_sql("SELECT pageno, name FROM dbstat").fetchall())
    return sorted(owners.get(page, "(page map or header)") for page in pages)


@pytest.mark.sqlite_only("counts the pages of the SQLite file's write-ahead log")
def test_one_update_writes_no_more_pages_than_it_needs(domain: Domain) -> None:
    project_id = _project(domain)
    sprint_id = _sprint(domain, project_id)
    alone = [_task(domain, project_id, f"t{i}") for i in range(8)]
    planned = _task(domain, project_id, "planned", sprint_id)
    for i in range(3):  # past the first writes of every table
        for task_id in [*alone, planned]:
            domain.execute(domain.owner_actor(), _update(task_id, title=f"warm {i}"))
    # A page split now and then adds its pages to a commit: the least of a few is what every
    # commit writes.
    outside = min((_pages_written(domain, alone[i], f"once {i}") for i in range(4)), key=len)
    assert len(outside) <= UPDATE_PAGES, Counter(outside)
    assert "sprint_ledger_task" not in outside
    inside = min((_pages_written(domain, planned, f"again {i}") for i in range(4)), key=len)
    assert len(inside) <= UPDATE_PAGES + 1, Counter(inside)
    # The title is set, not the project: the ledger's project index is left alone.
    assert "sprint_ledger_task" in inside
    assert "sprint_ledger_task_project" not in inside


def _ledger(task_id: str) -> tuple[object, ...] | None:
    row = SprintLedgerTaskRow.get_or_none(SprintLedgerTaskRow.task_id == task_id)
    if row is None:
        return None
    return (row.sprint_id, row.points, row.done, row.task_key, row.title)


def test_the_ledger_keeps_a_row_from_the_first_sprint_a_task_joins(domain: Domain) -> None:
    project_id = _project(domain)
    sprint_id = _sprint(domain, project_id)
    task_id = _task(domain, project_id, "loose")
    domain.execute(domain.owner_actor(), _update(task_id, title="still loose"))
    assert _ledger(task_id) is None  # never in a sprint: nothing to remember
    domain.execute(domain.owner_actor(), _update(task_id, sprint_id=sprint_id))
    assert _ledger(task_id) == (sprint_id, 3, 0, "PG-1", "still loose")
    domain.execute(domain.owner_actor(), _update(task_id, title="planned", story_points=5))
    assert _ledger(task_id) == (sprint_id, 5, 0, "PG-1", "planned")
    report = domain.sprint_report(sprint_id)
    assert [(t.key, t.title, t.points) for t in report.tasks] == [("PG-1", "planned", 5)]
    # Out of the sprint again, it stays, and keeps its name up to date for the record.
    domain.execute(domain.owner_actor(), _update(task_id, sprint_id=""))
    domain.execute(domain.owner_actor(), _update(task_id, title="dropped"))
    assert _ledger(task_id) == (None, 5, 0, "PG-1", "dropped")
    (removed,) = domain.sprint_report(sprint_id).tasks
    assert (removed.title, removed.outcome) == ("dropped", Outcome.SPRINT_TASK_OUTCOME_REMOVED)
    # Deleted out of no sprint: nothing is written for it.
    other = _task(domain, project_id, "never planned")
    domain.execute(domain.owner_actor(), commands_pb2.DeleteTask(task_id=other))
    assert _ledger(other) is None


def test_expired_ids_are_forgotten_member_by_member(domain: Domain) -> None:
    project_id = _project(domain)
    members = {m: asyncio.run(domain.local_member(f"browser-{m}", m)) for m in "abc"}
    actors = {m: Actor(member_id=members[m].id, role=members[m].role) for m in "abc"}

    def create(member: str, n: int) -> websocket_pb2.Ack:
        task = entities_pb2.Task(title=f"{member}{n}")
        command = commands_pb2.CreateTask(project_id=project_id, task=task)
        return domain.execute(actors[member], command, f"id-{n}")

    first = {(m, n): create(m, n) for m in actors for n in range(3)}
    db = domain.store.db
    with db.atomic():
        (now,) = rows.execute("SELECT MAX(created_at) FROM applied_request").fetchone()
        # Member b's ids, and a's first, were sent more than a week before now.
        rows.execute(
            "UPDATE applied_request SET created_at = created_at - ? WHERE member_id = ? OR key = ?",
            (
                idempotency.IDEMPOTENCY_WINDOW_MICROS + 1,
                actors["b"].member_id,
                idempotency.key_of(actors["a"].request_key("id-0") or ""),
            ),
        )
        assert idempotency.prune(now) == 4
        assert idempotency.prune(now) == 0
    domain.ledger.forget_counts()
    for (member, n), ack in first.items():
        forgotten = member == "b" or (member, n) == ("a", 0)
        # A remembered id gets its first answer; a forgotten one runs as a new command.
        assert (create(member, n).task.id != ack.task.id) == forgotten, (member, n)


# ---- a file from before the steps --------------------------------------------------------


def _old_event_table() -> str:
    """V1's change log, as a file from before V_EVENT_KEY has it."""
    start = migrations.V1.index("CREATE TABLE event (")
    return migrations.V1[start : migrations.V1.index(");", start) + 2]


def _schema(conn: sqlite3.Connection) -> list[tuple[str, ...]]:
    return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))


@pytest.mark.sqlite_only("migrates a SQLite file")
def test_a_file_from_before_keeps_its_log_its_answers_and_its_ledger(tmp_path: Path) -> None:
    before = migrations.MIGRATIONS.index(migrations.V_EVENT_KEY)
    config = ServerConfig(data_dir=tmp_path / "data", history_limit=20)
    domain = open_domain(config)
    owner = Actor(member_id=domain.owner_actor().member_id, client_key="tab")
    try:
        project_id = _project(domain)
        sprint_id = _sprint(domain, project_id)
        tasks = [_task(domain, project_id, f"t{i}") for i in range(3)]
        answers = {
            f"m{i}": domain.execute(owner, _update(tasks[i % 3], title=f"u{i}"), f"m{i}")
            for i in range(6)
        }
        log = domain.events_since(project_id, 0)
        path = domain.store.path
    finally:
        domain.close()

    # Made as it was then: the log with its integer id (and sqlite_sequence's counter), the
    # indexes of ids by time and by member (and no count of each member's bytes), and a
    # ledger row for every task (V_SPRINT_REPORTS made those).
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        f"""
        BEGIN;
        ALTER TABLE event RENAME TO event_keyed;
        {_old_event_table()}
        INSERT INTO event (project_id, seq, kind, frame, created_at)
            SELECT project_id, seq, kind, frame, created_at FROM event_keyed ORDER BY seq;
        DROP TABLE event_keyed;
        CREATE INDEX applied_request_created ON applied_request (created_at);
        DROP TRIGGER applied_request_spent_insert;
        DROP TRIGGER applied_request_spent_delete;
        DROP TRIGGER applied_request_spent_update;
        DROP TABLE applied_request_spent;
        CREATE INDEX applied_request_member ON applied_request (member_id, created_at);
        INSERT INTO sprint_ledger_task (task_id, project_id, sprint_id, points, done, task_key,
                                        title)
            SELECT id, project_id, NULL, 3, 0, 'PG-' || number, title FROM task;
        PRAGMA user_version = {before};
        COMMIT;
        """
    )
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite3")
    migrations.migrate(tmp_path / "fresh.sqlite3", fresh, migrations.MIGRATIONS[:before])
    assert _schema(conn) == _schema(fresh)
    assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'event'").fetchone()
    fresh.close()
    conn.close()

    domain = open_domain(config)
    try:
        assert domain.events_since(project_id, 0) == log
        # The same answers to the same ids, and nothing appended for them.
        for request_id, ack in answers.items():
            i = int(request_id[1:])
            assert domain.execute(owner, _update(tasks[i % 3], title=f"u{i}"), request_id) == ack
        assert domain.events_since(project_id, 0) == log
        # The log goes on from its head, and is trimmed as before.
        for i in range(30):
            domain.execute(owner, _update(tasks[0], title=f"more {i}"), f"more-{i}")
        head = log.head_seq + 30
        later = domain.events_since(project_id, head - 10)
        assert [e.task_updated.seq for e in later.events] == list(range(head - 9, head + 1))
        assert domain.events_since(project_id, 0).resync_required
        # The ledger's rows from then are kept up to date, and name the task in the record.
        domain.execute(owner, _update(tasks[1], title="renamed", sprint_id=sprint_id))
        assert _ledger(tasks[1]) == (sprint_id, 3, 0, "PG-2", "renamed")
        assert [t.title for t in domain.sprint_report(sprint_id).tasks] == ["renamed"]
    finally:
        domain.close()
    check = sqlite3.connect(path)
    assert check.execute("SELECT name FROM sqlite_sequence WHERE name = 'event'").fetchall() == []
    assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    check.close()


def test_a_postgres_database_from_before_keeps_its_log_and_its_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = pg_backend.server_url() or pg_backend.DEFAULT_SERVER
    if not pg_backend.reachable(server):
        pytest.skip(f"no PostgreSQL server at {server}")
    before = migrations.PG_MIGRATIONS.index(migrations.PG_V_EVENT_KEY)
    owner = Actor(member_id=members.OWNER_ID, client_key="tab")
    retitle = _update("t1", title="again")
    ack = websocket_pb2.Ack(seq=2, task=entities_pb2.Task(id="t1", title="again"))
    frames = [
        envelope_frame("task_updated", events_pb2.TaskUpdated(seq=seq).SerializeToString())
        for seq in (1, 2)
    ]
    with pg_backend.scratch_database(server) as url:
        db = postgres.PostgresDatabase(postgres.check_url(url), prefer_psycopg3=True)
        db.connect()
        postgres.migrate(db, tuple(migrations.PG_MIGRATIONS[:before]))
        sql = [
            "INSERT INTO project (id, key, name, version, created_at, updated_at)"
            " VALUES ('p', 'OLD', 'Old', 1, 1, 1)",
            "INSERT INTO log_head VALUES ('p', 2, 0)",
            "INSERT INTO inbox_cursor VALUES ('p', 2)",
        ]
        for statement in sql:
            db.execute_sql(statement)
        for seq, frame in enumerate(frames, 1):
            db.execute_sql(
                "INSERT INTO event (project_id, seq, kind, frame, created_at)"
                " VALUES ('p', %s, 'task_updated', %s, 1)",
                (seq, frame),
            )
        db.execute_sql(
            "INSERT INTO applied_request VALUES (%s, %s, %s, 0, %s, %s, 100)",
            (
                idempotency.key_of(owner.request_key("m1") or ""),
                owner.member_id,
                ack.SerializeToString(),
                time.time_ns() // 1000,
                idempotency.fingerprint("update_task", retitle),
            ),
        )
        db.close()
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        domain = open_domain(ServerConfig(data_dir=tmp_path))
        try:
            log = domain.events_since("p", 0)
            assert [e.task_updated.seq for e in log.events] == [1, 2]
            assert domain.execute(owner, retitle, "m1") == ack  # answered as it was
            keys = domain.store.db.execute_sql(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename IN ('event', 'applied_request') ORDER BY indexname"
            ).fetchall()
        finally:
            domain.close()
    assert [name for name, _ in keys] == [
        "applied_request_member",
        "applied_request_pkey",
        "event_pkey",
    ]
    assert dict(keys)["event_pkey"].endswith("(project_id, seq)")
