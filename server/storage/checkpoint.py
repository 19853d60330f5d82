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
import math
import sqlite3
import time
from pathlib import Path

from server.storage.alarm import Alarm

log = logging.getLogger(__name__)

#: At most one checkpoint per this many seconds while commits come. At this machine's
#: fastest stream of commands the WAL then holds 1,000-2,000 pages between two, about what
#: SQLite's own automatic checkpoint lets it hold (1,000).
EVERY_SECONDS = 0.25

#: Frames the WAL may hold (never started over, see the module's doc) before the writer
#: checkpoints once itself: 16 MiB of pages.
BEHIND_FRAMES = 4096

#: SQLite's default ``wal_autocheckpoint``: what the writer's connections go back to when
#: this thread cannot run.
SQLITE_AUTOCHECKPOINT = 1000


def _connect(path: Path) -> sqlite3.Connection:
    # Opened on the alarm's thread, closed by whoever closes the checkpointer.
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


class Checkpointer:
    """Checkpoints the WAL of the SQLite file at ``path`` from a thread of its own, soon
    after commits (``committed``), until ``close``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._every = EVERY_SECONDS
        self._behind_frames = BEHIND_FRAMES
        self._alarm = Alarm(self._ring, name="tandem-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._last_run = -math.inf
        #: Set when a checkpoint found the WAL past BEHIND_FRAMES (see the module's doc):
        #: the writer checkpoints after its next commit, and clears it.
        self.due_in_writer = False
        #: The thread could not open its connection: the writer's connections checkpoint
        #: by themselves.
        self.failed = False
        #: Checkpoints run, and the WAL's frames after the last one: (WAL frames, copied).
        self.runs = 0
        self.last: tuple[int, int] = (0, 0)

    def committed(self) -> None:
        """A write transaction committed: a checkpoint is due, at most one per ``every``
        seconds (the commits of one interval share it). Cheap enough for every commit; any
        thread."""
        if not self.failed:
            self._alarm.set(self._last_run + self._every)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no checkpoint is due or running (for tests and tools); False on
        timeout."""
        return self._alarm.wait_idle(timeout)

    def close(self) -> None:
        """Stop the thread (after the checkpoint it is running, if any) and close its
        connection."""
        self._alarm.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _ring(self) -> None:  # on the alarm's thread
        if self._conn is None:
            try:
                self._conn = _connect(self._path)
            except sqlite3.Error:
                log.exception("cannot checkpoint %s beside its writer, which will", self._path)
                self.failed = True
                return
        try:
            _busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as err:  # tried again after the next commit
            log.warning("checkpoint of %s failed: %s", self._path, err)
            return
        finally:
            self._last_run = time.monotonic()
        self.runs += 1
        self.last = (frames, copied)
        if frames > self._behind_frames:
            self.due_in_writer = True
