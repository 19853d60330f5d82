"""The WAL is copied into the SQLite file beside the writer, not inside its commits
(storage/checkpoint.py), and stays bounded under a stream of commits."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from server.storage import checkpoint
from server.storage.database import Store
from server.storage.models import MetaRow

pytestmark = pytest.mark.sqlite_only("checkpoints the SQLite file's write-ahead log")

FRAME = 4096 + 24  # a WAL frame: its page and its header
T = TypeVar("T")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "tandem.sqlite3")
    yield opened
    opened.close()


def _in_turn(store: Store, job: Callable[[], T]) -> T:
    """``job`` on the database thread, in the connection's turn, waited for."""
    return store._executor.submit(store._in_turn, job).result()


def _write(store: Store, key: str, value: str = "v") -> None:
    """One committed transaction, on the database thread."""

    def job() -> None:
        with store.db.atomic():
            MetaRow.replace(key=key, value=value).execute()

    _in_turn(store, job)


def _on_db_thread(store: Store, sql: str) -> list[tuple[object, ...]]:
    return _in_turn(store, lambda: list(store.db.execute_sql(sql).fetchall()))


def _keys_in_file_alone(db_path: Path, tmp_path: Path) -> set[str]:
    """The meta keys the SQLite file holds without its WAL: what was checkpointed."""
    copy = tmp_path / "copy" / db_path.name
    copy.parent.mkdir(parents=True)
    shutil.copyfile(db_path, copy)
    conn = sqlite3.connect(copy)
    try:
        return {k for (k,) in conn.execute("SELECT key FROM meta")}
    finally:
        conn.close()


def test_the_writer_never_checkpoints_in_its_commits(store: Store) -> None:
    assert _on_db_thread(store, "PRAGMA wal_autocheckpoint") == [(0,)]


def test_commits_are_copied_into_the_file_soon_after(store: Store, tmp_path: Path) -> None:
    assert store.checkpointer is not None
    for n in range(20):
        _write(store, f"k{n}")
    assert store.checkpointer.wait_idle(30)
    assert store.checkpointer.runs >= 1
    frames, copied = store.checkpointer.last
    assert frames > 0 and copied == frames
    # The file alone, without its WAL, has every commit: the checkpoint copied them.
    assert {f"k{n}" for n in range(20)} <= _keys_in_file_alone(store.path, tmp_path)


def test_a_wal_left_behind_is_copied_by_the_writer_after_its_next_commit(
    store: Store, tmp_path: Path
) -> None:
    cp = store.checkpointer
    assert cp is not None
    assert cp.wait_idle(30)
    cp.close()  # no checkpoint beside the writer from now on
    for n in range(5):
        _write(store, f"k{n}")
    assert "k4" not in _keys_in_file_alone(store.path, tmp_path / "before")
    cp.due_in_writer = True
    _write(store, "after")
    assert not cp.due_in_writer
    assert {"k4", "after"} <= _keys_in_file_alone(store.path, tmp_path / "after")


def test_the_wal_stays_bounded_under_a_stream_of_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits without pause, as fast as one thread makes them, while the checkpointer
    copies: SQLite starts the WAL over when a checkpoint finds it whole, and the writer
    copies what is left when one never does (BEHIND_FRAMES)."""
    monkeypatch.setattr(checkpoint, "EVERY_SECONDS", 0.0)
    monkeypatch.setattr(checkpoint, "BEHIND_FRAMES", 64)
    store = Store(tmp_path / "tandem.sqlite3")
    wal = Path(f"{store.path}-wal")
    try:

        def stream() -> None:
            for n in range(1500):
                with store.db.atomic():
                    MetaRow.replace(key=f"k{n % 300}", value="x" * 500).execute()

        _in_turn(store, stream)
        assert store.checkpointer is not None and store.checkpointer.runs > 0
        # The WAL file keeps the size of the most it ever held. Without a checkpoint it
        # would hold every commit's pages (1,500 and more).
        biggest = wal.stat().st_size
    finally:
        store.close()
    assert biggest <= (4 * 64 + 32) * FRAME, biggest // FRAME


def test_a_checkpointer_that_cannot_run_hands_back_to_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = threading.Event()

    def refuse(*_args: object, **_kwargs: object) -> sqlite3.Connection:
        opened.set()
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(checkpoint, "_connect", refuse)
    store = Store(tmp_path / "tandem.sqlite3")
    try:
        assert store.checkpointer is not None
        _write(store, "first")  # starts the thread, which fails to open
        assert opened.wait(30) and store.checkpointer.wait_idle(30)
        assert store.checkpointer.failed
        monkeypatch.undo()
        _write(store, "second")
        assert _on_db_thread(store, "PRAGMA wal_autocheckpoint") == [
            (checkpoint.SQLITE_AUTOCHECKPOINT,)
        ]
    finally:
        store.close()


@pytest.mark.parametrize("thread", ["database thread", "a thread of its own"])
def test_close_stops_the_thread_and_leaves_no_wal_behind(tmp_path: Path, thread: str) -> None:
    store = Store(tmp_path / "tandem.sqlite3")
    if thread == "database thread":
        _write(store, "k")
    else:  # as a command-line tool writes: the connection of the thread that opened it
        with store.db.atomic():
            MetaRow.replace(key="k", value="v").execute()
        store.db.close()
    assert store.checkpointer is not None
    assert store.checkpointer.wait_idle(30)
    running = [t for t in threading.enumerate() if t.name == "tandem-checkpoint"]
    assert running  # started by the first commit
    store.close()
    assert not any(t.is_alive() for t in running)
    wal = Path(f"{store.path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
