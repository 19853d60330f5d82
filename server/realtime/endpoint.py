"""GET /ws: the upgrade through aiohttp, then the socket is ours (``Connection``).

The handshake is an ordinary aiohttp request, so everything that guards a request guards
it: the security middleware (host and origin checks, a LAN peer's credential), TLS, the
LAN listener's connection gate, the per-person connection caps and the hub's places for
joining connections. Once the 101 answer is written, ``take_over`` moves the socket from
aiohttp's request handler to a ``Connection`` (its asyncio protocol) and the handler
returns: the request, its task and aiohttp's parser and queues are freed, and an idle
connection costs only its ``Connection``.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import logging
import secrets
from collections.abc import Coroutine
from typing import Any, cast

from aiohttp import hdrs, web

from server.monitoring.logs import bind_connection
from server.monitoring.recording import IN
from server.realtime.caps import CONNECTION_CAPS
from server.realtime.codec import BadFrame, WebSocketMessage, decode
from server.realtime.connection import Answering, Connection
from server.realtime.hub import HUB, Hub
from server.realtime.protocol import (
    JSON_BURST_BYTES,
    JSON_BYTES_PER_SECOND,
    MAX_JSON_FRAME_BYTES,
    CloseCode,
)
from server.realtime.ratelimit import TokenBucket
from server.realtime.session import Session
from server.security.state import PRINCIPAL

log = logging.getLogger(__name__)

FORMATS = {"": False, "binary": False, "json": True}

# RFC 6455 4.2.2: the server's answer to a key is SHA-1(key + this GUID), in base64.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def websocket(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    fmt = request.query.get("format", "")
    if fmt not in FORMATS:
        raise web.HTTPBadRequest(text="format must be binary or json")
    if not hub.accepting:
        raise web.HTTPServiceUnavailable(text="the server is shutting down")
    # aiohttp's own check of the upgrade request (method, headers, version, key).
    if not web.WebSocketResponse().can_prepare(request).ok:
        raise web.HTTPBadRequest(text="a WebSocket upgrade (version 13) is expected here")
    as_json = FORMATS[fmt]
    config = hub.config
    place = _Place(hub.joining)
    await place.take()
    started = False
    try:
        if not hub.accepting:  # shut down while it waited for its place
            raise web.HTTPServiceUnavailable(text="the server is shutting down")
        response = await _accept(request)
        conn = Connection(
            connection_id=secrets.token_hex(8),
            remote=request.remote or "",
            as_json=as_json,
            # The size limit is checked from each frame's header: nothing too big is read.
            max_size=min(config.max_message_bytes, MAX_JSON_FRAME_BYTES)
            if as_json
            else config.max_message_bytes,
            queue_limit=config.send_queue_limit,
            hello_timeout=config.hello_timeout_seconds,
            monitor=hub.monitor,
        )
        take_over(request, conn)
        # The request guard let a LAN connection in on an invite's credential: count it
        # against that person and address (the owner's loopback connections carry none).
        principal = request.get(PRINCIPAL)
        if principal is not None:
            capped = (principal.member.id, request.remote or "")
            refused = request.app[CONNECTION_CAPS].admit(*capped)
            if refused:
                conn.abort(CloseCode.TOO_MANY_CONNECTIONS, refused)
                return response
        else:
            capped = None
        _Served(hub, conn, request, place, capped).start()
        started = True
        return response
    finally:
        if not started:
            place.give_back()


async def _accept(request: web.Request) -> web.StreamResponse:
    """Write the 101 answer (RFC 6455 4.2.2) through aiohttp, like any response."""
    key = request.headers[hdrs.SEC_WEBSOCKET_KEY]
    accept = base64.b64encode(hashlib.sha1(key.encode() + _ACCEPT_GUID).digest()).decode()
    response = web.StreamResponse(
        status=101,
        headers={
            hdrs.UPGRADE: "websocket",
            hdrs.CONNECTION: "upgrade",
            hdrs.SEC_WEBSOCKET_ACCEPT: accept,
        },
    )
    response.force_close()
    await response.prepare(request)
    return response


class _Tail:
    """Takes what aiohttp buffered after the upgrade request (``RequestHandler.set_parser``
    hands it to the parser it is given)."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data += data
        return False, b""

    def feed_eof(self) -> None:
        pass


def take_over(request: web.Request, conn: Connection) -> None:
    """Move the upgraded socket from aiohttp's request handler to ``conn``.

    aiohttp's ``RequestHandler`` keeps the bytes that follow an upgrade request until a
    parser is set (``set_parser``, as its own WebSocketResponse does); they are taken from
    it that way. Then the transport gets ``conn`` as its protocol, and the handler is told
    the connection is gone (``connection_lost``) with its ``transport`` cleared first, so
    it forgets the socket (aiohttp's server stops counting it, its keep-alive timer stops,
    the LAN listener's gate lets go of it) without closing it. When the request handler
    returns, aiohttp finds no transport to finish the response on, and ends its task.
    tests/test_ws_takeover.py pins this against the aiohttp in use.
    """
    handler = request.protocol
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("the client left during the handshake")
    tail = _Tail()
    handler.set_parser(cast(Any, tail))
    previous = transport.get_protocol()
    transport.set_protocol(conn)
    handler.transport = None
    previous.connection_lost(None)
    conn.connection_made(transport)
    if not transport.is_reading():  # aiohttp pauses reading while a tail waits for a parser
        transport.resume_reading()
    if tail.data:
        conn.data_received(tail.data)


