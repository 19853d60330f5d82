"""Both listeners: WebSocket upgrades answered without aiohttp's request machinery; every
other request handed to aiohttp as it came.

Profiled in a reconnect storm of 2,000, over a quarter of a join's CPU was aiohttp's way to
the upgrade: its protocol, a task, the request object, the middleware chain, the routing and
the response's preparation, all for a socket that becomes a ``Connection`` right after. So each
connection's first bytes meet ``UpgradeProtocol`` instead. It answers the upgrade itself
only when the whole head is in those bytes, is ``GET /ws``, and passes the very checks
aiohttp's way makes: the guard's ``screen`` (Host, Origin, sharing on), the endpoint's
``FORMATS`` and ``handshake_key``, the hub's places for joining connections; and, from a
LAN peer, the guard's credential check: the same credential read from the head
(``presented``), looked up the same way (``lookup``, batched with the others), in the same
per-address turn of the throttle, the gate told once it is found. In every other case
(another request, a head split across packets, one too long, a refused one, an address the
throttle holds back, a credential missing or not found) the socket goes to aiohttp's own
protocol with the bytes read so far, and aiohttp reads, limits, times out and refuses it as
it does any request, so each refusal is made, and each wrong credential counted, in one
place (a credential this listener found no one behind is not looked up there again:
``SecurityState.unfound``). The head is parsed by aiohttp's own parser (its C one where
built), with its default limits, the parser aiohttp would have used on the same bytes.

On the LAN listener a connection passes the ``ConnectionGate`` first, whose protocol stays
in front of this one, and of aiohttp's when the socket goes there, until it is a WebSocket.

Until its first bytes, a connection has the same deadline aiohttp gives it (the runner's
``keepalive_timeout``, ``ServerConfig.idle_timeout_seconds``), kept by one sweep of the
listener's instead of a timer per connection (a quarter of the deadline late at most).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, cast

from aiohttp import HttpVersion11, web
from aiohttp.http_parser import HttpRequestParser

from server.access import access_epoch
from server.appkeys import CONFIG
from server.realtime.connection import INBOX_LIMIT
from server.realtime.endpoint import (
    FORMATS,
    Place,
    handshake_key,
    open_connection,
    start_serving,
    switching_protocols,
)
from server.realtime.hub import HUB
from server.realtime.identity import Handshake
from server.security.identity import Admission
from server.security.limits import TLS_HANDSHAKE_TIMEOUT_SECONDS, ConnectionGate, GatedProtocol
from server.security.middleware import WS_PATH, Credential, lookup, presented, screen
from server.security.state import SECURITY

log = logging.getLogger(__name__)

# What a head this listener answers itself starts with; anything else goes to aiohttp at once.
_PREFIX = b"GET " + WS_PATH.encode()
_HEAD_END = b"\r\n\r\n"
_NEVER = float("inf")


class UpgradeProtocol(asyncio.Protocol):
    """A new connection, until it is a WebSocket or aiohttp's."""

    __slots__ = (
        "_admission",
        "_app",
        "_factory",
        "_head",
        "_lookup",
        "_transport",
        "_unanswered",
        "_waiting",
    )

    def __init__(
        self, app: web.Application, factory: web.Server, unanswered: dict[UpgradeProtocol, float]
    ) -> None:
        self._app = app
        self._factory = factory
        # The listener's connections not yet upgraded nor aiohttp's, each with the time by
        # which its first bytes must arrive (all closed when the listener stops).
        self._unanswered = unanswered
        self._transport: asyncio.Transport | None = None
        # The head and what followed it, while its credential is looked up or it waits for
        # a place.
        self._head: bytes = b""
        self._waiting: tuple[str, bool, bytes, str] | None = None
        # A LAN peer's credential, being looked up (the task), then what it was let in on.
        self._lookup: asyncio.Task[None] | None = None
        self._admission: Admission | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        timeout = self._app[CONFIG].idle_timeout_seconds
        deadline = asyncio.get_running_loop().time() + timeout if timeout > 0 else _NEVER
        self._unanswered[self] = deadline

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        waiting = self._waiting
        if waiting is not None:  # sent before its 101: it follows the head
            key, as_json, tail, peer = waiting
            tail += data
            self._waiting = (key, as_json, tail, peer)
            self._head += data
            if len(tail) > INBOX_LIMIT and transport.is_reading():
                transport.pause_reading()  # no more until it is a Connection, which reads on
            return
        self._unanswered[self] = _NEVER  # it asked: answered below, or waiting for a place
        if not data.startswith(_PREFIX) or _HEAD_END not in data:
            self._to_aiohttp(data)
            return
        try:
            answered = self._upgrade(transport, data)
        except Exception:  # never lose a request to a bug here: aiohttp answers it
            log.exception("answering an upgrade failed; aiohttp answers it")
            answered = False
        if not answered:
            self._to_aiohttp(data)

    def eof_received(self) -> bool | None:
        return None  # nothing asked yet: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._waiting = None
        self._unanswered.pop(self, None)

    def close(self) -> None:
        """Closed unanswered: the listener stops, or the first bytes are late."""
        transport = self._transport
        self.connection_lost(None)
        if transport is not None:
            transport.close()

    # ---------------------------------------------------------------------------------

    def _upgrade(self, transport: asyncio.Transport, data: bytes) -> bool:
        """Answer the upgrade in ``data``, or wait for a place to; False: aiohttp's to answer."""
        # No body is read: a head that has one is not an upgrade answered here.
        parser: Any = HttpRequestParser(cast(Any, self), asyncio.get_running_loop(), 2**16)
        try:
            messages, upgraded, tail = parser.feed_data(data)
        except Exception:  # a malformed head: aiohttp's parser says so, in aiohttp's words
            return False
        if len(messages) != 1 or not upgraded:
            return False
        message = messages[0][0]
        if message.method != "GET" or message.version != HttpVersion11:
            return False
        url = message.url
        if url.path != WS_PATH:
            return False
        fmt = url.query.get("format", "")
        if fmt not in FORMATS:
            return False
        peer = _peer(transport)
        app = self._app
        state = app[SECURITY]
        sock = transport.get_extra_info("sockname")
        local = (str(sock[0]), int(sock[1])) if isinstance(sock, (tuple, list)) else ("", 0)
        refused = screen(
            state,
            method=message.method,
            path=url.path,
            headers=message.headers,
            websocket=True,
            peer=peer,
            local=local,
            secure=transport.get_extra_info("sslcontext") is not None,
        )
        if refused is not None:
            return False
        key = handshake_key(message.headers)
        if key is None or not app[HUB].accepting:
            return False
        credential: Credential | None = None
        if not state.is_local(peer):
            # A LAN peer: one without a credential, or from an address the throttle holds
            # back, is aiohttp's to refuse (the guard counts and words every refusal).
            credential = presented(message.headers)
            if credential is None or not credential.secret or state.throttle.retry_after(peer):
                return False
        self._head = data
        # A client sends nothing more before its 101 (RFC 6455 4.1), so the socket is read
        # on while it waits: what a client sends anyway waits with it, up to a limit.
        self._waiting = (key, FORMATS[fmt], tail, peer)
        if credential is None:
            self._take_place()
        else:
            self._lookup = asyncio.get_running_loop().create_task(
                self._check(credential, peer), name="lan-upgrade"
            )
        return True

    async def _check(self, credential: Credential, peer: str) -> None:
        """Look a LAN peer's credential up as the guard does; found, it takes a place, else
        aiohttp has the head (its guard refuses it, and counts the failure)."""
        app = self._app
        state = app[SECURITY]
        found, looked_up = None, False
        try:
            # Read before the lookup: access that ends while it runs makes what it found
            # stale (the hello then looks it up again).
            epoch = access_epoch(app)
            # In the address's turn, as the guard's check: wrong credentials sent at once
            # from one address are counted one after the other.
            async with state.throttle.turn(peer):
                if not state.throttle.retry_after(peer):
                    found = await lookup(app, credential)
                    looked_up = True
        except Exception:
            log.exception("checking an upgrade's credential failed; aiohttp answers it")
            found, looked_up = None, False
        finally:
            self._lookup = None
        transport = self._transport
        if transport is None or self._waiting is None or transport.is_closing():
            return  # gone meanwhile
        if found is None:
            if looked_up:  # the guard refuses it (and counts it) without looking again
                state.unfound[transport] = credential
            self._to_aiohttp(self._head)
            return
        if state.gate is not None:
            state.gate.authenticated(transport)
        self._admission = Admission(credential, found, epoch)
        try:
            self._take_place()
        except Exception:  # as in data_received: aiohttp answers it
            log.exception("answering an upgrade failed; aiohttp answers it")
            self._to_aiohttp(self._head)

    def _take_place(self) -> None:
        places = self._app[HUB].joining
        if places.take_now():
            self._granted()
        else:
            places.wait(self._granted)

    def _granted(self) -> bool:
        """A place is this connection's: upgrade it (False when it no longer wants one)."""
        transport, waiting = self._transport, self._waiting
        if transport is None or waiting is None or transport.is_closing():
            return False
        key, as_json, tail, peer = waiting
        self._waiting = None
        hub = self._app[HUB]
        place = Place(hub.joining, held=True)
        if not hub.accepting:  # shut down while it waited: aiohttp says so
            place.give_back()
            self._to_aiohttp(self._head)
            return True
        self._head = b""
        transport.write(switching_protocols(key))
        handshake = Handshake(self._app, peer, self._admission)
        self._admission = None
        conn = open_connection(hub, handshake, as_json=as_json)
        front = transport.get_protocol()
        transport.set_protocol(conn)
        self._transport = None
        self._unanswered.pop(self, None)
        if front is not self:  # the gate's, in front: it forgets the socket, not closing it
            front.connection_lost(None)
        conn.connection_made(transport)
        if not transport.is_reading():
            transport.resume_reading()
        if tail:
            conn.data_received(tail)
        start_serving(hub, conn, handshake, place)
        return True

    def _to_aiohttp(self, data: bytes) -> None:
        """Give the socket to aiohttp's protocol, as if it had been aiohttp's from the start."""
        transport = self._transport
        self._transport = None
        self._waiting = None
        self._head = b""
        self._admission = None
        self._unanswered.pop(self, None)
        if transport is None or transport.is_closing():
            return
        handler = self._factory()
        front = transport.get_protocol()
        if isinstance(front, GatedProtocol):
            front.hand_to(handler)  # the gate stays in front, counting it
        else:
            transport.set_protocol(handler)
        handler.connection_made(transport)
        if not transport.is_reading():
            transport.resume_reading()
        if data:
            handler.data_received(data)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return ""


