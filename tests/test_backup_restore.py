"""Backups (now, daily with retention, before migrations) and restore: refused while a
server runs on the folder, checked before anything is touched, correct when stopped, and
a new epoch so clients resync."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from tandem.v1 import commands_pb2, entities_pb2

from server import paths
from server.config import ServerConfig
from server.domain.service import open_domain
from server.storage import migrations
from server.storage.database import Store
from server.transfer import backups
from tests import transfer_files as files
from tests.fixtures import start_process, start_tandem

REPO = Path(__file__).resolve().parent.parent


def tandem(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip


def board(data_dir: Path, titles: tuple[str, ...] = ("One", "Two")) -> Path:
    domain = open_domain(ServerConfig(data_dir=data_dir))
    try:
        owner = domain.owner_actor()
        project = domain.execute(owner, commands_pb2.CreateProject(
            project=entities_pb2.Project(key="WEB", name="Website"))).project  # fmt: skip
        for title in titles:
            task = entities_pb2.Task(title=title)
            domain.execute(owner, commands_pb2.CreateTask(project_id=project.id, task=task))
    finally:
        domain.close()
    return paths.database_path(data_dir)


def epoch(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])
    finally:
        conn.close()


def add_task(data_dir: Path, title: str) -> None:
    domain = open_domain(ServerConfig(data_dir=data_dir))
    try:
        (project,) = domain.list_projects()
        task = entities_pb2.Task(title=title)
        domain.execute(
            domain.owner_actor(), commands_pb2.CreateTask(project_id=project.id, task=task)
        )
    finally:
        domain.close()


def titles(db: Path) -> list[str]:
    return sorted(row[3] for row in files.all_rows(db)["task"])


# --- tandem backup --------------------------------------------------------------------


def test_tandem_backup_prints_the_file_it_wrote(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    db = board(data_dir)
    done = tandem("backup", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip())
    assert written.parent == paths.backups_dir(data_dir) and written.is_file()
    assert backups.taken_at(written) is not None
    assert titles(written) == ["One", "Two"]
    assert epoch(written) != epoch(db)  # a restore of it starts a new history
    to = tmp_path / "elsewhere" / "copy.sqlite3"
    done = tandem("backup", "--to", str(to), "--data-dir", str(data_dir))
    assert done.returncode == 0 and Path(done.stdout.strip()) == to and titles(to) == ["One", "Two"]


def test_tandem_backup_works_while_tandem_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    board(data_dir)
    proc, _url = start_process(data_dir)
    try:
        done = tandem("backup", "--data-dir", str(data_dir))
        assert done.returncode == 0, done.stderr
        assert titles(Path(done.stdout.strip())) == ["One", "Two"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_folder_without_a_database_is_refused(tmp_path: Path) -> None:
    done = tandem("backup", "--data-dir", str(tmp_path / "nothing"))
    assert done.returncode == 1
    db = tmp_path / "nothing" / "tandem.sqlite3"
    assert done.stderr.strip() == f"tandem backup: there is no Tandem database at {db}"


# --- the schedule and retention, with a controlled clock ------------------------------


async def test_one_backup_a_day_and_the_newest_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    board(data_dir)
    store = Store(paths.database_path(data_dir))
    now = [dt.datetime(2026, 12, 1, 9, 0, 0)]
    where = backups.folder(data_dir)
    schedule = backups.DailyBackups(
        where, lambda at: backups.daily_async(store, where, kept=3, now=at), clock=lambda: now[0]
    )
    try:
        first = await schedule.tick()
        assert first is not None and first.name == "tandem-20261201-090000.sqlite3"
        now[0] = dt.datetime(2026, 12, 1, 23, 59, 0)
        assert await schedule.tick() is None  # one a day at most
        for day in range(2, 7):
            now[0] = dt.datetime(2026, 12, day, 0, 30, 0)
            assert await schedule.tick() is not None
            assert await schedule.tick() is None
        kept = [p.name for p in backups.listed(where)]
        assert kept == [f"tandem-202612{d:02}-003000.sqlite3" for d in (4, 5, 6)]
        # Files of other names in the folder are never counted or deleted.
        (where / "notes.txt").write_text("mine", encoding="utf-8")
        now[0] = dt.datetime(2026, 12, 7, 8, 0, 0)
        await schedule.tick()
        assert (where / "notes.txt").exists() and len(backups.listed(where)) == 3
    finally:
        store.close()


async def test_an_empty_board_is_not_backed_up_daily(tmp_path: Path) -> None:
    store = Store(paths.database_path(tmp_path / "data"))
    where = backups.folder(tmp_path / "data")
    try:
        made = await backups.daily_async(store, where, kept=3, now=dt.datetime(2026, 12, 1))
    finally:
        store.close()
    assert made is None and backups.listed(where) == []


async def test_the_running_server_makes_the_days_backup(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    board(data_dir)
    server = await start_tandem(data_dir, backup_check_seconds=0.05, backups_kept=2)
    try:
        async with asyncio.timeout(20):
            # The file system has no event to wait on: look until the file is there.
            while not backups.listed(backups.folder(data_dir)):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await server.close()
    (made,) = backups.listed(backups.folder(data_dir))
    assert backups.taken_at(made).date() == dt.date.today()  # type: ignore[union-attr]
    assert titles(made) == ["One", "Two"]


# --- restore --------------------------------------------------------------------------


def test_restore_is_refused_while_tandem_runs_and_works_once_stopped(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    db = board(data_dir)
    saved = Path(tandem("backup", "--data-dir", str(data_dir)).stdout.strip())
    add_task(data_dir, "Three, after the backup")
    proc, url = start_process(data_dir)
    try:
        with urllib.request.urlopen(url + "/api/v1/projects", timeout=10) as reply:
            project_id = json.loads(reply.read())["projects"][0]["id"]
        with urllib.request.urlopen(f"{url}/api/v1/projects/{project_id}/events", timeout=10) as r:
            served_epoch = json.loads(r.read())["epoch"]
        before = files.all_rows(db)
        done = tandem("restore", str(saved), "--data-dir", str(data_dir))
        assert done.returncode == 1
        assert done.stderr.strip() == (
            f"tandem restore: Tandem is running on this data folder (process {proc.pid} at {url}/);"
            " quit it first, then restore. Nothing was changed."
        )
        assert files.all_rows(db) == before
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    done = tandem("restore", str(saved), "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    kept = Path(done.stdout.strip().splitlines()[-1].rsplit(" ", 1)[1])
    assert titles(db) == ["One", "Two"]
    assert titles(kept) == ["One", "Three, after the backup", "Two"]  # what it replaced
    assert epoch(db) not in (epoch(saved), epoch(kept))
    # A client that reconnects sees another epoch, so it reads the board afresh.
    proc, url = start_process(data_dir)
    try:
        with urllib.request.urlopen(f"{url}/api/v1/projects/{project_id}/events?since=3") as r:
            page = json.loads(r.read())
        assert page["epoch"] != served_epoch
        with urllib.request.urlopen(f"{url}/api/v1/projects/{project_id}/tasks") as r:
            assert sorted(t["title"] for t in json.loads(r.read())["tasks"]) == [
                "One",
                "Two",
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _newer(path: Path) -> Path:
    board(path.parent / "newer")
    source = paths.database_path(path.parent / "newer")
    conn = sqlite3.connect(source)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    conn.close()
    return source


def _not_tandem(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    return path


def _damaged(path: Path) -> Path:
    source = board(path.parent / "damaged", tuple(f"task {i} " + "x" * 400 for i in range(400)))
    data = bytearray(source.read_bytes())
    data[8192:12288] = b"\xff" * 4096
    source.write_bytes(bytes(data))
    return source


def _text(path: Path) -> Path:
    path.write_text("not a database at all\n" * 100, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_newer, f"has schema version {migrations.LATEST + 1}, but this Tandem understands up to"),
        (_not_tandem, "is not a Tandem database (no table meta)"),
        (_damaged, "is damaged"),
        (_text, "is not a Tandem database (file is not a database)"),
    ],
)
def test_a_file_unfit_to_restore_is_refused_before_anything_changes(
    tmp_path: Path, make: Callable[[Path], Path], says: str
) -> None:
    data_dir = tmp_path / "data"
    db = board(data_dir)
    source = make(tmp_path / "source.sqlite3")
    before = files.all_rows(db)
    done = tandem("restore", str(source), "--data-dir", str(data_dir))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert says in line and str(source) in line, line
    assert files.all_rows(db) == before
    assert backups.listed(backups.folder(data_dir)) == []  # not even a backup was made
