"""The real-time hub: every open connection, who subscribed to what, and the fan-out.

Committed events arrive from the domain on the database thread and hop to the loop
in commit order; each is encoded once and appended to every subscriber's queue.
Presence lives here too, as it is about connections, not data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web
from tandem.v1 import entities_pb2, events_pb2, websocket_pb2

from server.access import AccessEnded
from server.appkeys import CONFIG, DOMAIN
from server.config import ServerConfig
from server.domain.events import CommittedEvent
from server.domain.service import Domain
from server.realtime.codec import Outgoing
from server.realtime.connection import Connection
from server.realtime.protocol import PRESENCE_INTERVAL_SECONDS, SHUTDOWN_FLUSH_SECONDS, CloseCode
from server.realtime.subscription import Subscription

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

    # Lifecycle -------------------------------------------------------------------

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: listen to the domain's commits while the app runs."""
        self._loop = asyncio.get_running_loop()
        self._domain = app[DOMAIN]
        if CONFIG in app:
            self._config = app[CONFIG]
        remove = self._domain.sink.add_listener(self._on_commit)
        try:
            yield
        finally:
            remove()

    async def shutdown(self, _app: web.Application | None = None) -> None:
        """on_shutdown: flush every queue, then close every socket with 1001."""
        self._closing = True
        conns = list(self._connections.values())
        for conn in conns:
            conn.close_after_flush(CloseCode.GOING_AWAY, "server shutting down")
        if conns:
            await asyncio.wait(
                [asyncio.create_task(c.finish()) for c in conns],
                timeout=SHUTDOWN_FLUSH_SECONDS + 2,
            )

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
        changes what they subscribe to. Returns a function that removes it."""
        self._observers.append(fn)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._observers.remove(fn)

        return remove

    def _notify(self) -> None:
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
        self._notify()

    def detach(self, conn: Connection) -> None:
        self._leave_all(conn)
        if self._connections.pop(conn.id, None) is not None and conn.identity is not None:
            self._notify()

    def _leave_all(self, conn: Connection) -> None:
        for sub in list(conn.subscriptions.values()):
            self.remove_subscription(sub)

    # Subscriptions -----------------------------------------------------------------

    def add_subscription(self, sub: Subscription) -> None:
        """Register before reading the snapshot or replay, so no commit falls in between."""
        sub.conn.subscriptions[sub.id] = sub
        self._by_project.setdefault(sub.project_id, {})[sub.conn.id] = sub

    def subscription_live(self, sub: Subscription) -> None:
        sub.go_live()
        if sub.conn.subscriptions.get(sub.id) is not sub:
            return  # what was held back overflowed the queue: the connection was dropped
        self._relay_presence(sub, PresenceState.PRESENCE_STATE_ONLINE)
        self._notify()

    def remove_subscription(self, sub: Subscription) -> None:
        sub.cancel_presence_timer()
        sub.conn.subscriptions.pop(sub.id, None)
        subs = self._by_project.get(sub.project_id)
        if subs is not None and subs.get(sub.conn.id) is sub:
            del subs[sub.conn.id]
            if not subs:
                del self._by_project[sub.project_id]
        if sub.live:
            self._relay_presence(sub, PresenceState.PRESENCE_STATE_OFFLINE)
            if sub.conn.open:
                self._notify()

    def subscription_for(self, conn: Connection, project_id: str) -> Subscription | None:
        sub = self._by_project.get(project_id, {}).get(conn.id)
        return sub

    # Fan-out -----------------------------------------------------------------------

    def _on_commit(self, events: Sequence[CommittedEvent]) -> None:
        # On the database thread: hop only. call_soon_threadsafe keeps commit order.
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self.dispatch, events)

    def dispatch(self, events: Iterable[CommittedEvent]) -> None:
        by_project = self._by_project
        for event in events:
            subs = by_project.get(event.project_id)
            if not subs:
                continue
            out = Outgoing(event.frame)
            seq = event.seq
            for sub in tuple(subs.values()):
                sub.deliver(seq, out)

    # Presence ----------------------------------------------------------------------

    def presence_in(self, project_id: str, joining: Subscription) -> list[events_pb2.UserPresence]:
        """Everyone viewing a project now, ``joining`` included, for its snapshot."""
        return [
            sub.presence(PresenceState.PRESENCE_STATE_ONLINE)
            for sub in self._by_project.get(project_id, {}).values()
            if (sub.live or sub is joining) and sub.conn.open and sub.conn.identity is not None
        ]

    def update_presence(self, sub: Subscription) -> None:
        """Relay a changed view, at most once per interval, always ending on the latest."""
        if sub.presence_timer is not None:
            return  # a trailing update is already scheduled and will carry this state
        loop = asyncio.get_running_loop()
        wait = sub.presence_sent_at + PRESENCE_INTERVAL_SECONDS - loop.time()
        if wait <= 0:
            self._relay_presence(sub, PresenceState.PRESENCE_STATE_ONLINE)
            return

        def trailing() -> None:
            sub.presence_timer = None
            if sub.live and sub.conn.open and sub.conn.subscriptions.get(sub.id) is sub:
                self._relay_presence(sub, PresenceState.PRESENCE_STATE_ONLINE)

        sub.presence_timer = loop.call_later(wait, trailing)

    def _relay_presence(self, sub: Subscription, state: PresenceState.ValueType) -> None:
        if sub.conn.identity is None:
            return
        if self._loop is not None:
            sub.presence_sent_at = self._loop.time()
        others = [
            other
            for conn_id, other in self._by_project.get(sub.project_id, {}).items()
            if conn_id != sub.conn.id
        ]
        if not others:
            return
        msg = websocket_pb2.WebSocketMessage(user_presence=sub.presence(state))
        out = Outgoing.of(msg)
        for other in others:
            other.deliver(0, out)


#: Where the application keeps its hub.
HUB = web.AppKey("realtime_hub", Hub)