class UpgradeSite(web.TCPSite):
    """A TCP listener whose connections meet ``UpgradeProtocol`` first; with ``gate`` (the
    LAN listener), they pass the ``ConnectionGate`` before that."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
        gate: ConnectionGate | None = None,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, backlog=backlog)
        self.gate = gate
        self._unanswered: dict[UpgradeProtocol, float] = {}
        self._sweep: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        app = self._runner.app  # type: ignore[attr-defined]
        unanswered = self._unanswered
        gate = self.gate

        def protocol() -> asyncio.Protocol:
            upgrade = UpgradeProtocol(app, server, unanswered)
            return upgrade if gate is None else GatedProtocol(upgrade, gate)

        loop = asyncio.get_running_loop()
        # BaseSite.stop closes what start leaves here, as TCPSite.start does.
        self._server = await loop.create_server(
            protocol,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_SECONDS if self._ssl_context else None,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
        else:
            self._bound_port = self._port
        timeout = app[CONFIG].idle_timeout_seconds
        if timeout > 0:
            self._sweep_every(timeout / 4)

    def _sweep_every(self, interval: float) -> None:
        """Close the connections whose first bytes are late, every ``interval`` seconds."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        late = [c for c, deadline in self._unanswered.items() if deadline <= now]
        for connection in late:
            connection.close()
        self._sweep = loop.call_later(interval, self._sweep_every, interval)

    async def stop(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        await super().stop()
        for connection in list(self._unanswered):
            connection.close()
