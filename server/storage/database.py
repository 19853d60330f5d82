"""Opening the database: pragmas, migrations, the epoch, and the one thread that uses it.

Every read and write runs on a single worker thread, but for the commands' groups on
SQLite. SQLite allows one writer at a time anyway; one thread keeps transactions serial
without lock retries, and keeps blocking disk I/O off the event loop. With a database URL
the data lives in PostgreSQL instead (storage/postgres.py), still through one thread per
server.

On SQLite, a group of commands is run on the event loop that queued it and committed on a
thread of its own (``hand_off``), taking the connection's turn (storage/turn.py) from the
database thread while that is idle. The group's Python then never waits for the GIL
behind the loop's, nor the loop's behind it: two threads taking turns with the GIL, the
database thread's CPU per command was 1.6 to 2 times its figure alone. The fsync of the
commit still happens off the loop, and the WAL's checkpoints beside the writer, on a thread
and a connection of their own (storage/checkpoint.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import peewee as pw

from server import paths
from server.storage import dialect, health, migrations, postgres, private
from server.storage.blobs import Blobs, BlobStore
from server.storage.checkpoint import SQLITE_AUTOCHECKPOINT, Checkpointer
from server.storage.models import MetaRow, database, put
from server.storage.pg_blobs import PostgresBlobStore
from server.storage.turn import Turn

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 5000,
    # FULL: an acknowledged change survives a power cut, not only a crash.
    "synchronous": "full",
    # Savepoint and statement journals in memory: each statement may be undone alone, a
    # group run again after a refusal runs each command in a savepoint, and once such a
    # journal spills to a temporary file SQLite keeps writing every page it saves there
    # (a write per page a command touches). Only rollback inside an open
    # transaction reads them; what survives a crash is the WAL's, so durability is as before.
    "temp_store": "memory",
    # Checkpoints run beside the writer (storage/checkpoint.py), not in its commits.
    "wal_autocheckpoint": 0,
}


def _log_failure(done: Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("database work failed", exc_info=done.exception())


def _cause(exc: BaseException) -> BaseException:
    # peewee wraps sqlite3's errors; the original says what happened.
    inner = exc.__cause__ or exc.__context__
    return inner if isinstance(exc, pw.DatabaseError) and inner is not None else exc


def new_epoch() -> str:
    return secrets.token_hex(8)


def backup_copy(conn: sqlite3.Connection, dest: Path) -> Path:
    """An online backup of ``conn``'s database into ``dest``, checked whole, under a new
    epoch: whatever restores it, its clients resync instead of trusting their seqs."""
    migrations.backup_file(conn, dest)
    copy = sqlite3.connect(dest)
    try:
        with copy:
            copy.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (new_epoch(),))
        ok = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
    if ok != "ok":
        raise RuntimeError(f"backup {dest} failed its integrity check: {ok}")
    return dest


#: The meta row naming the PostgreSQL database the epoch was made in.
DATABASE_IDENTITY_KEY = "database_identity"


class _TurnSqlite(pw.SqliteDatabase):
    """SQLite through peewee, one connection shared by the threads that hold its turn (the
    database thread, a loop staging a group, the committer), in turn; a thread that holds
    no turn has one of its own, as peewee gives each thread."""

    def __init__(self, path: str, turn: Turn, checkpointer: Checkpointer, **kwargs: Any) -> None:
        self._turn = turn
        self._shared = pw._ConnectionState()
        self._checkpointer = checkpointer
        # Any thread that holds the turn may use a connection another thread opened.
        super().__init__(path, check_same_thread=False, **kwargs)

    def commit(self) -> None:
        super().commit()
        cp = self._checkpointer
        if cp.failed:  # as SQLite does by default (see storage/checkpoint.py)
            self.execute_sql(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT}")  # type: ignore[no-untyped-call]
        elif cp.due_in_writer:  # the WAL was never whole to start over: copy what is left
            cp.due_in_writer = False
            self.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # type: ignore[no-untyped-call]
        else:
            cp.committed()

    @property
    def _state(self) -> object:
        if self._turn.holder == threading.get_ident():
            return self._shared
        return self._own

    @_state.setter
    def _state(self, state: object) -> None:  # peewee's own, thread-local
        self._own = state


class BackupsUnsupportedError(RuntimeError):
    """Backups of the file are SQLite's; a PostgreSQL database is backed up with its own
    tools. ``str()`` is the one line to show."""


PG_DUMP_ADVICE = (
    "the data lives in PostgreSQL, not in a file of the data folder: back it up with "
    "pg_dump (and put it back with pg_restore or psql)"
)


class Store:
    """The open database and its worker thread."""

    def __init__(self, path: Path, database_url: str = "") -> None:
        # The SQLite file's path; with a database URL, the data folder is still its parent
        # (attachments, the lock file), and the data lives in that database instead.
        self.path = path
        self.dialect = dialect.POSTGRES if database_url else dialect.SQLITE
        self.turn = Turn()
        # The thread that commits the groups staged on a loop (SQLite only, see hand_off).
        self._committer: ThreadPoolExecutor | None = None
        # Who checkpoints the WAL (SQLite only).
        self.checkpointer: Checkpointer | None = None
        if database_url:
            self.db: pw.Database = postgres.connect(database_url)
            self._start()
            return
        # A damaged file is refused before anything writes to it; every other failure to
        # open becomes one line too (DatabaseUnusableError), never a traceback.
        health.check_before_opening(path)
        try:
            self._open(path)
        except (OSError, sqlite3.Error, pw.DatabaseError) as exc:
            raise health.explain(path, _cause(exc)) from exc
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-db")
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-commit")

    def _start(self) -> None:
        database.initialize(self.db)
        dialect.use(self.dialect)
        try:
            with self.db.atomic():
                # A database restored from pg_dump (or copied) is another database: its
                # clients resync instead of trusting their seqs, as after a file restore.
                here = postgres.database_identity(self.db)
                seen = MetaRow.get_or_none(MetaRow.key == DATABASE_IDENTITY_KEY)
                if seen is None or seen.value != here:
                    put(MetaRow, key="epoch", value=new_epoch())
                    put(MetaRow, key=DATABASE_IDENTITY_KEY, value=here)
        except BaseException:
            self.db.close()
            raise
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-db")

    def _open(self, path: Path) -> None:
        private.private_dir(path.parent)
        private.private_file(path)
        for suffix in ("-wal", "-shm"):
            private.narrow(path.with_name(path.name + suffix))
        conn = sqlite3.connect(path)
        try:
            # migrate() refuses a newer file before anything writes to it, WAL mode included.
            migrations.migrate(path, conn)
            conn.execute("PRAGMA journal_mode=wal")
        finally:
            conn.close()
        self.checkpointer = Checkpointer(path)
        self.db = _TurnSqlite(
            str(path), self.turn, self.checkpointer, pragmas=PRAGMAS, lock_type="IMMEDIATE"
        )
        database.initialize(self.db)
        dialect.use(self.dialect)
        try:
            with self.db.atomic():
                if MetaRow.get_or_none(MetaRow.key == "epoch") is None:
                    MetaRow.create(key="epoch", value=new_epoch())
        except BaseException:
            self.db.close()
            raise

    def blob_store(self) -> Blobs:
        """Where attachment content lives: files in the data folder beside the SQLite file;
        in PostgreSQL, the database, which every instance of a team server shares."""
        if self.dialect.file_backed:
            return BlobStore(paths.attachments_dir(self.path.parent))
        return PostgresBlobStore(self.db)

    def size_bytes(self) -> int:
        """How much room the data takes: the SQLite file with its WAL, or the whole
        PostgreSQL database (attachment content included)."""
        if not self.dialect.file_backed:
            row = self.db.execute_sql("SELECT pg_database_size(current_database())").fetchone()  # type: ignore[no-untyped-call]
            return int(row[0])
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            if path.is_file():
                total += path.stat().st_size
        return total

    def epoch(self) -> str:
        return str(MetaRow.get(MetaRow.key == "epoch").value)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the database thread, in the connection's turn."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._in_turn, lambda: fn(*args, **kwargs)
        )

    def submit(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` on the database thread without waiting for it (failures are logged)."""
        self._executor.submit(self._in_turn, fn).add_done_callback(_log_failure)

    def _in_turn(self, fn: Callable[[], T]) -> T:
        with self.turn:
            return fn()

    @property
    def stages_on_loop(self) -> bool:
        """Whether a loop may run a group of commands itself, in the connection's turn, and
        ``hand_off`` its commit (SQLite: a connection any thread may use in turn)."""
        return self._committer is not None

    def hand_off(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the committer thread: the turn taken on a loop goes with it (``fn``
        takes it with ``turn.pass_here`` and gives it back). Raises RuntimeError once the
        store is closed."""
        assert self._committer is not None
        self._committer.submit(fn).add_done_callback(_log_failure)

    def backup(self, dest: Path) -> Path:
        """An online backup that opens as a new epoch, so clients resync after a restore."""
        if not self.dialect.file_backed:
            raise BackupsUnsupportedError(PG_DUMP_ADVICE)
        conn: sqlite3.Connection = self.db.connection()  # type: ignore[no-untyped-call]
        return backup_copy(conn, dest)

    def checkpoint(self) -> None:
        if not self.dialect.file_backed:
            return
        self.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[no-untyped-call]

    def close(self) -> None:
        def _close() -> None:
            self.turn.close()  # no loop stages a group from now on
            if self.checkpointer is not None:
                # Its connection closed first: the last to close deletes the WAL.
                self.checkpointer.close()
            if not self.db.is_closed():
                self.checkpoint()
                self.db.close()

        self._executor.submit(self._in_turn, _close).result()
        self._executor.shutdown(wait=True)
        if self._committer is not None:
            self._committer.shutdown(wait=True)
        if not self.db.is_closed():
            self.db.close()
