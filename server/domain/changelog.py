"""Reading the change log: where a project's history stands, the events after a seq, and
waiting for the next commit (the long poll's wake-up).

Every project has one log of committed events, numbered by ``seq`` without gaps. Its
epoch names which history the seqs belong to, so a client resuming across a restore (or
a project deleted and made again) resyncs instead of trusting a stale seq.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from tandem.v1 import api_pb2

from server.domain import projects
from server.domain.events import CommittedEvent, EventSink
from server.storage.database import Store
from server.storage.models import EventRow, LogHeadRow, ProjectRow


def epoch(store: Store, project: ProjectRow) -> str:
    """Which history a project's seqs belong to: a restored database has a new epoch, and
    so has a project deleted and made again under the same id (its creation time)."""
    return f"{store.epoch()}.{int(project.created_at):x}"


class ChangeLog:
    """The change-log reads, and the waiters for the next commits; mixed into ``Domain``,
    which owns ``store`` and calls ``_listen_for_commits`` once."""

    store: Store
    _waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]]
    #: Told of each project a long poll waits on, on the loop; returns what to call when
    #: it stops waiting, and what to await before looking at the head (None: nothing).
    #: Set by a team server's cluster, which then hears other instances' commits to the
    #: project and calls ``wake``.
    poll_interest: Callable[[str], tuple[Callable[[], None], Awaitable[None] | None]] | None

    def _listen_for_commits(self, sink: EventSink[CommittedEvent]) -> None:
        self._waiters = {}
        self.poll_interest = None
        sink.add_listener(self._wake_waiters)

    def wake(self, events: Sequence[CommittedEvent]) -> None:
        """Wake the long polls on these events' projects (commits of another instance)."""
        self._wake_waiters(events)

    def head(self, project_id: str) -> tuple[str, int]:
        project = projects.row(project_id)
        head = LogHeadRow.get_by_id(project_id)
        return epoch(self.store, project), int(head.head_seq)

    def events_since(
        self, project_id: str, since_seq: int, limit: int = 1000
    ) -> api_pb2.ListEventsResponse:
        with self.store.db.atomic():
            project = projects.row(project_id)
            head = LogHeadRow.get_by_id(project_id)
            out = api_pb2.ListEventsResponse(
                project_id=project_id, epoch=epoch(self.store, project), head_seq=head.head_seq
            )
            if since_seq < head.floor_seq or since_seq > head.head_seq:
                out.resync_required = True
                return out
            rows = (
                EventRow.select(EventRow.frame)
                .where((EventRow.project_id == project_id) & (EventRow.seq > since_seq))
                .order_by(EventRow.seq)
                .limit(limit)
            )
            for row in rows:
                out.events.add().ParseFromString(bytes(row.frame))
            return out

    async def wait_for_events(self, project_id: str, since_seq: int, timeout: float) -> None:
        """Return once the project's log is past ``since_seq``, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        entry = (loop, woken)
        self._waiters.setdefault(project_id, []).append(entry)
        release, ready = (
            (None, None) if self.poll_interest is None else self.poll_interest(project_id)
        )
        try:
            if ready is not None:
                # Until then another instance's commit might not wake this poll.
                await ready
            _, head = await self.store.call(self.head, project_id)
            if head > since_seq:
                return
            try:
                await asyncio.wait_for(woken.wait(), timeout)
            except TimeoutError:
                return
        finally:
            if release is not None:
                release()
            waiting = self._waiters.get(project_id, [])
            if entry in waiting:
                waiting.remove(entry)
            if not waiting:
                self._waiters.pop(project_id, None)

    def _wake_waiters(self, events: Sequence[CommittedEvent]) -> None:
        for project_id in {e.project_id for e in events}:
            for loop, woken in list(self._waiters.get(project_id, [])):
                loop.call_soon_threadsafe(woken.set)
