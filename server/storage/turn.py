"""Whose turn it is to use the database connection: one thread at a time.

SQLite's connection is shared by the threads that use it in turn: the database thread
(reads, upkeep, whatever is queued on it), an event loop staging a group of commands, and
the committer thread finishing that group's transaction (see storage/database.py and
domain/group_commit.py). A turn is taken by one thread and may be handed to another (a
group staged on the loop is committed on the committer thread); it is given back by the
thread that holds it last.

A thread that holds no turn (a command-line tool, a test, the thread that opened the
store) gets a connection of its own, as peewee gives each thread by default: only the
threads that take turns share one.
"""

from __future__ import annotations

import threading
from types import TracebackType


class Turn:
    __slots__ = ("_closed", "_lock", "holder")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        #: The thread ident that holds the turn, None when no one does.
        self.holder: int | None = None

    def take(self) -> None:
        """Wait for the turn and take it (on the database thread)."""
        self._lock.acquire()
        self.holder = threading.get_ident()

    def try_take(self) -> bool:
        """Take the turn if it is free and the connection still open; never waits."""
        if self._closed or not self._lock.acquire(blocking=False):
            return False
        if self._closed:  # closed meanwhile
            self._lock.release()
            return False
        self.holder = threading.get_ident()
        return True

    def pass_here(self) -> None:
        """The thread a turn was handed to holds it from now on."""
        self.holder = threading.get_ident()

    def give_back(self) -> None:
        self.holder = None
        self._lock.release()

    def close(self) -> None:
        """No turn is taken without waiting once the connection is closed (``try_take``)."""
        self._closed = True

    def __enter__(self) -> None:
        self.take()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.give_back()
