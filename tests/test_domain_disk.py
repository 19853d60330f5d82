"""What a command may cost the owner's disk: capped ids and strings, remembered answers
stored by a fixed-size key within a per-member budget, and a database that gives space back.
Real SQLite files; the WebSocket case over a real socket."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from tandem.v1 import commands_pb2, entities_pb2

from server.appkeys import DOMAIN
from server.config import ServerConfig
from server.domain import idempotency
from server.domain.actor import Actor
from server.domain.errors import DomainError, ErrorCode
from server.domain.service import CommandRequest, Domain, open_domain
from server.storage import dialect, migrations
from tests.fixtures import NewServer, board, retitle
from tests.ws_client import WsClient, ws_url

Role = entities_pb2.MemberRole
HUGE_ID = "x" * 1_040_000

# What these measure is the SQLite file: its pages, its size, its rows read directly.
pytestmark = pytest.mark.sqlite_only("measures the SQLite file itself (pages, size, raw rows)")


def disk_bytes(domain: Domain) -> int:
    """The database as it sits on disk: the file and its write-ahead log."""
    path = domain.store.path
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def remembered(domain: Domain) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(domain.store.path)
    try:
        return conn.execute("SELECT key, member_id, size FROM applied_request").fetchall()
    finally:
        conn.close()


def new_task(domain: Domain) -> entities_pb2.Task:
    owner = domain.owner_actor()
    project = domain.execute(
        owner,
        commands_pb2.CreateProject(project=entities_pb2.Project(key="DSK", name="Disk")),
    ).project
    return domain.execute(
        owner, commands_pb2.CreateTask(project_id=project.id, task=entities_pb2.Task(title="t"))
    ).task


def test_oversized_ids_from_a_viewer_do_not_grow_the_database(domain: Domain) -> None:
    task = new_task(domain)
    viewer = Actor(member_id="viewer", role=Role.MEMBER_ROLE_VIEWER)
    domain.store.checkpoint()
    before = disk_bytes(domain)
    for i in range(100):
        with pytest.raises(DomainError) as refused:
            domain.execute(viewer, commands_pb2.DeleteTask(task_id=task.id), f"{i}{HUGE_ID}")
        assert refused.value.code == ErrorCode.ERROR_CODE_INVALID_ARGUMENT
        assert refused.value.field == "message_id"
    assert disk_bytes(domain) - before < 1_000_000
    assert remembered(domain) == []
    # The task is still there: a refusal changes nothing.
    assert domain.get_task(task.id).title == "t"


def test_refusals_that_need_no_memory_are_not_stored(domain: Domain) -> None:
    task = new_task(domain)
    viewer = Actor(member_id="viewer", role=Role.MEMBER_ROLE_VIEWER)
    editor = Actor(member_id="editor", role=Role.MEMBER_ROLE_EDITOR)
    for i in range(50):
        with pytest.raises(DomainError) as refused:
            domain.execute(viewer, commands_pb2.DeleteTask(task_id=task.id), f"v-{i}")
        assert refused.value.code == ErrorCode.ERROR_CODE_PERMISSION_DENIED
        bad_title = commands_pb2.UpdateTask(
            task_id=task.id,
            task=entities_pb2.Task(title=" "),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        )
        with pytest.raises(DomainError) as invalid:
            domain.execute(editor, bad_title, f"e-{i}")
        assert invalid.value.code == ErrorCode.ERROR_CODE_INVALID_ARGUMENT
    assert remembered(domain) == []
    # A refusal that depends on the board is still remembered, and answered again.
    missing = commands_pb2.DeleteTask(task_id="00000000-0000-4000-8000-00000000dead")
    for _ in range(2):
        with pytest.raises(DomainError) as gone:
            domain.execute(editor, missing, "not-found")
        assert gone.value.code == ErrorCode.ERROR_CODE_NOT_FOUND
    assert len(remembered(domain)) == 1


def test_a_remembered_id_is_stored_by_a_fixed_size_key(domain: Domain) -> None:
    task = new_task(domain)
    owner = domain.owner_actor()
    long_id = "i" * 128
    rename = commands_pb2.UpdateTask(
        task_id=task.id,
        task=entities_pb2.Task(title="renamed"),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
    )
    first = domain.execute(owner, rename, long_id)
    assert domain.execute(owner, rename, long_id) == first  # a retry: the first answer
    ((key, member_id, _size),) = remembered(domain)
    assert key == idempotency.key_of(owner.request_key(long_id) or "")
    assert len(key) == 32
    assert member_id == owner.member_id


def test_a_members_remembered_answers_stay_within_a_budget(domain: Domain) -> None:
    task = new_task(domain)
    editor = Actor(member_id="editor", role=Role.MEMBER_ROLE_EDITOR)
    other = Actor(member_id="other", role=Role.MEMBER_ROLE_EDITOR)
    domain.ledger.budget_bytes = 20_000

    def rename(n: int) -> Message:
        return commands_pb2.UpdateTask(
            task_id=task.id,
            task=entities_pb2.Task(title=f"title {n}"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        )

    domain.execute(other, rename(-1), "kept")
    for n in range(200):
        domain.execute(editor, rename(n), f"id-{n}")
    rows = remembered(domain)
    mine = [size for _key, member, size in rows if member == "editor"]
    assert sum(mine) <= 20_000
    assert 0 < len(mine) < 200
    # The newest ids still replay; the oldest were forgotten (run again, a new version).
    assert domain.execute(editor, rename(199), "id-199").task.title == "title 199"
    version = domain.get_task(task.id).version
    assert domain.execute(editor, rename(199), "id-199").task.version == version
    assert domain.execute(editor, rename(0), "id-0").task.version == version + 1
    # Someone else's records are not spent on another member's budget.
    assert [m for _key, m, _size in rows].count("other") == 1


def counted_bytes(domain: Domain) -> tuple[dict[str, int], dict[str, int]]:
    """Per member: the bytes the counts say they hold, and the bytes their rows hold."""
    conn = sqlite3.connect(domain.store.path)
    try:
        told = dict(conn.execute("SELECT member_id, bytes FROM applied_request_spent"))
        there = dict(
            conn.execute("SELECT member_id, sum(size) FROM applied_request GROUP BY member_id")
        )
    finally:
        conn.close()
    return {m: b for m, b in told.items() if b}, there


def test_each_members_bytes_stay_counted_through_every_way_ids_come_and_go(
    domain: Domain,
) -> None:
    tasks = board(domain, 6)
    people = [Actor(member_id=f"m{n}", role=Role.MEMBER_ROLE_EDITOR) for n in range(6)]

    def check() -> dict[str, int]:
        told, there = counted_bytes(domain)
        assert told == there
        return told

    # A group of commands from six members, each remembered with its answer.
    domain._commit(
        [
            CommandRequest(p, retitle(t.id, f"{p.member_id} 1"), "g1")
            for p, t in zip(people, tasks, strict=True)
        ]
    )
    assert {p.member_id for p in people} <= set(check())
    # A refusal that is remembered (a conflict depends on the board).
    with pytest.raises(DomainError):
        domain.execute(people[0], retitle(tasks[0].id, "late", base_version=1), "stale")
    before = check()[people[0].member_id]
    # Past the budget: the member's oldest are forgotten, and the count follows.
    domain.ledger.budget_bytes = before + 2_000
    for n in range(40):
        domain.execute(people[0], retitle(tasks[0].id, f"again {n}"), f"again-{n}")
    assert check()[people[0].member_id] <= domain.ledger.budget_bytes
    # Expired ones forgotten: another member's, then everyone's.
    db = domain.store.db
    with db.atomic():
        db.execute_sql(
            "UPDATE applied_request SET created_at = 0 WHERE member_id = ?", (people[1].member_id,)
        )
        assert idempotency.prune(idempotency.IDEMPOTENCY_WINDOW_MICROS + 1) > 0
    assert people[1].member_id not in check()
    with db.atomic():
        idempotency.prune(2**62)
    assert check() == {}


def test_the_counts_start_from_the_ids_a_file_had_before(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    step = migrations.MIGRATIONS.index(migrations.V_APPLIED_REQUEST_SPENT)
    migrations.migrate(tmp_path / "old.db", conn, migrations.MIGRATIONS[:step])
    for n, (member, size) in enumerate([("m1", 100), ("m1", 250), ("m2", 40)]):
        conn.execute(
            "INSERT INTO applied_request VALUES (?, ?, x'00', 0, 1, NULL, ?)",
            (bytes([n]) * 32, member, size),
        )
    migrations.migrate(tmp_path / "old.db", conn)
    assert dict(conn.execute("SELECT member_id, bytes FROM applied_request_spent")) == {
        "m1": 350,
        "m2": 40,
    }
    conn.close()


def test_expired_ids_are_forgotten_a_slice_at_a_time_going_round(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run of the pruner reads a slice of the table, in the order ids were stored, and
    goes round: an expired id anywhere is forgotten within one round, none that is not."""
    (task,) = board(domain, 1)
    editor = Actor(member_id="editor", role=Role.MEMBER_ROLE_EDITOR)
    first = [domain.execute(editor, retitle(task.id, f"t{n}"), f"id-{n}") for n in range(10)]
    monkeypatch.setattr(dialect.SQLITE, "prune_slice", 4)
    db = domain.store.db
    expired = {1, 6, 9}  # by order of storing
    with db.atomic():
        stored = [r for (r,) in db.execute_sql("SELECT rowid FROM applied_request ORDER BY rowid")]
        mine = stored[-10:]
        for n in expired:
            db.execute_sql("UPDATE applied_request SET created_at = 0 WHERE rowid = ?", (mine[n],))
        pruner = idempotency.Pruner()
        now = idempotency.IDEMPOTENCY_WINDOW_MICROS + 1
        forgotten = [pruner.run(now) for _ in range(len(stored) // 4 + 2)]
        left = {r for (r,) in db.execute_sql("SELECT rowid FROM applied_request")}
    # One slice at a time: never more than a slice in one run, all of them in one round.
    assert max(forgotten) <= 2 and sum(forgotten) == len(expired)
    assert left == set(stored) - {mine[n] for n in expired}
    # The newest still replay; an expired one runs again as a new command.
    assert domain.execute(editor, retitle(task.id, "t8"), "id-8") == first[8]
    version = domain.get_task(task.id).version
    assert domain.execute(editor, retitle(task.id, "t1"), "id-1").task.version == version + 1


def test_a_new_database_gives_freed_pages_back(domain: Domain) -> None:
    conn = sqlite3.connect(domain.store.path)
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    finally:
        conn.close()


def test_an_older_database_is_migrated_to_hashed_keys_and_incremental_vacuum(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tandem.sqlite3"
    conn = sqlite3.connect(path)
    for version, step in enumerate(migrations.MIGRATIONS[:4], start=1):
        conn.executescript(f"BEGIN;\n{step}\nPRAGMA user_version = {version};\nCOMMIT;")
    scoped = "member-1\x1fbrowser\x1fm-1"
    conn.execute(
        "INSERT INTO applied_request (key, answer, is_error, created_at, fingerprint) "
        "VALUES (?, x'0801', 0, ?, x'00')",
        (scoped, time.time_ns() // 1000),  # recent: kept by the start-up pruning
    )
    conn.commit()
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    conn.close()
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    try:
        assert remembered(domain) == [(idempotency.key_of(scoped), "member-1", 2 + 128)]
    finally:
        domain.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert migrations.user_version(conn) == migrations.LATEST
    finally:
        conn.close()
    assert list(tmp_path.glob("tandem.sqlite3.v4-*.bak"))  # backed up first


async def test_oversized_message_ids_over_a_websocket_are_refused_unstored(
    new_server: NewServer,
) -> None:
    server = await new_server()
    domain = server.app[DOMAIN]
    async with aiohttp.ClientSession() as session:
        client = await WsClient.connect(session, ws_url(server), max_msg_size=0)
        project = await client.request(
            create_project=commands_pb2.CreateProject(
                project=entities_pb2.Project(key="WSD", name="ws")
            )
        )
        before = disk_bytes(domain)
        delete = commands_pb2.DeleteProject(project_id=project.ack.project.id)
        for i in range(100):
            reply = await client.request(f"{i}{HUGE_ID}", delete_project=delete)
            while reply.reject.error.code == ErrorCode.ERROR_CODE_RATE_LIMITED:
                await asyncio.sleep(reply.reject.error.retry_after_ms / 1000)
                reply = await client.request(f"{i}{HUGE_ID}", delete_project=delete)
            assert reply.reject.error.code == ErrorCode.ERROR_CODE_INVALID_ARGUMENT
            assert reply.reject.error.field == "message_id"
        assert disk_bytes(domain) - before < 1_000_000
        assert domain.get_project(project.ack.project.id).key == "WSD"
        await client.close()
