"""What the domain does after its commits, in batches: the inbox's items from the change log
(``inbox.follow``) and search's index of the texts changed since (``search.reindex``).

Neither belongs to a command: both read what commits left and write what follows from it.
Run once per commit, they cost a quiet commit more than its own command does (FTS5 writes a
new segment per transaction; following reads the logs and moves the inbox's position), so
they run when due, in the connection's turn (storage/turn.py):

- in a group commit's transaction, after its commands, once half of ``UPKEEP_INTERVAL`` has
  passed since the last run (so that commands coming every so often get there before the
  alarm, and upkeep costs no commit of its own), or ``UPKEEP_EVENTS`` events wait, or the
  last reindex left rows for later (``search.REINDEX_BATCH``): a steady stream of commands
  pays for one run per half interval, however many groups it makes;
- else in a transaction of its own, one interval after the last run, unless a group ran it
  first (an alarm: commands that came and stopped still get their items).

Nothing that reads what upkeep makes ever sees it behind, because every such read catches
up first: a search reindexes before it reads, and the inbox's reads (its list, unread
counts, watchers, marking read, the trash putting a task's items away, the due-date sweep)
follow the logs in their own transaction (``inbox.catch_up``). What waits is only the live
``inbox_update`` to members' connections: at most one interval. ``close`` (and the hub's
shutdown, through ``Domain.run_upkeep``) runs what waits before the database closes; a
crash leaves the inbox's position behind with the changes, and the next start follows on
from it (``Domain.__init__`` runs upkeep first), each item once by its ``once_key``.

State is kept in the connection's turn only (storage/turn.py: the database thread, or a
loop staging a group and the committer finishing it); the alarm's own thread only queues
work on the database thread.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import peewee as pw

from server.domain import inbox, rows, search, storage_errors
from server.domain.events import Delivery
from server.storage.alarm import Alarm
from server.storage.database import Store

log = logging.getLogger(__name__)

#: Seconds between two runs at most while commands commit: how late a member's live inbox
#: update may be. A fifth of a second is below what reads as a delay on a notice caused by
#: someone else's change, and lets a stream of 100 commands/s share one run among 20
#: (about 15 us each instead of the whole run's ~270 us); longer saves little more.
UPKEEP_INTERVAL = 0.2

#: Events committed since the last run that make the next group run it, however soon: a
#: burst's run stays a few milliseconds long (its acks wait for it), not one of thousands.
UPKEEP_EVENTS = 256


@dataclass(frozen=True, slots=True)
class Ran:
    """What one run did, recorded once its transaction commits (see ``Upkeep.committed``)."""

    # The inbox followed every log it had to (False: it failed, logged; tried again).
    followed: bool
    # Search still has rows to reindex (a failure, or more than one batch's worth).
    search_left: bool


class Upkeep:
    """When upkeep is due, running it, and what waits for it (see the module's docstring).

    ``publish`` gets the inbox deliveries of a run in a transaction of its own, after it
    commits; a group's run adds its deliveries to the group's, which the domain publishes.
    """

    def __init__(self, store: Store, publish: Callable[[list[Delivery]], None]) -> None:
        self._store = store
        self._publish = publish
        # Projects whose committed events the inbox has not followed yet (None: look at
        # every project, as at start after a crash).
        self._unfollowed: set[str] | None = None
        # Whether search may have rows to reindex (search_dirty) since it last had none.
        self._search_stale = True
        # The last reindex left rows for the next batch.
        self._backlog = False
        # Events committed since the last run.
        self._events = 0
        self._last = time.monotonic()
        self._alarm = Alarm(self._ring, name="tandem-upkeep")

    def pending(self) -> bool:
        """Whether anything waits for a run."""
        return self._unfollowed is None or bool(self._unfollowed) or self._search_stale

    def due(self, events: int) -> bool:
        """Whether a group that appended ``events`` runs upkeep in its own transaction."""
        if not events and not self.pending():
            return False
        if self._backlog or self._events + events >= UPKEEP_EVENTS:
            return True
        return time.monotonic() - self._last >= UPKEEP_INTERVAL / 2

    def run(self, touched: set[str], deliveries: list[Delivery]) -> Ran:
        """In the current transaction: the inbox items of the events still to follow and of
        ``touched`` (the projects the group's commands appended to), then search's reindex
        of at most one batch of rows. Record the result with ``committed`` after commit."""
        projects = None if self._unfollowed is None else self._unfollowed | touched
        followed = inbox.catch_up(deliveries, projects)
        try:
            with rows.Savepoint():
                left = search.reindex(search.REINDEX_BATCH)
        except pw.DatabaseError as err:
            if storage_errors.unavailable_cause(err) is not None:
                raise  # the storage itself: the transaction fails as one
            log.exception("could not reindex search; trying again with the next upkeep")
            left = True
        return Ran(followed, left)

    def committed(self, touched: set[str], events: int, ran: Ran | None) -> None:
        """After a commit that appended ``events`` to the logs of ``touched``, with the
        upkeep it ran (None: none): what waits now, and when it runs."""
        if ran is None:
            self._wait_for(touched)
            self._search_stale = self._search_stale or events > 0
            self._events += events
        else:
            self._last = time.monotonic()
            self._events = 0
            if ran.followed:
                self._unfollowed = set()
            else:
                self._wait_for(touched)
            self._search_stale = self._backlog = ran.search_left
            self._alarm.clear()
        self._schedule()

    def failed(self) -> None:
        """The transaction rolled back, with any run in it (and its commands' events): try
        again one interval on, not at once (the storage may still be failing)."""
        self._search_stale = True  # a reindex in it was undone with it
        self._last = time.monotonic()
        self._alarm.clear()
        self._schedule()

    def _wait_for(self, touched: set[str]) -> None:
        if touched and self._unfollowed is not None:
            self._unfollowed |= touched

    def _schedule(self) -> None:
        if self.pending():
            # The next batch of a backlog as soon as the thread is free; else one interval on.
            self._alarm.set(time.monotonic() if self._backlog else self._last + UPKEEP_INTERVAL)

    def _ring(self) -> None:  # on the alarm's thread
        with contextlib.suppress(RuntimeError):  # the database thread is gone (closing)
            self._store.submit(self._on_alarm)

    def _on_alarm(self) -> None:
        self.run_alone()

    def run_alone(self) -> bool:
        """On the database thread: what waits, in a transaction of its own, its members told
        after it commits. True when it ran and left more rows to reindex."""
        if not self.pending():
            return False
        deliveries: list[Delivery] = []
        try:
            with self._store.db.atomic():
                ran = self.run(set(), deliveries)
        except pw.DatabaseError:
            log.warning("could not run the after-commit upkeep; trying again shortly")
            self.failed()
            return False
        self.committed(set(), 0, ran)
        self._publish(deliveries)
        return self._backlog

    def drain(self) -> None:
        """On the database thread: everything that waits, a batch at a time."""
        while self.run_alone():
            pass

    def close(self) -> None:
        """Stop the alarm, and queue a last drain on the database thread: it runs before
        whatever is queued after it (``Store.close``)."""
        self._alarm.close()
        with contextlib.suppress(RuntimeError):
            self._store.submit(self.drain)
