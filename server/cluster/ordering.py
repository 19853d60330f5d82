"""One order per project across instances: events in seq order, each once, gaps filled.

Instances publish their commits on the bus after commit, so two instances can publish out
of commit order, and the bus may lose a message (it is at-most-once). The change log in
the database is the truth: ``seq`` has no gaps. So a receiving instance keeps, per project
it watches, the last seq it delivered to its hub; an event at or below it is dropped (its
own included), the next one is delivered, and one past a gap waits. A gap that the bus
does not fill within ``gap_seconds`` is filled with one read of the log: a lost message
costs one read, never a stall.

Everything here runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from server.domain.events import CommittedEvent

log = logging.getLogger(__name__)

#: How long an event past a gap waits for the bus to bring the missing ones before the
#: gap is read from the log. Two instances committing at once publish within a
#: millisecond or so of each other; a lost message then costs this much delay and one read.
GAP_SECONDS = 0.05
#: How long after a failed read of the log it is read again.
RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class LogPage:
    """What a read of the log past a seq gives: its epoch and head, the events after the seq
    (in order, perhaps fewer than up to the head), and whether the seq is outside the log."""

    epoch: str
    head: int
    events: Sequence[CommittedEvent]
    resync: bool = False


#: Reads the log of a project after a seq.
ReadLog = Callable[[str, int], Awaitable[LogPage]]
#: Hands events, in seq order, to the hub (on the loop).
Deliver = Callable[[Sequence[CommittedEvent]], None]
#: The project's history changed under its viewers (a restored database, a project made
#: again): they must resync.
Resync = Callable[[str], None]


@dataclass
class _Order:
    epoch: str
    delivered: int
    # Events past a gap, by seq.
    waiting: dict[int, CommittedEvent] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    filling: asyncio.Task[None] | None = None
    # A fill was asked for while one ran: run another after it.
    again: bool = False


class Sequencer:
    """The per-project orders of one instance (see the module's docstring)."""

    def __init__(
        self,
        deliver: Deliver,
        read_log: ReadLog,
        resync: Resync,
        *,
        gap_seconds: float = GAP_SECONDS,
    ) -> None:
        self._deliver = deliver
        self._read_log = read_log
        self._resync = resync
        self.gap_seconds = gap_seconds
        self._orders: dict[str, _Order] = {}
        # How many gaps were filled from the log (for metrics and tests).
        self.log_reads = 0
        self.dropped = 0

    def watching(self, project_id: str) -> bool:
        return project_id in self._orders

    def delivered(self, project_id: str) -> int:
        order = self._orders.get(project_id)
        return order.delivered if order is not None else 0

    def epoch(self, project_id: str) -> str | None:
        order = self._orders.get(project_id)
        return order.epoch if order is not None else None

    def start(self, project_id: str, epoch: str, head: int) -> None:
        """Deliver the project's events after ``head`` (the head read after subscribing)."""
        if project_id not in self._orders:
            self._orders[project_id] = _Order(epoch=epoch, delivered=head)

    def stop(self, project_id: str) -> None:
        order = self._orders.pop(project_id, None)
        if order is None:
            return
        if order.timer is not None:
            order.timer.cancel()
        if order.filling is not None and order.filling is not asyncio.current_task():
            order.filling.cancel()

    def close(self) -> None:
        for project_id in list(self._orders):
            self.stop(project_id)

    def offer(self, epoch: str, events: Sequence[CommittedEvent]) -> None:
        """Events of one project from the bus or from this instance's commits, in any order."""
        if not events:
            return
        project_id = events[0].project_id
        order = self._orders.get(project_id)
        if order is None:
            return  # nobody here watches it
        if epoch and epoch != order.epoch:
            self._epoch_changed(project_id)
            return
        ready: list[CommittedEvent] = []
        for event in events:
            if event.seq <= order.delivered or event.seq in order.waiting:
                self.dropped += 1
                continue
            order.waiting[event.seq] = event
        self._drain(order, ready)
        if ready:
            self._deliver(ready)
        if order.waiting and order.timer is None and order.filling is None:
            loop = asyncio.get_running_loop()
            order.timer = loop.call_later(self.gap_seconds, self.fill, project_id)

    def _drain(self, order: _Order, ready: list[CommittedEvent]) -> None:
        while (event := order.waiting.pop(order.delivered + 1, None)) is not None:
            order.delivered = event.seq
            ready.append(event)

    def fill(self, project_id: str) -> None:
        """Read the log past the last delivered seq now (a gap, or a poll while the bus is
        away); one read at a time per project."""
        order = self._orders.get(project_id)
        if order is None:
            return
        if order.timer is not None:
            order.timer.cancel()
            order.timer = None
        if order.filling is not None:
            order.again = True
            return
        order.filling = asyncio.ensure_future(self._fill(project_id, order))

    async def _fill(self, project_id: str, order: _Order) -> None:
        cancelled = False
        try:
            self.log_reads += 1
            try:
                page = await self._read_log(project_id, order.delivered)
            except Exception as exc:
                # The database is away for a moment (or the project is gone, and its
                # viewers leave): what waits stays, and the log is read again later.
                log.warning("could not read the change log of %s: %s", project_id, exc)
                if self._orders.get(project_id) is order and order.timer is None:
                    loop = asyncio.get_running_loop()
                    order.timer = loop.call_later(RETRY_SECONDS, self.fill, project_id)
                return
            if self._orders.get(project_id) is not order:
                return
            if page.epoch != order.epoch or page.resync:
                # A resync: the seq is outside the kept log (trimmed past it) or the
                # history is another one; either way the viewers read the board again.
                self._epoch_changed(project_id)
                return
            for event in page.events:
                if event.seq > order.delivered:
                    order.waiting.setdefault(event.seq, event)
            ready: list[CommittedEvent] = []
            self._drain(order, ready)
            # A long way behind, a read brings one page: read on up to the head. What is
            # still past a gap then was committed after the read: the bus brings it, or
            # the next fill does.
            if order.delivered < page.head:
                order.again = True
            if ready:
                self._deliver(ready)
        except asyncio.CancelledError:
            # Cancelled (the loop is closing, or the order was stopped): no other fill may
            # start from here, for nothing would ever run or cancel it.
            cancelled = True
            raise
        finally:
            if self._orders.get(project_id) is order:
                order.filling = None
                again, order.again = order.again, False
                if (again or order.waiting) and order.timer is None and not cancelled:
                    if again:
                        self.fill(project_id)
                    elif order.timer is None:
                        loop = asyncio.get_running_loop()
                        order.timer = loop.call_later(self.gap_seconds, self.fill, project_id)

    def _epoch_changed(self, project_id: str) -> None:
        """A new history (a restored database, a project made again): the order ends and
        whoever owns it is told, to resync the viewers and start again from the new head."""
        log.info("the change log of %s has a new epoch: its viewers resync", project_id)
        self.stop(project_id)
        self._resync(project_id)