class _Place:
    """One of the hub's places for joining connections, given back once (see MAX_JOINING)."""

    __slots__ = ("_held", "_places")

    def __init__(self, places: asyncio.Semaphore) -> None:
        self._places = places
        self._held = False

    async def take(self) -> None:
        await self._places.acquire()
        self._held = True

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._places.release()


class _Served:
    """What one connection's messages go to, and what its end releases."""

    __slots__ = ("capped", "caps", "hub", "json_budget", "place", "session")

    def __init__(
        self,
        hub: Hub,
        conn: Connection,
        request: web.Request,
        place: _Place,
        capped: tuple[str, str] | None,
    ) -> None:
        self.hub = hub
        self.caps = request.app[CONNECTION_CAPS]
        self.place: _Place | None = place
        # Counted against this person and address until the connection ends.
        self.capped = capped
        self.session = Session(hub, conn, request)
        self.json_budget = (
            TokenBucket(JSON_BYTES_PER_SECOND, JSON_BURST_BYTES) if conn.as_json else None
        )

    def start(self) -> None:
        conn = self.session.conn
        bind_connection(conn.id)  # this task's last lines, and the log line below, name it
        log.debug("connected from %s", conn.remote)
        self.hub.attach(conn)
        conn.serve(self)

    def receive(
        self, conn: Connection, data: bytes | str
    ) -> Coroutine[object, object, None] | Answering | None:
        if self.json_budget is not None or self.place is not None:
            return self.message(conn, data)  # it may wait (JSON's budget), or it joins
        bind_connection(conn.id, conn.identity.member.id if conn.identity else "")
        envelope = self._envelope(conn, data)
        if envelope is None:
            return None
        return self.session.receive(envelope)

    async def message(self, conn: Connection, data: bytes | str) -> None:
        bind_connection(conn.id, conn.identity.member.id if conn.identity else "")
        budget = self.json_budget
        if budget is not None:
            # Before parsing: a connection sending JSON faster than the budget waits.
            wait = budget.debit(len(data))
            if wait:
                await asyncio.sleep(wait)
        envelope = self._envelope(conn, data)
        del data
        if envelope is None:
            return
        try:
            await self.session.handle(envelope)
        except Exception:
            # A bug outside any one command (they answer INTERNAL themselves): the
            # connection's state is unknown, so end it with a code that says so.
            log.exception("connection %s failed", conn.id)
            conn.abort(CloseCode.INTERNAL_ERROR, "internal error")
            return
        if conn.identity is not None and self.place is not None:
            self.place.give_back()  # joined: the next one may
            self.place = None

    def _envelope(self, conn: Connection, data: bytes | str) -> WebSocketMessage | None:
        """The message in a frame, counted (and recorded); None if it is not one (the
        connection is then closed)."""
        metrics = self.hub.metrics
        try:
            envelope = decode(data)
        except BadFrame as exc:
            if metrics is not None:
                metrics.frames_in["invalid"] += 1
                metrics.bytes_in["invalid"] += len(data)
            conn.abort(CloseCode.INVALID_PAYLOAD, f"not a message: {exc}")
            return None
        if metrics is not None:
            kind = envelope.WhichOneof("payload") or "none"
            metrics.frames_in[kind] += 1
            metrics.bytes_in[kind] += len(data) if isinstance(data, bytes) else len(data.encode())
        tap = self.hub.monitor.recording
        if tap.active is not None:
            raw = data if isinstance(data, bytes) else envelope.SerializeToString()
            tap.frame(conn.id, IN, raw)
        return envelope

    def ended(self, conn: Connection) -> None:
        if self.place is not None:
            self.place.give_back()
            self.place = None
        if self.capped is not None:
            self.caps.release(*self.capped)
            self.capped = None
        hub = self.hub
        hub.detach(conn)
        code = conn.close_code or CloseCode.ABNORMAL
        reason = close_reason(code, conn.missed_heartbeat)
        # Called from the socket's callback, in no task: the line names the connection itself.
        contextvars.copy_context().run(_log_closed, conn, code, reason)
        metrics = hub.metrics
        if metrics is not None:
            metrics.disconnects[(str(int(code)), reason)] += 1


def _log_closed(conn: Connection, code: int, reason: str) -> None:
    bind_connection(conn.id, conn.identity.member.id if conn.identity is not None else "")
    log.debug("disconnected: %d %s", code, reason)


def close_reason(code: int, heartbeat_missed: bool = False) -> str:
    """A close code's name for the metrics ("too_slow", "heartbeat_timeout", ...)."""
    if heartbeat_missed:
        return "heartbeat_timeout"
    try:
        return CloseCode(code).name.lower()
    except ValueError:
        return "other"
