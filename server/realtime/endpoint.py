"""GET /ws: upgrade, read frames, hand each envelope to the session, clean up at the end."""

from __future__ import annotations

import asyncio
import logging
import secrets

from aiohttp import WSMsgType, web

from server.monitoring.logs import bind_connection
from server.monitoring.recording import IN
from server.realtime.caps import CONNECTION_CAPS
from server.realtime.codec import BadFrame, decode
from server.realtime.connection import Connection
from server.realtime.hub import HUB
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


async def websocket(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    fmt = request.query.get("format", "")
    if fmt not in FORMATS:
        raise web.HTTPBadRequest(text="format must be binary or json")
    if not hub.accepting:
        raise web.HTTPServiceUnavailable(text="the server is shutting down")
    as_json = FORMATS[fmt]
    config = hub.config
    # The size limit is aiohttp's, checked as the frame arrives: nothing too big is parsed.
    max_size = config.max_message_bytes
    ws = web.WebSocketResponse(
        # The hub's one heartbeat pings every socket (server.realtime.heartbeat): aiohttp
        # keeps no timers for this one, and pings and pongs come to the loop below.
        heartbeat=None,
        autoping=False,
        max_msg_size=min(max_size, MAX_JSON_FRAME_BYTES) if as_json else max_size,
        compress=False,
    )
    place = _Place(hub.joining)
    await place.take()
    capped: tuple[str, str] | None = None
    try:
        if not hub.accepting:  # shut down while it waited for its place
            raise web.HTTPServiceUnavailable(text="the server is shutting down")
        await ws.prepare(request)
        # The response's headers are on the wire: an open socket need not keep them.
        ws.headers.clear()
        # The request guard let a LAN connection in on an invite's credential: count it
        # against that person and address (the owner's loopback connections carry none).
        principal = request.get(PRINCIPAL)
        capped = (principal.member.id, request.remote or "") if principal is not None else None
        if capped is not None:
            refused = request.app[CONNECTION_CAPS].admit(*capped)
            if refused:
                capped = None
                await ws.close(code=CloseCode.TOO_MANY_CONNECTIONS, message=refused.encode())
                return ws
        return await _serve(request, ws, as_json, place)
    finally:
        place.give_back()
        if capped is not None:
            request.app[CONNECTION_CAPS].release(*capped)


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


async def _serve(
    request: web.Request, ws: web.WebSocketResponse, as_json: bool, place: _Place
) -> web.WebSocketResponse:
    hub = request.app[HUB]
    config = hub.config
    conn = Connection(
        ws,
        request,
        connection_id=secrets.token_hex(8),
        as_json=as_json,
        queue_limit=config.send_queue_limit,
        hello_timeout=config.hello_timeout_seconds,
        monitor=hub.monitor,
    )
    bind_connection(conn.id)  # every log line of this connection's task names it
    log.debug("connected from %s", conn.remote)
    metrics = hub.metrics
    tap = hub.monitor.recording
    hub.attach(conn)
    session = Session(hub, conn, request)
    json_budget = TokenBucket(JSON_BYTES_PER_SECOND, JSON_BURST_BYTES) if as_json else None
    loop = asyncio.get_running_loop()
    try:
        while conn.open:
            # Until a successful hello the connection lives on a deadline, kept by the
            # hub's heartbeat (Connection.hello_by), which closes it with HELLO_TIMEOUT.
            msg = await ws.receive()
            if msg.type is WSMsgType.PONG or msg.type is WSMsgType.PING:
                conn.heard = loop.time()
                if msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                continue
            if msg.type is WSMsgType.BINARY or msg.type is WSMsgType.TEXT:
                conn.heard = loop.time()
                if (msg.type is WSMsgType.TEXT) != as_json:
                    want = "text (JSON) frames" if as_json else "binary protobuf frames"
                    await conn.close_now(CloseCode.UNSUPPORTED_DATA, f"send {want}")
                    break
                if json_budget is not None:
                    # Before parsing: a connection sending JSON faster than the budget waits.
                    wait = json_budget.debit(len(msg.data))
                    if wait:
                        await asyncio.sleep(wait)
                try:
                    envelope = decode(msg.data)
                except BadFrame as exc:
                    if metrics is not None:
                        metrics.frames_in["invalid"] += 1
                        metrics.bytes_in["invalid"] += len(msg.data)
                    await conn.close_now(CloseCode.INVALID_PAYLOAD, f"not a message: {exc}")
                    break
                if metrics is not None:
                    kind = envelope.WhichOneof("payload") or "none"
                    metrics.frames_in[kind] += 1
                    metrics.bytes_in[kind] += (
                        len(msg.data) if isinstance(msg.data, bytes) else len(msg.data.encode())
                    )
                if tap.active is not None:
                    raw = msg.data if isinstance(msg.data, bytes) else envelope.SerializeToString()
                    tap.frame(conn.id, IN, raw)
                del msg
                try:
                    await session.handle(envelope)
                except Exception:
                    # A bug outside any one command (they answer INTERNAL themselves): the
                    # connection's state is unknown, so end it with a code that says so.
                    log.exception("connection %s failed", conn.id)
                    await conn.close_now(CloseCode.INTERNAL_ERROR, "internal error")
                    break
                del envelope  # an idle connection keeps no message alive
                if conn.identity is not None:
                    place.give_back()  # joined: the next one may
            else:
                # CLOSE, CLOSING, CLOSED or ERROR (too big, reset, cut by the heartbeat).
                if conn.close_code is None and ws.close_code is not None:
                    conn.close_code = ws.close_code
                break
    finally:
        hub.detach(conn)
        await conn.finish()
        code = conn.close_code or ws.close_code or CloseCode.ABNORMAL
        reason = close_reason(code, conn.missed_heartbeat)
        log.debug("disconnected: %d %s", code, reason)
        if metrics is not None:
            metrics.disconnects[(str(int(code)), reason)] += 1
    return ws


def close_reason(code: int, heartbeat_missed: bool = False) -> str:
    """A close code's name for the metrics ("too_slow", "heartbeat_timeout", ...)."""
    if heartbeat_missed:
        return "heartbeat_timeout"
    try:
        return CloseCode(code).name.lower()
    except ValueError:
        return "other"
