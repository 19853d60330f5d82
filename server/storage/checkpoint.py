"""Copying the WAL's committed pages into the SQLite file beside the writer, not in its
commits.

SQLite checkpoints by itself inside a ``COMMIT`` once the WAL holds 1,000 pages: the
committing connection copies every page the WAL holds into the file and syncs the file
before ``COMMIT`` returns. Under a stream of group commits that was one commit in five, at
two to four times a commit's time (5-10 ms against 2-3 ms here), and the next group waits
for it: the connection is the writer's until then.

So the writer's connections never checkpoint by themselves (``wal_autocheckpoint=0`` in
``database.PRAGMAS``) and this thread does, with a connection of its own, a PASSIVE
checkpoint at most every ``EVERY_SECONDS`` while commits come. A PASSIVE checkpoint takes
no lock a writer or reader waits for and never waits for one: the writer goes on
appending to the WAL meanwhile. SQLite starts the WAL over from its beginning at the first
write transaction that finds every frame copied, so it stays the size of what came
between two checkpoints.

Under a stream of writes a checkpoint may never find the WAL whole (a commit lands while
it copies), and then the WAL would only grow: once a checkpoint finds more than
``BEHIND_FRAMES`` frames in it, the writer checkpoints once itself, right after its next
commit (``due_in_writer``), copying the few frames left, and its next write starts the WAL
over. That is SQLite's own behaviour, rarely. If the thread cannot open its connection,
the writer's connections checkpoint by themselves again, as SQLite does by default.

Only commits through ``database._TurnSqlite.commit`` make a checkpoint due: a write
outside a transaction (peewee's autocommit) waits for the next commit, or the close.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds between two checkpoints at most while commits come: what the WAL holds, about
#: 1,000-2,000 pages at this machine's fastest stream of commands, SQLite's own default
#: of 1,000 pages for its automatic checkpoint.
EVERY_SECONDS = 0.25

#: Frames the WAL may hold (never started over, see the module's doc) before the writer
#: checkpoints once itself: 16 MiB of pages.
BEHIND_FRAMES = 4096

#: SQLite's default ``wal_autocheckpoint``: what the writer's connections go back to when
#: this thread cannot run.
SQLITE_AUTOCHECKPOINT = 1000


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


class Checkpointer:
    """Checkpoints the WAL of the SQLite file at ``path`` from a thread of its own, soon
    after commits (``committed``), until ``close``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._every = EVERY_SECONDS
        self._behind_frames = BEHIND_FRAMES
        self._cond = threading.Condition()
        self._due = False
        self._closed = False
        self._thread: threading.Thread | None = None
        #: Set when a checkpoint left the WAL behind (see the module's doc), or the thread
        #: could not run: the writer checkpoints after its next commit, and clears it.
        self.due_in_writer = False
        #: The writer's connections should checkpoint by themselves (the thread failed).
        self.failed = False
        #: Checkpoints run, and the WAL's frames after the last one: (WAL frames, copied).
        self.runs = 0
        self.last: tuple[int, int] = (0, 0)
        self._running = False

    def committed(self) -> None:
        """A write transaction committed: a checkpoint is due within ``every`` seconds.
        Cheap enough for every commit; any thread."""
        if self._due or self.failed:
            return
        with self._cond:
            if self._closed:
                return
            self._due = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tandem-checkpoint", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no checkpoint is due or running (for tests and tools); False on
        timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._due or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """Stop the thread (after the checkpoint it is running, if any)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            conn = _connect(self._path)
        except sqlite3.Error:
            log.exception("cannot checkpoint %s beside its writer, which will", self._path)
            self._give_up()
            return
        try:
            last_run = 0.0
            while True:
                with self._cond:
                    while not self._due and not self._closed:
                        self._cond.wait()
                    # At most one checkpoint per interval: the commits of one come together.
                    while not self._closed:
                        left = last_run + self._every - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                    if self._closed:
                        return
                    self._due = False
                    self._running = True
                try:
                    self._checkpoint(conn)
                finally:
                    last_run = time.monotonic()
                    with self._cond:
                        self._running = False
                        self._cond.notify_all()
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as err:  # tried again after the next commit
            log.warning("checkpoint of %s failed: %s", self._path, err)
            return
        self.runs += 1
        self.last = (frames, copied)
        if frames > self._behind_frames:
            self.due_in_writer = True

    def _give_up(self) -> None:
        self.failed = True
        with self._cond:
            self._due = False
            self._cond.notify_all()
