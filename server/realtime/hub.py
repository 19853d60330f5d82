"""The real-time hub: every open connection, who subscribed to what, and the fan-out.

Committed events arrive from the domain on the thread that committed them and hop to the loop
in commit order; each is encoded once and appended to every subscriber's queue.
Presence lives here too, as it is about connections, not data.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web
from tandem.v1 import entities_pb2, events_pb2, websocket_pb2

from server.access import AccessEnded
from server.appkeys import CONFIG, DOMAIN
from server.config import ServerConfig
from server.domain.events import CommittedEvent, Delivery
from server.domain.service import Domain
from server.monitoring import MONITOR, Monitor
from server.monitoring.metrics import Metrics
from server.realtime.codec import Joined, Outgoing
from server.realtime.connection import Connection
from server.realtime.heartbeat import Heartbeat
from server.realtime.peers import PEERS, Peers
from server.realtime.places import Places
from server.realtime.protocol import (
    MAX_JOINING,
    PRESENCE_INTERVAL_SECONDS,
    PRESENCE_SHOWN_LIMIT,
    PRESENCE_TICK_SECONDS,
    SHUTDOWN_FLUSH_SECONDS,
    CloseCode,
)
from server.realtime.subscription import Subscription, framed_presence

log = logging.getLogger(__name__)

PresenceState = events_pb2.PresenceState


@dataclass(frozen=True)
class ConnectionInfo:
    """What the outside may know about a connection (tray app, LAN sharing).

    Before a connection has said hello, only ``remote`` and ``connected_at`` are known:
    ``identified`` is False, ``member`` is empty and ``role`` unspecified.
    """

    connection_id: str
    member: entities_pb2.Member
    role: entities_pb2.MemberRole.ValueType
    remote: str
    connected_at: float
    # The projects this connection is subscribed to.
    project_ids: tuple[str, ...]
    # (project_id, sprint_id, task_id) for each subscription.
    viewing: tuple[tuple[str, str, str], ...]
    identified: bool = True
    # Frames waiting in the server's outgoing queue for this connection (never above the
    # queue limit).
    queued: int = 0

    @property
    def member_id(self) -> str:
        return self.member.id

    @property
    def display_name(self) -> str:
        return self.member.display_name


def _info(conn: Connection) -> ConnectionInfo:
    identity = conn.identity
    if identity is None:
        return ConnectionInfo(
            connection_id=conn.id,
            member=entities_pb2.Member(),
            role=entities_pb2.MemberRole.MEMBER_ROLE_UNSPECIFIED,
            remote=conn.remote,
            connected_at=conn.connected_at,
            project_ids=(),
            viewing=(),
            identified=False,
            queued=conn.queued,
        )
    subs = list(conn.subscriptions.values())
    return ConnectionInfo(
        connection_id=conn.id,
        member=identity.member,
        role=identity.actor.role,
        remote=conn.remote,
        connected_at=conn.connected_at,
        project_ids=tuple(s.project_id for s in subs),
        viewing=tuple((s.project_id, s.sprint_id, s.viewing_task_id) for s in subs),
        queued=conn.queued,
    )


Observer = Callable[[list[ConnectionInfo]], None]

#: The loop-lag probe's timer is due this often (see LagProbe).
LAG_PROBE_SECONDS = 0.1

#: How long a shared snapshot may serve joins while its project has no event.
SNAPSHOT_MAX_AGE_SECONDS = 2.0


@dataclass(frozen=True)
class CachedSnapshot:
    seq: int
    epoch: str
    # The encoded Snapshot, presence not included (each join adds the viewers of the time).
    body: bytes
    made_at: float


class LagProbe:
    """Measures the event loop's lag: how late a timer due every LAG_PROBE_SECONDS runs.

    A request that arrives while the loop runs a long batch of callbacks (a storm's
    accepts, hellos, snapshots) waits that long before it is even read; this is that wait,
    as the bystander of a reconnect storm feels it. One timer for the whole server.
    """

    __slots__ = ("_due", "_loop", "_observe", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, observe: Callable[[float], None]) -> None:
        self._loop = loop
        self._observe = observe
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._due = self._loop.time() + LAG_PROBE_SECONDS
        self._timer = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self._loop.time()
        self._observe(max(0.0, now - self._due))
        self._due = now + LAG_PROBE_SECONDS
        self._timer = self._loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Hub:
    """Owns the connections. Every method runs on the server's event loop."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}
        self._by_project: dict[str, dict[str, Subscription]] = {}
        self._observers: list[Observer] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._domain: Domain | None = None
        self._config = ServerConfig()
        self._closing = False
        # Presence changed since the last tick, by project and connection; one timer runs
        # only while something is waiting to be told.
        self._presence_changes: dict[str, dict[str, Subscription]] = {}
        self._presence_tick: asyncio.TimerHandle | None = None
        # Observers are told of changes at most once per tick (see _notify).
        self._notify_timer: asyncio.TimerHandle | None = None
        # The latest encoded snapshot of each project, and how many events each project
        # has had dispatched (a snapshot read across one is not kept).
        self._snapshots: dict[str, CachedSnapshot] = {}
        # The snapshot read under way for each project, shared by every join that arrives
        # before the project's next event (a storm reads the board once, not once per join).
        self._snapshot_reads: dict[str, asyncio.Task[CachedSnapshot]] = {}
        # Per project, the live subscriptions shown in its presence, in order of arrival.
        self._shown: dict[str, dict[str, Subscription]] = {}
        # Per project, the shown viewers' entries joined (see presence_in), until one changes.
        self._shown_joined: dict[str, bytes] = {}
        self._generation: dict[str, int] = {}
        # Places for connections between their upgrade and their hello (see MAX_JOINING).
        self.joining = Places(MAX_JOINING)
        # Identified connections by member, for what goes to one member only (their inbox).
        self._by_member: dict[str, dict[str, Connection]] = {}
        self.monitor = Monitor(counting=False)
        # Other instances of a team server (None: this one is alone, as on a desktop).
        self._peers: Peers | None = None

    # Lifecycle -------------------------------------------------------------------

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: listen to the domain's commits while the app runs."""
        self._loop = asyncio.get_running_loop()
        self._domain = app[DOMAIN]
        if CONFIG in app:
            self._config = app[CONFIG]
        if MONITOR in app:
            self.monitor = app[MONITOR]
            self._watch(self.monitor)
        self._peers = app.get(PEERS)
        # With peers, commits (this instance's and the others') come from them, in order.
        remove = (
            self._domain.sink.add_listener(self._on_commit) if self._peers is None else _nothing
        )
        heartbeat = Heartbeat(
            self._config.heartbeat_seconds,
            self._connections.values,
            self._config.hello_timeout_seconds,
        )
        heartbeat.start()
        metrics = self.monitor.metrics
        lag = LagProbe(self._loop, metrics.loop_lag_seconds.observe) if metrics else None
        if lag is not None:
            lag.start()
        remove_inbox = self._domain.inbox_sink.add_listener(self._on_inbox)
        try:
            yield
        finally:
            heartbeat.stop()
            if lag is not None:
                lag.stop()
            if self._notify_timer is not None:
                self._notify_timer.cancel()
                self._notify_timer = None
            remove()
            remove_inbox()

    async def shutdown(self, _app: web.Application | None = None) -> None:
        """on_shutdown: tell members' connections what the domain's upkeep still holds for
        them, flush every queue, then close every socket with 1001."""
        self._closing = True
        if self._domain is not None:
            try:
                await self._domain.run_upkeep()
            except Exception:  # the sockets close all the same; the next start catches up
                log.exception("could not run the upkeep before shutting down")
        conns = list(self._connections.values())
        for conn in conns:
            conn.close_after_flush(CloseCode.GOING_AWAY, "server shutting down")
        if conns:
            await asyncio.wait(
                [asyncio.create_task(c.finish()) for c in conns],
                timeout=SHUTDOWN_FLUSH_SECONDS + 2,
            )

    def _watch(self, monitor: Monitor) -> None:
        monitor.history.gauges = lambda: (
            float(len(self._connections)),
            float(self.subscription_count()),
            float(sum(c.queued for c in self._connections.values())),
        )
        metrics = monitor.metrics
        if metrics is None:
            return
        metrics.sample(
            "tandem_connections", "Open WebSocket connections.", lambda: len(self._connections)
        )
        metrics.sample(
            "tandem_subscriptions",
            "Project subscriptions of open connections.",
            self.subscription_count,
        )
        metrics.sample(
            "tandem_outgoing_queue_frames",
            "Frames waiting in outgoing queues (sockets that cannot take more right now).",
            lambda: sum(c.queued for c in self._connections.values()),
        )
        metrics.sample(
            "tandem_outgoing_queue_max_frames",
            "Frames waiting in the longest outgoing queue.",
            lambda: max((c.queued for c in self._connections.values()), default=0),
        )

    def subscription_count(self) -> int:
        return sum(len(subs) for subs in self._by_project.values())

    @property
    def metrics(self) -> Metrics | None:
        return self.monitor.metrics

    @property
    def accepting(self) -> bool:
        return not self._closing

    @property
    def domain(self) -> Domain:
        if self._domain is None:
            raise RuntimeError("the real-time hub is not running")
        return self._domain

    @property
    def config(self) -> ServerConfig:
        return self._config

    # Public API --------------------------------------------------------------------

    def connections(self, *, anonymous: bool = False) -> list[ConnectionInfo]:
        """Who is connected now: connections that completed hello, and with ``anonymous``
        also those that have not (yet)."""
        return [
            _info(conn)
            for conn in self._connections.values()
            if conn.open and (anonymous or conn.identity is not None)
        ]

    def member_connections(self, member_id: str) -> list[Connection]:
        """The open connections acting as this member (a person's tabs)."""
        return [
            conn
            for conn in self._connections.values()
            if conn.open and conn.identity is not None and conn.identity.member.id == member_id
        ]

    def close_where(
        self,
        predicate: Callable[[ConnectionInfo], bool],
        code: int = CloseCode.FORBIDDEN,
        reason: str = "access revoked",
    ) -> int:
        """Close, at once and without flushing, every connection the predicate picks.

        The predicate sees every open connection, those still before hello too (then only
        ``remote`` is known; ``identified`` is False), so no socket outlives a revocation.
        Commands already received from those connections are not applied after this.
        Returns how many were closed.
        """
        picked = [
            conn for conn in self._connections.values() if conn.open and predicate(_info(conn))
        ]
        for conn in picked:
            conn.abort(code, reason)
            self._leave_all(conn)
        return len(picked)

    def close_member_connections(
        self, member_id: str, code: int = CloseCode.FORBIDDEN, reason: str = "access revoked"
    ) -> int:
        return self.close_where(lambda info: info.member_id == member_id, code, reason)

    def access_ended(self, ended: AccessEnded) -> int:
        """Close the connections whose access the security layer has just ended."""

        def covered(info: ConnectionInfo) -> bool:
            return ended.ends(remote=info.remote, member_id=info.member_id)

        return self.close_where(covered, CloseCode.FORBIDDEN, ended.reason)

    def add_observer(self, fn: Observer) -> Callable[[], None]:
        """Call ``fn(connections())`` on the loop whenever someone connects, leaves or
        changes what they subscribe to (within a presence tick, once for all of its
        changes). Returns a function that removes it."""
        self._observers.append(fn)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._observers.remove(fn)

        return remove

    def _notify(self) -> None:
        """Tell the observers once the current tick is over: a storm of joins costs one
        list of everyone per tick, not one per join (which made a storm quadratic)."""
        if not self._observers or self._notify_timer is not None or self._loop is None:
            return
        self._notify_timer = self._loop.call_later(PRESENCE_TICK_SECONDS, self._notify_now)

    def _notify_now(self) -> None:
        self._notify_timer = None
        if not self._observers:
            return
        people = self.connections()
        for fn in list(self._observers):
            try:
                fn(people)
            except Exception:
                log.exception("a connection observer failed")

    # Connections -------------------------------------------------------------------

    def attach(self, conn: Connection) -> None:
        self._connections[conn.id] = conn
        conn.on_abort = self._leave_all

    def identified(self, conn: Connection) -> None:
        if conn.identity is not None:
            self._by_member.setdefault(conn.identity.member.id, {})[conn.id] = conn
        self._notify()

    def detach(self, conn: Connection) -> None:
        self._leave_all(conn)
        if conn.identity is not None:
            mine = self._by_member.get(conn.identity.member.id)
            if mine is not None:
                mine.pop(conn.id, None)
                if not mine:
                    del self._by_member[conn.identity.member.id]
        if self._connections.pop(conn.id, None) is not None and conn.identity is not None:
            self._notify()

    def _leave_all(self, conn: Connection) -> None:
        for sub in list(conn.subscriptions.values()):
            self.remove_subscription(sub)

    # Subscriptions -----------------------------------------------------------------

    def add_subscription(self, sub: Subscription) -> None:
        """Register before reading the snapshot or replay, so no commit falls in between."""
        sub.conn.subscriptions[sub.id] = sub
        subs = self._by_project.get(sub.project_id)
        if subs is None:
            subs = self._by_project[sub.project_id] = {}
            if self._peers is not None:
                # Events were not dispatched here while nobody viewed it: what is cached
                # is as old as that.
                self._snapshots.pop(sub.project_id, None)
                self._snapshot_reads.pop(sub.project_id, None)
                self._peers.watch(sub.project_id)
        subs[sub.conn.id] = sub

    async def project_ready(self, project_id: str) -> None:
        """Wait, after ``add_subscription`` and before reading, until every later event of
        the project reaches this hub (at once when alone)."""
        ready = self._peers.ready(project_id) if self._peers is not None else None
        if ready is not None:
            await ready

    def subscription_live(self, sub: Subscription) -> None:
        sub.go_live()
        if sub.conn.subscriptions.get(sub.id) is not sub:
            return  # what was held back overflowed the queue: the connection was dropped
        shown = self._shown.setdefault(sub.project_id, {})
        if len(shown) < PRESENCE_SHOWN_LIMIT:
            shown[sub.conn.id] = sub
            self._shown_joined.pop(sub.project_id, None)
            self._mark_presence(sub)
        self._notify()

    def remove_subscription(self, sub: Subscription) -> None:
        sub.cancel_presence_timer()
        sub.conn.subscriptions.pop(sub.id, None)
        subs = self._by_project.get(sub.project_id)
        if subs is not None and subs.get(sub.conn.id) is sub:
            del subs[sub.conn.id]
            if not subs:
                del self._by_project[sub.project_id]
                if self._peers is not None:
                    self._peers.unwatch(sub.project_id)
        shown = self._shown.get(sub.project_id)
        if shown is not None and shown.get(sub.conn.id) is sub:
            del shown[sub.conn.id]
            self._shown_joined.pop(sub.project_id, None)
            if not shown:
                del self._shown[sub.project_id]
            self._mark_presence(sub)
        if sub.live and sub.conn.open:
            self._notify()

    def subscription_for(self, conn: Connection, project_id: str) -> Subscription | None:
        sub = self._by_project.get(project_id, {}).get(conn.id)
        return sub

    # Fan-out -----------------------------------------------------------------------

    def _on_commit(self, events: Sequence[CommittedEvent]) -> None:
        # On the committing thread: hop only. call_soon_threadsafe keeps commit order.
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self.dispatch, events, time.perf_counter())

    def dispatch(self, events: Iterable[CommittedEvent], committed_at: float | None = None) -> None:
        self._dispatch(events)
        metrics = self.monitor.metrics
        if committed_at is not None and metrics is not None:
            # Every subscriber's frame is now in its socket or its queue.
            metrics.fanout_seconds.observe(time.perf_counter() - committed_at)

    def _dispatch(self, events: Iterable[CommittedEvent]) -> None:
        by_project = self._by_project
        snapshots = self._snapshots
        # A commit's events, a run of one project's at a time (in commit order).
        for project_id, grouped in itertools.groupby(events, key=_project_of):
            run = list(grouped)
            # A snapshot read before these events is no good for anyone subscribing after.
            self._generation[project_id] = self._generation.get(project_id, 0) + len(run)
            snapshots.pop(project_id, None)
            self._snapshot_reads.pop(project_id, None)
            subs = by_project.get(project_id)
            if not subs:
                continue
            receivers = tuple(subs.values())
            if len(run) == 1:
                self._deliver_one(run[0], receivers)
            else:
                self._deliver_run(run, receivers)

    def _deliver_one(self, event: CommittedEvent, receivers: tuple[Subscription, ...]) -> None:
        out = Outgoing(event.frame)
        seq = event.seq
        for sub in receivers:
            # The fan-out's inner loop, so the usual case is inlined: a live
            # subscription for which the event is news (else Subscription.deliver).
            if sub.pending is None and seq > sub.last_seq:
                sub.last_seq = seq
                sub.conn.offer(out)
            else:
                sub.deliver(seq, out)
        self._count_out(out, len(receivers))

    def _deliver_run(self, run: list[CommittedEvent], receivers: tuple[Subscription, ...]) -> None:
        """Several events of one project (a bulk edit's, a group's): to each live subscriber
        for which all are news in one write, joined once for all of them; to the others
        one by one. A bulk edit of 500 tasks seen by 200 people was 100,000 writes that held
        the loop (everyone's board, the owner's too) for over a second."""
        outs = [Outgoing(event.frame) for event in run]
        joined = Joined(outs)
        first, last = run[0].seq, run[-1].seq
        together = all(a.seq < b.seq for a, b in itertools.pairwise(run))
        for sub in receivers:
            if together and sub.pending is None and first > sub.last_seq:
                sub.last_seq = last
                sub.conn.offer_all(joined)
            else:
                for event, out in zip(run, outs, strict=True):
                    sub.deliver(event.seq, out)
        for out in outs:
            self._count_out(out, len(receivers))

    def _count_out(self, out: Outgoing, receivers: int) -> None:
        """Count a broadcast once for all its receivers (a subscriber that already had it, or
        was dropped meanwhile, is counted too)."""
        metrics = self.monitor.metrics
        if metrics is not None and receivers:
            kind = out.kind
            metrics.frames_out[kind] += receivers
            metrics.bytes_out[kind] += receivers * len(out.frame)

    def _on_inbox(self, deliveries: Sequence[Delivery]) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self.deliver_inbox, deliveries)

    def deliver_inbox(self, deliveries: Iterable[Delivery]) -> None:
        """Each change to a member's inbox, to every open connection of that member."""
        for delivery in deliveries:
            conns = self._by_member.get(delivery.member_id)
            if not conns:
                continue
            out = Outgoing(delivery.frame)
            receivers = tuple(conns.values())
            for conn in receivers:
                if conn.open:
                    conn.offer(out)
            self._count_out(out, len(receivers))

    # Snapshots ---------------------------------------------------------------------

    async def snapshot(self, project_id: str) -> CachedSnapshot:
        """The project's board as one encoded Snapshot (without presence), shared by every
        subscriber that joins before the project's next event.

        A storm of joins after a restart then reads the board once, not once per join. It
        is safe because a subscription is registered before it asks (see on_subscribe):
        an event after the snapshot's seq reaches it live, and one dispatched while the
        snapshot was being read keeps that read out of the cache. Member names (not in the
        change log) are at most SNAPSHOT_MAX_AGE_SECONDS old.
        """
        loop = asyncio.get_running_loop()
        cached = self._snapshots.get(project_id)
        if cached is not None and loop.time() - cached.made_at < SNAPSHOT_MAX_AGE_SECONDS:
            return cached
        # A read started since the project's last event serves this join too: no event was
        # dispatched between its start and this subscription's registration, so whatever
        # it misses reaches the subscription live. An event drops it from here, so joins
        # after that event start a read of their own.
        reading = self._snapshot_reads.get(project_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read_snapshot(project_id))
            reading.add_done_callback(_retrieved)
            self._snapshot_reads[project_id] = reading
        # Shielded: a joiner that goes away does not cancel the read for the others.
        return await asyncio.shield(reading)

    async def _read_snapshot(self, project_id: str) -> CachedSnapshot:
        loop = asyncio.get_running_loop()
        generation = self._generation.get(project_id, 0)
        domain = self.domain
        try:
            snapshot = await domain.read(domain.snapshot, project_id)
        finally:
            if self._snapshot_reads.get(project_id) is asyncio.current_task():
                del self._snapshot_reads[project_id]
        made = CachedSnapshot(
            seq=snapshot.seq,
            epoch=snapshot.epoch,
            body=snapshot.SerializeToString(),
            made_at=loop.time(),
        )
        if self._generation.get(project_id, 0) == generation:
            self._snapshots[project_id] = made
        return made

    # Presence ----------------------------------------------------------------------

    def presence_in(self, project_id: str, joining: Subscription) -> bytes:
        """Everyone viewing a project now, ``joining`` included, as Snapshot.presence.

        Each connection's entry is encoded once when its presence changes, and the shown
        ones are joined once until one of them changes, arrives or leaves: a storm of joins
        copies the same bytes, not a hundred entries each. (A viewer whose connection is
        closing is shown until it leaves, which its leaving's diff then tells.)
        """
        shown = self._shown.get(project_id, {})
        joined = self._shown_joined.get(project_id)
        if joined is None:
            joined = self._shown_joined[project_id] = b"".join(
                sub.presence_entry()
                for sub in shown.values()
                if sub.conn.open and sub.conn.identity is not None
            )
        entries = [joined]
        if len(shown) < PRESENCE_SHOWN_LIMIT and joining.conn.identity is not None:
            entries.append(joining.presence_entry())  # it will be shown once live
        if self._peers is not None:
            for entry in self._peers.presence_of(project_id):
                entries.append(framed_presence(entry))
        return b"".join(entries)

    def shown_presence(self, project_id: str) -> list[bytes]:
        """This instance's viewers shown in the project's presence, each an encoded ONLINE
        ``UserPresence`` (for the other instances)."""
        return [
            sub.presence_entry(framed=False)
            for sub in self._shown.get(project_id, {}).values()
            if sub.live and sub.conn.open and sub.conn.identity is not None
        ]

    def deliver_presence(self, diff: events_pb2.PresenceDiff) -> None:
        """Presence changes from other instances, to this instance's viewers of the project."""
        viewers = self._by_project.get(diff.project_id)
        if not viewers:
            return
        out = Outgoing.of(websocket_pb2.WebSocketMessage(presence_diff=diff))
        receivers = tuple(viewers.values())
        for viewer in receivers:
            viewer.deliver(0, out)
        self._count_out(out, len(receivers))

    def update_presence(self, sub: Subscription) -> None:
        """Relay a changed view, at most once per interval, always ending on the latest."""
        sub.presence_changed()
        if self._shown.get(sub.project_id, {}).get(sub.conn.id) is not sub:
            return  # not among those shown (see PRESENCE_SHOWN_LIMIT): nothing to tell
        self._shown_joined.pop(sub.project_id, None)
        if sub.presence_timer is not None:
            return  # a trailing update is already scheduled and will carry this state
        loop = asyncio.get_running_loop()
        wait = sub.presence_sent_at + PRESENCE_INTERVAL_SECONDS - loop.time()
        if wait <= 0:
            self._mark_presence(sub)
            return

        def trailing() -> None:
            sub.presence_timer = None
            if sub.live and sub.conn.open and sub.conn.subscriptions.get(sub.id) is sub:
                self._mark_presence(sub)

        sub.presence_timer = loop.call_later(wait, trailing)

    def _mark_presence(self, sub: Subscription) -> None:
        """Note a changed presence for the project's next diff (one timer for all projects)."""
        if sub.conn.identity is None or self._loop is None:
            return
        sub.presence_sent_at = self._loop.time()
        self._presence_changes.setdefault(sub.project_id, {})[sub.conn.id] = sub
        if self._presence_tick is None:
            self._presence_tick = self._loop.call_later(PRESENCE_TICK_SECONDS, self._send_presence)

    def _send_presence(self) -> None:
        self._presence_tick = None
        changes, self._presence_changes = self._presence_changes, {}
        for project_id, subs in changes.items():
            viewers = self._by_project.get(project_id)
            if not viewers and self._peers is None:
                continue
            diff = events_pb2.PresenceDiff(project_id=project_id)
            for sub in subs.values():
                present = sub.conn.open and sub.conn.subscriptions.get(sub.id) is sub
                if present:
                    diff.changes.add().MergeFromString(sub.presence_entry(framed=False))
                else:
                    diff.changes.append(sub.presence(PresenceState.PRESENCE_STATE_OFFLINE))
            if self._peers is not None:
                self._peers.presence_out(diff)  # the last one here leaving is news there
            if not viewers:
                continue
            out = Outgoing.of(websocket_pb2.WebSocketMessage(presence_diff=diff))
            receivers = tuple(viewers.values())
            for viewer in receivers:
                viewer.deliver(0, out)
            self._count_out(out, len(receivers))


def _project_of(event: CommittedEvent) -> str:
    return event.project_id


def _nothing() -> None:
    return None


def _retrieved(task: asyncio.Task[CachedSnapshot]) -> None:
    # Every joiner waiting on a failed read gets its error; with none left, it is expected
    # (an unknown project) and not worth a "never retrieved" warning.
    if not task.cancelled():
        task.exception()


#: Where the application keeps its hub.
HUB = web.AppKey("realtime_hub", Hub)
