"""No acknowledged change is ever lost: kill -9 mid-write, and online backup during writes."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
from pathlib import Path

import aiohttp
import pytest
from tandem.v1 import commands_pb2, entities_pb2

from server.config import ServerConfig
from server.domain.errors import DomainError, ErrorCode
from server.domain.service import TaskFilter, open_domain
from tests.fixtures import start_process

ROUNDS = 30


async def write_until_killed(
    proc: subprocess.Popen[str], base: str, project_id: str, kill_after: int
) -> list[str]:
    """Four writers create tasks; after ``kill_after`` acks the server is killed mid-stream."""
    acked: list[str] = []
    headers = {"Origin": base}

    async def writer(session: aiohttp.ClientSession, n: int) -> None:
        for i in range(10_000):
            try:
                async with session.post(
                    f"{base}/api/v1/projects/{project_id}/tasks", json={"title": f"w{n}-{i}"}
                ) as resp:
                    if resp.status != 201:
                        return
                    acked.append((await resp.json())["id"])
            except aiohttp.ClientError:
                return
            if len(acked) >= kill_after and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)

    async with aiohttp.ClientSession(headers=headers) as session:
        await asyncio.gather(*(writer(session, n) for n in range(4)))
    return acked


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
async def test_kill_9_during_writes_loses_no_acknowledged_change(tmp_path: Path) -> None:
    rng = random.Random(17)
    proc, base = start_process(tmp_path, stderr=subprocess.DEVNULL)
    async with (
        aiohttp.ClientSession(headers={"Origin": base}) as session,
        session.post(f"{base}/api/v1/projects", json={"key": "KIL", "name": "k"}) as r,
    ):
        assert r.status == 201
        project_id = (await r.json())["id"]
    proc.terminate()
    proc.wait(timeout=30)
    acked_total: list[str] = []
    for _ in range(ROUNDS):
        proc, base = start_process(tmp_path, stderr=subprocess.DEVNULL)
        acked_total += await write_until_killed(proc, base, project_id, rng.randint(1, 40))
        assert proc.wait(timeout=30) == -signal.SIGKILL
    conn = sqlite3.connect(tmp_path / "tandem.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT id FROM task")}
        seqs = [row[0] for row in conn.execute("SELECT seq FROM event ORDER BY seq")]
    finally:
        conn.close()
    assert len(acked_total) >= ROUNDS
    missing = [task_id for task_id in acked_total if task_id not in stored]
    assert not missing, f"{len(missing)} acknowledged tasks lost"
    assert seqs == list(range(1, len(seqs) + 1)), "the change log has a gap"


async def test_online_backup_during_writes_is_consistent(tmp_path: Path) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path / "data"))
    try:
        owner = domain.owner_actor()
        project = (
            await domain.command(
                owner,
                commands_pb2.CreateProject(project=entities_pb2.Project(key="BAK", name="b")),
            )
        ).project
        stop = asyncio.Event()

        async def writer() -> int:
            count = 0
            while not stop.is_set() and count < 5_000:
                create = commands_pb2.CreateTask(
                    project_id=project.id, task=entities_pb2.Task(title=f"t{count}")
                )
                await domain.command(owner, create)
                count += 1
            return count

        writing = asyncio.create_task(writer())
        backups = []
        for i in range(3):
            backups.append(await domain.backup_async(tmp_path / f"backup-{i}.sqlite3"))
        stop.set()
        written = await writing
        assert written > 0
        for path in backups:
            conn = sqlite3.connect(path)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                tasks = conn.execute("SELECT count(*) FROM task").fetchone()[0]
                head = conn.execute("SELECT head_seq FROM log_head").fetchone()[0]
            finally:
                conn.close()
            assert head == tasks + 1  # the log and the data were copied at one instant
    finally:
        domain.close()


async def test_a_full_disk_is_a_clear_error_that_loses_nothing_and_recovers(tmp_path: Path) -> None:
    """SQLite's own "database or disk is full", made real by capping the file's pages."""
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    owner = domain.owner_actor()
    try:
        project = (
            await domain.command(
                owner,
                commands_pb2.CreateProject(project=entities_pb2.Project(key="FUL", name="full")),
            )
        ).project
        saved = []
        for i in range(20):
            create = commands_pb2.CreateTask(
                project_id=project.id, task=entities_pb2.Task(title=f"kept {i}")
            )
            ack = await domain.command(owner, create)
            saved.append(ack.task.id)

        def cap(pages: int | None) -> None:
            db = domain.store.db
            if pages is None:
                db.execute_sql("PRAGMA max_page_count = 1073741823")
            else:
                db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                count = db.execute_sql("PRAGMA page_count").fetchone()[0]
                db.execute_sql(f"PRAGMA max_page_count = {count}")

        await domain.read(cap, 0)
        big = commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="big", description="x" * 90_000)
        )
        with pytest.raises(DomainError) as refused:
            await domain.command(owner, big)
        assert refused.value.code == ErrorCode.ERROR_CODE_UNAVAILABLE
        assert "nothing was saved" in refused.value.message
        await domain.read(cap, None)  # space again
        ack = await domain.command(owner, big)
        assert ack.task.title == "big"
        listed = await domain.read(domain.list_tasks, project.id, TaskFilter(page_size=100))
        assert [t.id for t in listed.tasks][:20] == saved
    finally:
        domain.close()
    conn = sqlite3.connect(tmp_path / "tandem.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        seqs = [r[0] for r in conn.execute("SELECT seq FROM event ORDER BY seq")]
    finally:
        conn.close()
    assert seqs == list(range(1, len(seqs) + 1))
