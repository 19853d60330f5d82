"""A damaged, truncated or read-only database at start (checklist row 28).

Each case ends in one line on stderr that names the file and, for a damaged file, the
newest backup that passes ``quick_check`` and how to put it back; a non-zero exit; never
a traceback, and never a board served from half a file. The desktop app shows the same
line. Also: listing tasks page by page always moves forward.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pytestqt.qtbot import QtBot

from server import paths
from server.domain import tasks
from server.storage.database import Store
from server.storage.health import DatabaseUnusableError

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60
PAGE = 4096


def make_board(data_dir: Path, tasks_count: int = 400) -> Path:
    """A real database with a project and many tasks (long descriptions: many pages)."""
    store = Store(paths.database_path(data_dir))
    try:
        conn = sqlite3.connect(store.path)
        with conn:
            now = time.time_ns() // 1000
            conn.execute(
                "INSERT INTO project (id, key, name, version, created_at, updated_at)"
                " VALUES ('p1', 'DMG', 'Damage', 1, ?, ?)",
                (now, now),
            )
            conn.executemany(
                "INSERT INTO task (id, project_id, number, title, description, status,"
                " priority, rank, version, created_at, updated_at)"
                " VALUES (?, 'p1', ?, ?, ?, 1, 0, ?, 1, ?, ?)",
                [
                    (f"t{i:04}", i + 1, f"task {i}", "words " * 150, f"r{i:06}", now, now)
                    for i in range(tasks_count)
                ],
            )
        conn.close()
    finally:
        store.close()
    return paths.database_path(data_dir)


def add_backups(data_dir: Path, good_source: Path) -> Path:
    """A good backup, and a newer one that is itself damaged (it must be passed over)."""
    folder = paths.backups_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "tandem-20260101-090000.sqlite3"
    shutil.copyfile(good_source, good)
    bad = folder / "tandem-20260102-090000.sqlite3"
    bad.write_bytes(os.urandom(8192))
    os.utime(good, (time.time() - 3600, time.time() - 3600))
    return good


def serve(data_dir: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    cmd = [*prefix, sys.executable, "-m", "server.cli", "serve", "--port", "0"]
    cmd += ["--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the server started on a damaged database: {exc.stdout!r}")


def assert_one_line_refusal(done: subprocess.CompletedProcess[str], *names: Path) -> str:
    assert done.returncode != 0
    assert "Tandem is running" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for name in names:
        assert str(name) in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def board(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(data dir, database, good backup) of a healthy board with backups."""
    data_dir = tmp_path / "data"
    db = make_board(data_dir)
    good = add_backups(data_dir, db)
    return data_dir, db, good


def test_random_bytes_are_refused_naming_the_newest_good_backup(board) -> None:
    data_dir, db, good = board
    db.write_bytes(os.urandom(200_000))
    line = assert_one_line_refusal(serve(data_dir), db, good)
    command = f'tandem restore "{good}" --data-dir "{data_dir}"'
    assert command in line
    # The command the line names puts the backup back, and the board opens again.
    restored = subprocess.run(
        [sys.executable, "-m", "launcher", "restore", str(good), "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    Store(db).close()  # opens: every page is whole again
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM task").fetchone()[0]
    assert rows == 400


def test_a_truncated_file_is_refused(board) -> None:
    data_dir, db, good = board
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    assert_one_line_refusal(serve(data_dir), db, good)


def test_a_file_damaged_half_way_is_refused_not_half_served(board) -> None:
    data_dir, db, good = board
    data = bytearray(db.read_bytes())
    leaves = [n for n in range(1, len(data) // PAGE) if data[n * PAGE] == 0x0D]
    middle = leaves[len(leaves) // 2]
    data[middle * PAGE + 8 : (middle + 1) * PAGE] = os.urandom(PAGE - 8)
    db.write_bytes(bytes(data))
    assert_one_line_refusal(serve(data_dir), db, good)


def test_a_read_only_folder_is_refused_with_what_to_fix(board, tmp_path: Path) -> None:
    data_dir, db, _ = board
    if os.geteuid() == 0:
        # root writes anywhere: make the folder a read-only mount in a private namespace.
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare(1) to make a read-only folder as root")
        ro = tmp_path / "ro"
        ro.mkdir()
        script = (
            f'mount -t tmpfs -o mode=0700 tmpfs "{ro}" && cp -a "{data_dir}/." "{ro}/" && '
            f'mount -o remount,ro "{ro}" && exec "$@"'
        )
        prefix = ("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh")
        done = serve(ro, *prefix)
        db = paths.database_path(ro)
    else:
        os.chmod(data_dir, 0o500)
        try:
            done = serve(data_dir)
        finally:
            os.chmod(data_dir, 0o700)
    line = assert_one_line_refusal(done, db)
    assert "writable" in line


def test_the_desktop_app_shows_the_same_line(board, qtbot: QtBot) -> None:
    from app.controller import TrayController

    data_dir, db, good = board
    db.write_bytes(os.urandom(200_000))
    cli_line = assert_one_line_refusal(serve(data_dir), db, good)
    controller = TrayController(data_dir, open_url=lambda _: None)
    with pytest.raises(DatabaseUnusableError) as refused:
        controller.start()

    # The same words; each run moves the damaged file aside under its own time stamp.
    def unstamped(line: str) -> str:
        return re.sub(r"\d{8}-\d{6}", "STAMP", line)

    assert unstamped(f"tandem: {refused.value}") == unstamped(cli_line)


def test_listing_tasks_page_by_page_always_moves_forward(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    make_board(data_dir, tasks_count=250)
    store = Store(paths.database_path(data_dir))
    try:
        seen: list[str] = []
        token = ""
        for _ in range(20):
            page = tasks.list_tasks("p1", tasks.TaskFilter(page_size=100, page_token=token))
            seen += [t.id for t in page.tasks]
            assert page.next_page_token != token or not page.next_page_token
            if not page.next_page_token:
                break
            assert int(page.next_page_token) > int(token or 0)
            token = page.next_page_token
        assert len(seen) == len(set(seen)) == 250
    finally:
        store.close()
