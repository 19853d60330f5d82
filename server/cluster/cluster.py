"""One instance of a team server among others: its commits out on the bus, theirs in.

The hub's peers (``server.realtime.peers``): after commit each instance publishes its
events on the bus, subscribes to the projects its clients view (WebSocket subscribers and
long polls) and unsubscribes when none does. What arrives, and what it commits itself,
reaches the hub through one ``Sequencer`` per instance: per project in seq order, each once,
gaps read from the log. While the bus is away, each watched project's log is polled
instead; when it is back, one read catches up and polling stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from nats.aio.subscription import Subscription as BusSubscription
from tandem.v1 import events_pb2

from server.appkeys import DOMAIN
from server.cluster.bus import Bus, BusAddress, Handler
from server.cluster.ordering import LogPage, Sequencer
from server.cluster.presence import RemotePresence
from server.config import ServerConfig
from server.domain.events import CommittedEvent, Delivery
from server.domain.service import Domain
from server.monitoring import MONITOR
from server.realtime.hub import HUB, Hub
from server.realtime.protocol import CloseCode

log = logging.getLogger(__name__)

#: A project nobody here views any more stays subscribed this long (a client reconnecting
#: comes straight back).
LINGER_SECONDS = 5.0
#: While the bus is away, each watched project's log is read this often.
POLL_SECONDS = 0.5

# Header names of bus messages.
EPOCH, SEQ, INSTANCE, KIND, MEMBER = "e", "s", "i", "k", "m"
FULL, DIFF, ASK = "full", "diff", "ask"


@dataclass(eq=False)
class _Watch:
    interest: int = 1
    ready: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    subs: list[BusSubscription] = field(default_factory=list)
    linger: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None


class Cluster:
    """The instance's part in the team server (every method on the loop but ``_on_commit``)."""

    def __init__(self, address: BusAddress, config: ServerConfig) -> None:
        self.address = address
        self.instance_id = uuid.uuid4().hex[:16]
        self.heartbeat = config.heartbeat_seconds
        self.bus = Bus(address, f"tandem-{self.instance_id}", self._bus_state)
        self._hub: Hub | None = None
        self._domain: Domain | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: dict[str, _Watch] = {}
        self.sequencer = Sequencer(self._deliver, self._read_log, self._resync)
        self.presence = RemotePresence(self._deliver_presence, expiry=1.5 * self.heartbeat)
        # Epoch of each project this instance published for (its events carry it).
        self._epochs: dict[str, str] = {}
        self._outbox: asyncio.Queue[tuple[Sequence[CommittedEvent], float]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._polling: asyncio.Task[None] | None = None
        self.published = 0
        self.received = 0
        # Short tasks started from callbacks, kept until done.
        self._background: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # Lifecycle -------------------------------------------------------------------

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: on the bus while the app runs (a bus that cannot be reached ends
        the start with ``BusUnreachableError``)."""
        self._loop = asyncio.get_running_loop()
        self._hub = app[HUB]
        domain = self._domain = app[DOMAIN]
        await self.bus.connect()
        self._watch_metrics(app)
        remove = domain.sink.add_listener(self._on_commit)
        remove_inbox = domain.inbox_sink.add_listener(self._on_inbox)
        # Inboxes are few and small: every instance hears every change to one, and gives it
        # to its own connections of that member (not in the log: missed while the bus is
        # away, as a reload reads the inbox anyway).
        inbox = await self.bus.subscribe(f"{self.address.prefix}.inbox", self._on_remote_inbox)
        domain.poll_interest = self._poll_interest
        self._tasks = [
            asyncio.ensure_future(self._publisher()),
            asyncio.ensure_future(self._republisher()),
        ]
        try:
            yield
        finally:
            remove()
            remove_inbox()
            if inbox is not None:
                await _unsubscribe(inbox)
            domain.poll_interest = None
            for task in [*self._tasks, self._polling]:
                if task is not None:
                    task.cancel()
            for project_id in list(self._watches):
                self._end_watch(project_id, force=True)
            self.sequencer.close()
            self.presence.close()
            await self.bus.close()

    def _watch_metrics(self, app: web.Application) -> None:
        metrics = app[MONITOR].metrics if MONITOR in app else None
        if metrics is None:
            return
        metrics.sample(
            "tandem_bus_up", "1 while the message bus is connected.", lambda: self.bus.up
        )
        metrics.sample(
            "tandem_bus_projects",
            "Projects this instance watches on the bus.",
            lambda: len(self._watches),
        )
        metrics.sample(
            "tandem_bus_published",
            "Events this instance published on the bus.",
            lambda: self.published,
            kind="counter",
        )
        metrics.sample(
            "tandem_bus_received",
            "Events of other instances received from the bus.",
            lambda: self.received,
            kind="counter",
        )
        metrics.sample(
            "tandem_bus_log_reads",
            "Reads of the change log for gaps, or while the bus was away.",
            lambda: self.sequencer.log_reads,
            kind="counter",
        )

    @property
    def hub(self) -> Hub:
        assert self._hub is not None
        return self._hub

    @property
    def domain(self) -> Domain:
        assert self._domain is not None
        return self._domain

    # Watching projects (the hub's Peers) -----------------------------------------------

    def watch(self, project_id: str) -> None:
        w = self._watches.get(project_id)
        if w is not None:
            w.interest += 1
            if w.linger is not None:
                w.linger.cancel()
                w.linger = None
            return
        w = self._watches[project_id] = _Watch()
        w.task = asyncio.ensure_future(self._start_watch(project_id, w))

    def unwatch(self, project_id: str) -> None:
        w = self._watches.get(project_id)
        if w is None:
            return
        w.interest -= 1
        if w.interest <= 0 and w.linger is None:
            loop = asyncio.get_running_loop()
            w.linger = loop.call_later(LINGER_SECONDS, self._end_watch, project_id)

    def ready(self, project_id: str) -> asyncio.Future[None] | None:
        w = self._watches.get(project_id)
        if w is None or w.ready.done():
            return None
        return asyncio.shield(w.ready)

    def _poll_interest(
        self, project_id: str
    ) -> tuple[Callable[[], None], asyncio.Future[None] | None]:
        self.watch(project_id)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.unwatch(project_id)

        return release, self.ready(project_id)

    async def _start_watch(self, project_id: str, w: _Watch) -> None:
        """Subscribe first, read the head second: every commit after the head then comes
        from the bus (or from the log, when it does not)."""
        try:
            for kind, handler in (("events", self._on_event), ("presence", self._on_presence)):
                subject = self.bus.subject(kind, project_id)
                if subject is None:
                    return
                sub = await self.bus.subscribe(subject, _bound(handler, project_id))
                if sub is not None:
                    w.subs.append(sub)
            epoch, head = await self.domain.read(self.domain.head, project_id)
            if self._watches.get(project_id) is w:
                self.sequencer.start(project_id, epoch, head)
                # What was committed between the read and the start (here or elsewhere)
                # came before anyone here listened: one more read takes it.
                self.sequencer.fill(project_id)
                self._epochs[project_id] = epoch
                await self._publish_presence(project_id, ASK, b"")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an unknown project: the subscriber's own read says so
            log.debug("watching %s: %s", project_id, exc)
        finally:
            if not w.ready.done():
                w.ready.set_result(None)

    def _end_watch(self, project_id: str, *, force: bool = False) -> None:
        w = self._watches.get(project_id)
        if w is None or (w.interest > 0 and not force):
            return
        del self._watches[project_id]
        if w.task is not None and not w.task.done():
            w.task.cancel()
        if not w.ready.done():
            w.ready.set_result(None)
        for sub in w.subs:
            self._spawn(_unsubscribe(sub))
        self.sequencer.stop(project_id)
        self.presence.forget([project_id])

    # Events out ------------------------------------------------------------------------

    def _on_commit(self, events: Sequence[CommittedEvent]) -> None:
        # On the committing thread: hop only; call_soon_threadsafe keeps commit order.
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._committed, events, time.perf_counter())

    def _committed(self, events: Sequence[CommittedEvent], committed_at: float) -> None:
        for project_id, evs in _by_project(events).items():
            if self.sequencer.watching(project_id):
                self.sequencer.offer("", evs)
        self._outbox.put_nowait((events, committed_at))

    async def _publisher(self) -> None:
        while True:
            events, _ = await self._outbox.get()
            for project_id, evs in _by_project(events).items():
                subject = self.bus.subject("events", project_id)
                if subject is None:
                    continue
                epoch = self._epochs.get(project_id, "")
                if not epoch or evs[0].seq == 1:  # a project (made again) starts its log
                    try:
                        epoch, _ = await self.domain.read(self.domain.head, project_id)
                    except Exception as exc:  # deleted since: nobody views it any more
                        log.debug("no epoch for %s: %s", project_id, exc)
                        continue
                    self._epochs[project_id] = epoch
                for event in evs:
                    headers = {EPOCH: epoch, SEQ: str(event.seq), INSTANCE: self.instance_id}
                    if await self.bus.publish(subject, event.frame, headers):
                        self.published += 1

    def _on_inbox(self, deliveries: Sequence[Delivery]) -> None:
        # On the committing thread, like _on_commit.
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._spawn, self._publish_inbox(deliveries))

    async def _publish_inbox(self, deliveries: Sequence[Delivery]) -> None:
        subject = f"{self.address.prefix}.inbox"
        for delivery in deliveries:
            await self.bus.publish(subject, delivery.frame, {MEMBER: delivery.member_id})

    async def _on_remote_inbox(self, data: bytes, headers: Mapping[str, str]) -> None:
        member_id = headers.get(MEMBER, "")
        if member_id:
            self.hub.deliver_inbox([Delivery(member_id, data)])

    # Events in -------------------------------------------------------------------------

    async def _on_event(self, project_id: str, data: bytes, headers: Mapping[str, str]) -> None:
        try:
            seq = int(headers.get(SEQ, ""))
        except ValueError:
            return
        self.received += 1
        self.sequencer.offer(headers.get(EPOCH, ""), [CommittedEvent(project_id, seq, data)])

    async def _read_log(self, project_id: str, since: int) -> LogPage:
        domain = self.domain
        page = await domain.read(domain.events_since, project_id, since)
        events = [
            CommittedEvent(project_id, _seq_of(msg), msg.SerializeToString()) for msg in page.events
        ]
        return LogPage(page.epoch, page.head_seq, events, page.resync_required)

    def _deliver(self, events: Sequence[CommittedEvent]) -> None:
        self.hub.dispatch(events)
        self.domain.wake(events)

    def _resync(self, project_id: str) -> None:
        """The project's history changed (a restored database, the project made again):
        its viewers here reconnect, and resume into a resync as after a restore."""
        self._epochs.pop(project_id, None)
        self.hub.close_where(
            lambda info: project_id in info.project_ids,
            CloseCode.GOING_AWAY,
            "the project's history changed: subscribe again",
        )
        w = self._watches.get(project_id)
        if w is not None:  # long polls, or lingering: watch the new history

            async def restart() -> None:
                try:
                    epoch, head = await self.domain.read(self.domain.head, project_id)
                except Exception as exc:
                    log.debug("watching %s again: %s", project_id, exc)
                    return
                if self._watches.get(project_id) is w:
                    self.sequencer.start(project_id, epoch, head)

            self._spawn(restart())

    # The bus leaving and returning ---------------------------------------------------

    def _bus_state(self, up: bool) -> None:
        if up:
            if self._polling is not None:
                self._polling.cancel()
                self._polling = None
            # What went out while it was away: one read of each watched project's log.
            for project_id in list(self._watches):
                self.sequencer.fill(project_id)
                self._spawn(self._publish_presence(project_id, ASK, b""))
        elif self._polling is None:
            self._polling = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            for project_id in list(self._watches):
                self.sequencer.fill(project_id)

    # Presence ------------------------------------------------------------------------

    def presence_out(self, diff: events_pb2.PresenceDiff) -> None:
        self._spawn(self._publish_presence(diff.project_id, DIFF, diff.SerializeToString()))

    def presence_of(self, project_id: str) -> list[bytes]:
        return self.presence.entries(project_id)

    def _deliver_presence(self, diff: events_pb2.PresenceDiff) -> None:
        self.hub.deliver_presence(diff)

    async def _publish_presence(self, project_id: str, kind: str, payload: bytes) -> None:
        subject = self.bus.subject("presence", project_id)
        if subject is not None:
            await self.bus.publish(subject, payload, {INSTANCE: self.instance_id, KIND: kind})

    async def _publish_full(self, project_id: str) -> None:
        diff = events_pb2.PresenceDiff(project_id=project_id)
        for entry in self.hub.shown_presence(project_id):
            diff.changes.add().MergeFromString(entry)
        await self._publish_presence(project_id, FULL, diff.SerializeToString())

    async def _on_presence(self, project_id: str, data: bytes, headers: Mapping[str, str]) -> None:
        instance = headers.get(INSTANCE, "")
        if not instance or instance == self.instance_id:
            return
        kind = headers.get(KIND)
        if kind == ASK:
            await self._publish_full(project_id)
            return
        diff = events_pb2.PresenceDiff()
        diff.ParseFromString(data)
        if diff.project_id != project_id:
            return
        if kind == FULL:
            self.presence.full(instance, diff)
        elif kind == DIFF:
            self.presence.diff(instance, diff)

    async def _republisher(self) -> None:
        """Every half heartbeat, this instance's viewers of each project it serves; every
        quarter, the people of instances not heard of for one and a half leave (so within
        two heartbeats of an instance's end)."""
        beat = 0
        while True:
            await asyncio.sleep(self.heartbeat / 4)
            self.presence.expire()
            beat += 1
            if beat % 2:
                continue
            for project_id in list(self._watches):
                if self.hub.shown_presence(project_id):
                    await self._publish_full(project_id)


ProjectHandler = Callable[[str, bytes, Mapping[str, str]], Awaitable[None]]


def _bound(handler: ProjectHandler, project_id: str) -> Handler:
    async def on_message(data: bytes, headers: Mapping[str, str]) -> None:
        await handler(project_id, data, headers)

    return on_message


async def _unsubscribe(sub: BusSubscription) -> None:
    with contextlib.suppress(Exception):
        await sub.unsubscribe()


def _by_project(events: Sequence[CommittedEvent]) -> dict[str, list[CommittedEvent]]:
    out: dict[str, list[CommittedEvent]] = {}
    for event in events:
        out.setdefault(event.project_id, []).append(event)
    return out


def _seq_of(msg: object) -> int:
    kind = msg.WhichOneof("payload")  # type: ignore[attr-defined]
    if kind is None:
        return 0
    return int(getattr(getattr(msg, kind), "seq", 0))


CLUSTER = web.AppKey("cluster", Cluster)
