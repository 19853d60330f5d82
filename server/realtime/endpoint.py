"""GET /ws: the upgrade, then the socket is ours (``Connection``).

Through aiohttp, the handshake is an ordinary request, so everything that guards a request
guards it: the security middleware (host and origin checks, a LAN peer's credential), TLS,
the LAN listener's connection gate, the per-person connection caps and the hub's places for
joining connections. Once the 101 answer is written, ``take_over`` moves the socket from
aiohttp's request handler to a ``Connection`` (its asyncio protocol) and the handler
returns: the request, its task and aiohttp's parser and queues are freed, and an idle
connection costs only its ``Connection``.

On both listeners, an upgrade that passes every check is answered without aiohttp's
request machinery (``server.realtime.upgrade``), with the same checks: the guard's
``screen``, ``handshake_key``, ``FORMATS``, the hub's places and, from a LAN peer, the
guard's credential check; everything else goes through aiohttp as above.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import hashlib
import logging
import secrets
from collections.abc import Coroutine
from typing import Any, cast

from aiohttp import hdrs, web
from multidict import CIMultiDictProxy

from server.monitoring.logs import bind_connection
from server.monitoring.recording import IN
from server.realtime.caps import CONNECTION_CAPS
from server.realtime.codec import BadFrame, WebSocketMessage, decode
from server.realtime.connection import Answering, Connection
from server.realtime.hub import HUB, Hub
from server.realtime.identity import Handshake
from server.realtime.places import Places
from server.realtime.protocol import (
    JSON_BURST_BYTES,
    JSON_BYTES_PER_SECOND,
    MAX_JSON_FRAME_BYTES,
    CloseCode,
)
from server.realtime.ratelimit import TokenBucket
from server.realtime.session import Session
from server.security.headers import SECURITY_HEADERS
from server.security.identity import admitted

log = logging.getLogger(__name__)

FORMATS = {"": False, "binary": False, "json": True}

_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# The Sec-WebSocket-Version values a handshake may name (aiohttp's WebSocketResponse takes
# the same: 13 is RFC 6455, 7 and 8 its drafts with the same handshake).
_VERSIONS = frozenset({"13", "8", "7"})


def handshake_key(headers: CIMultiDictProxy[str]) -> str | None:
    """The client's ``Sec-WebSocket-Key`` when ``headers`` ask for a WebSocket upgrade this
    server answers (RFC 6455 4.2.1, the checks of aiohttp's WebSocketResponse), else None.
    Both ways in (aiohttp's handler below and ``server.realtime.upgrade``) ask this."""
    if headers.get(hdrs.UPGRADE, "").lower().strip() != "websocket":
        return None
    connection = headers.get(hdrs.CONNECTION, "")
    if not any(token.strip().lower() == "upgrade" for token in connection.split(",")):
        return None
    if headers.get(hdrs.SEC_WEBSOCKET_VERSION, "") not in _VERSIONS:
        return None
    key = headers.get(hdrs.SEC_WEBSOCKET_KEY)
    try:
        if not key or len(base64.b64decode(key)) != 16:
            return None
    except binascii.Error:
        return None
    return key


def accept_value(key: str) -> str:
    """RFC 6455 4.2.2: the server's answer to a key is SHA-1(key + this GUID), in base64."""
    return base64.b64encode(hashlib.sha1(key.encode() + _ACCEPT_GUID).digest()).decode()


async def websocket(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    fmt = request.query.get("format", "")
    if fmt not in FORMATS:
        raise web.HTTPBadRequest(text="format must be binary or json")
    if not hub.accepting:
        raise web.HTTPServiceUnavailable(text="the server is shutting down")
    key = handshake_key(request.headers)
    if key is None:
        raise web.HTTPBadRequest(text="a WebSocket upgrade (version 13) is expected here")
    place = Place(hub.joining)
    await place.take()
    started = False
    try:
        if not hub.accepting:  # shut down while it waited for its place
            raise web.HTTPServiceUnavailable(text="the server is shutting down")
        response = await _accept(request, key)
        admission = admitted(request)
        handshake = Handshake(request.app, request.remote or "", admission)
        conn = open_connection(hub, handshake, as_json=FORMATS[fmt])
        take_over(request, conn)
        start_serving(hub, conn, handshake, place)
        started = True
        return response
    finally:
        if not started:
            place.give_back()


def open_connection(hub: Hub, handshake: Handshake, *, as_json: bool) -> Connection:
    """The ``Connection`` for an upgraded socket (before the socket is given to it)."""
    config = hub.config
    return Connection(
        connection_id=secrets.token_hex(8),
        remote=handshake.remote,
        as_json=as_json,
        # The size limit is checked from each frame's header: nothing too big is read.
        max_size=min(config.max_message_bytes, MAX_JSON_FRAME_BYTES)
        if as_json
        else config.max_message_bytes,
        queue_limit=config.send_queue_limit,
        hello_timeout=config.hello_timeout_seconds,
        monitor=hub.monitor,
    )


def start_serving(
    hub: Hub,
    conn: Connection,
    handshake: Handshake,
    place: Place,
) -> None:
    """Serve an upgraded connection that holds ``place``; it gives the place back."""
    # A LAN connection let in on an invite's credential is counted against that person and
    # address (the owner's loopback connections carry none).
    capped: tuple[str, str] | None = None
    caps = handshake.app[CONNECTION_CAPS]
    if handshake.admission is not None:
        capped = (handshake.admission.principal.member.id, handshake.remote)
        refused = caps.admit(*capped)
        if refused:
            place.give_back()
            conn.abort(CloseCode.TOO_MANY_CONNECTIONS, refused)
            return
    _Served(hub, conn, handshake, place, capped).start()


async def _accept(request: web.Request, key: str) -> web.StreamResponse:
    """Write the 101 answer (RFC 6455 4.2.2) through aiohttp, like any response."""
    response = web.StreamResponse(
        status=101,
        headers={
            hdrs.UPGRADE: "websocket",
            hdrs.CONNECTION: "upgrade",
            hdrs.SEC_WEBSOCKET_ACCEPT: accept_value(key),
        },
    )
    response.force_close()
    await response.prepare(request)
    return response


# The 101 answer as ``_accept`` has aiohttp write it (its security headers included, which
# every response carries), less the Date and Server headers, which a 101 needs not.
_SWITCHING = b"".join(
    f"{name}: {value}\r\n".encode("latin-1")
    for name, value in (
        (hdrs.UPGRADE, "websocket"),
        (hdrs.CONNECTION, "upgrade"),
        *SECURITY_HEADERS.items(),
    )
)


def switching_protocols(key: str) -> bytes:
    """The whole 101 answer to a handshake with ``key``, for the socket as it is."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        + _SWITCHING
        + b"Sec-WebSocket-Accept: "
        + accept_value(key).encode()
        + b"\r\n\r\n"
    )


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


class Place:
    """One of the hub's places for joining connections, given back once (see MAX_JOINING)."""

    __slots__ = ("_held", "_places")

    def __init__(self, places: Places, *, held: bool = False) -> None:
        self._places = places
        self._held = held

    async def take(self) -> None:
        await self._places.take()
        self._held = True

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._places.give_back()


class _Served:
    """What one connection's messages go to, and what its end releases."""

    __slots__ = ("capped", "caps", "hub", "json_budget", "place", "session")

    def __init__(
        self,
        hub: Hub,
        conn: Connection,
        handshake: Handshake,
        place: Place,
        capped: tuple[str, str] | None,
    ) -> None:
        self.hub = hub
        self.caps = handshake.app[CONNECTION_CAPS]
        self.place: Place | None = place
        # Counted against this person and address until the connection ends.
        self.capped = capped
        self.session = Session(hub, conn, handshake)
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
