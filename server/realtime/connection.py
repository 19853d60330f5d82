"""One WebSocket connection's outgoing side: a bounded queue and a writer that exists only
while there is something to send.

The broadcast path only ever hands a frame over (``offer``); it never awaits a client.
When nothing is queued and the socket's buffer has room, the frame, already framed for the
wire once for every receiver (``Outgoing.wire``), goes straight to the transport in the
broadcaster's own pass; only a connection whose socket cannot take more right now gets a
queue and a writer task, which end again when the queue is drained. So an idle connection
holds no task, queue or event, and one event reaches a thousand idle subscribers without a
thousand task switches or a thousand WebSocket frames built.

A client whose queue reaches its limit is closed with ``TOO_SLOW`` and can resume from its
last seq. The connection's own replies (``send``) wait for room instead, which slows only
that client's reader.

Closing never cuts a frame short: a frame handed to the socket is always whole in its
buffer, so the writer is never cancelled; the close frame goes in behind it, and the socket
is cut only once the client has stopped reading for ``CLOSE_TIMEOUT_SECONDS``. A client that
reads again in time sees whole frames and then the close code, not a broken stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from server.monitoring import Monitor
from server.monitoring.recording import OUT
from server.realtime.codec import OPCODE_PING, Outgoing, WebSocketMessage, ws_frame
from server.realtime.protocol import (
    CLOSE_TIMEOUT_SECONDS,
    COMMAND_BURST,
    COMMAND_RATE_PER_SECOND,
    SHUTDOWN_FLUSH_SECONDS,
    CloseCode,
)
from server.realtime.ratelimit import TokenBucket

if TYPE_CHECKING:
    from server.realtime.identity import Identity
    from server.realtime.subscription import Subscription

log = logging.getLogger(__name__)

# Bytes a socket's buffer may hold before frames go through aiohttp's drain instead of
# straight to the transport: asyncio's own high-water mark for a transport.
DIRECT_WRITE_LIMIT = 64 * 1024

SendCoroutine = Coroutine[Any, Any, None]

PING_FRAME = ws_frame(OPCODE_PING, b"")
# For a connection made outside a server (tests of this module): nothing counted.
_UNWATCHED = Monitor(counting=False)


class _Rest:
    """Awaiting this finishes a coroutine whose first step already ran and yielded ``pending``.

    That first step runs inside the broadcaster's loop (what Python 3.12 calls an eager
    task start); only when the socket must drain does the rest move into a task.
    """

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: SendCoroutine, pending: object) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, None]:
        coro, out = self._coro, self._pending
        while True:
            try:
                value = yield out
            except BaseException as exc:  # cancellation and the like reach the coroutine
                try:
                    out = coro.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                out = coro.send(value)
            except StopIteration:
                return


class Connection:
    """A connected client: its socket, who it acts as, what it subscribed to."""

    __slots__ = (
        "_bucket",
        "_closer",
        "_closing",
        "_flush_then_close",
        "_metrics",
        "_queue",
        "_room",
        "_tap",
        "_transport",
        "_writer",
        "as_json",
        "close_code",
        "connected_at",
        "heard",
        "hello_by",
        "id",
        "identity",
        "on_abort",
        "pinged",
        "queue_limit",
        "remote",
        "request",
        "subscriptions",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        connection_id: str,
        as_json: bool,
        queue_limit: int,
        hello_timeout: float = 0.0,
        monitor: Monitor | None = None,
    ) -> None:
        self.id = connection_id
        self.ws = ws
        self.request = request
        self.as_json = as_json
        self.queue_limit = max(1, queue_limit)
        self.remote = request.remote or ""
        self.connected_at = time.time()
        # When the client was last heard from, and when a ping still unanswered was sent
        # (0: none): all the heartbeat keeps per connection (see server.realtime.heartbeat).
        self.heard = asyncio.get_running_loop().time()
        self.pinged = 0.0
        # Closed by the heartbeat's sweep if it has not said hello by then (0: no limit).
        self.hello_by = self.heard + hello_timeout if hello_timeout > 0 else float("inf")
        self.identity: Identity | None = None
        # Keyed by the message_id of the Subscribe that made each one.
        self.subscriptions: dict[str, Subscription] = {}
        self.close_code: int | None = None
        # Made on first use: an idle connection needs none of these.
        self._bucket: TokenBucket | None = None
        self._queue: deque[Outgoing] | None = None
        self._room: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._closing = False
        self._flush_then_close: tuple[int, str] | None = None
        # Written to directly while it has room (see _push); None once gone.
        self._transport = request.transport
        # Set by the hub: ends the subscriptions (and so the presence) of a connection the
        # server drops, at once rather than when its close handshake is over.
        self.on_abort: Callable[[Connection], None] | None = None
        monitor = monitor if monitor is not None else _UNWATCHED
        self._metrics = monitor.metrics
        self._tap = monitor.recording

    # Limits ----------------------------------------------------------------------

    def take_token(self) -> int:
        """Spend one command token: 0 when allowed, else milliseconds until one is free."""
        bucket = self._bucket
        if bucket is None:
            bucket = self._bucket = TokenBucket(COMMAND_RATE_PER_SECOND, COMMAND_BURST)
        return bucket.take()

    # Sending ---------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return not self._closing

    @property
    def queued(self) -> int:
        queue = self._queue
        return len(queue) if queue is not None else 0

    def offer(self, out: Outgoing) -> None:
        """Hand over a broadcast message without waiting; over the limit, drop the client."""
        if self._closing:
            return
        queue = self._queue
        if queue is not None and len(queue) >= self.queue_limit:
            self.abort(CloseCode.TOO_SLOW, "too slow: resume from your last seq")
            return
        self._push(out)

    async def send(self, msg: WebSocketMessage) -> None:
        """Queue one of this connection's own replies, waiting while its queue is full."""
        await self.send_out(Outgoing.of(msg))

    async def send_out(self, out: Outgoing) -> None:
        # Counted here, this connection's own; broadcasts are counted once for all their
        # receivers by the hub (``offer`` is the fan-out's inner loop).
        metrics = self._metrics
        if metrics is not None:
            kind = out.kind
            metrics.frames_out[kind] += 1
            metrics.bytes_out[kind] += len(out.frame)
        while not self._closing:
            queue = self._queue
            if queue is None or len(queue) < self.queue_limit:
                self._push(out)
                return
            room = self._room
            if room is None:
                room = self._room = asyncio.get_running_loop().create_future()
            await room

    def _push(self, out: Outgoing) -> None:
        if self._tap.active is not None:
            self._tap.frame(self.id, OUT, out.frame)
        if self._writer is not None:
            queue = self._queue
            if queue is None:
                queue = self._queue = deque()
            queue.append(out)
            return
        # Nothing is queued and no writer runs: write now, in the caller's pass. While the
        # socket's buffer is under its limit, the ready frame goes to the transport as is
        # (every earlier frame is whole in the buffer already, so the order holds).
        transport = self._transport
        if (
            transport is not None
            and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT
            and not transport.is_closing()
            and not self.ws.closed
        ):
            transport.write(out.wire_text if self.as_json else out.wire)
            return
        # Past the limit: through aiohttp, which waits for the socket to drain.
        coro: SendCoroutine = (
            self.ws.send_str(out.text) if self.as_json else self.ws.send_bytes(out.frame)
        )
        try:
            pending = coro.send(None)
        except StopIteration:
            return  # written (the usual case)
        except ConnectionError:
            self._peer_gone()
            return
        # The socket must drain first: finish that send, and whatever follows, in a task.
        self._writer = asyncio.create_task(self._write_loop(_Rest(coro, pending)))

    def _wake_room(self) -> None:
        room = self._room
        if room is not None:
            self._room = None
            if not room.done():
                room.set_result(None)

    async def _write_loop(self, first: _Rest) -> None:
        ws = self.ws
        try:
            await first
            # Re-read each time: abort() drops the queue, and then the frame just finished
            # was the last one.
            while queue := self._queue:
                item = queue.popleft()
                if len(queue) < self.queue_limit:
                    self._wake_room()
                if self.as_json:
                    await ws.send_str(item.text)
                else:
                    await ws.send_bytes(item.frame)
        except ConnectionError:
            self._writer = None
            self._peer_gone()
            return
        self._queue = None
        self._wake_room()
        # Drained: no task and no queue until the socket next falls behind.
        self._writer = None
        if self._flush_then_close is not None and self._closer is None:
            self._start_closer(*self._flush_then_close)

    def _peer_gone(self) -> None:
        # The peer is gone; the reader sees it too and cleans up.
        self._closing = True
        self._queue = None
        self._wake_room()

    # Heartbeat -------------------------------------------------------------------

    def ping(self, now: float) -> None:
        """Send a ping (a whole frame, so it may go in between any two others)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self.pinged = now
        transport.write(PING_FRAME)

    @property
    def missed_heartbeat(self) -> bool:
        """Whether the heartbeat cut this connection (its last ping is unanswered)."""
        return self.close_code == CloseCode.ABNORMAL and self.pinged > self.heard

    def lost(self, reason: str) -> None:
        """The client stopped answering: it cannot take a close frame, so cut the socket
        (1006, as aiohttp's own heartbeat does) and end its subscriptions now."""
        if self.close_code is None:
            self.close_code = CloseCode.ABNORMAL
        log.info("connection %s lost: %s", self.id, reason)
        self._peer_gone()
        if self.on_abort is not None:
            self.on_abort(self)
        self._cut()

    # Closing ---------------------------------------------------------------------

    def close_after_flush(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code`` (server shutdown)."""
        if self._closing:
            return
        self._closing = True
        self._wake_room()
        self._flush_then_close = (code, reason)
        if self._writer is None and self._closer is None:
            # Nothing left to send: close now. Otherwise the writer closes once drained.
            self._start_closer(code, reason)

    def abort(self, code: int, reason: str) -> None:
        """Drop what is queued and close with ``code`` (too slow, revoked, bad input).

        The frame being written, if any, is finished rather than cancelled: it is already
        whole in the socket's buffer, and the close frame follows it.
        """
        if self._closing and self._flush_then_close is None:
            return
        self._closing = True
        self._flush_then_close = None
        queue = self._queue
        if queue is not None:
            queue.clear()
        self._queue = None
        self._wake_room()
        if self._closer is None:
            self._start_closer(code, reason)
        if self.on_abort is not None:
            self.on_abort(self)

    async def close_now(self, code: int, reason: str) -> None:
        self.abort(code, reason)
        if self._closer is not None:
            await asyncio.shield(self._closer)

    def _start_closer(self, code: int, reason: str) -> None:
        self._closer = asyncio.create_task(
            self._close_socket(code, reason), name=f"ws-close-{self.id}"
        )

    async def _close_socket(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
        # Never cancelled by us: aiohttp's writers share one drain waiter, and cancelling
        # one waiting send cancels it for every other (the close frame included).
        closing = asyncio.ensure_future(self.ws.close(code=code, message=reason.encode()[:120]))
        closing.add_done_callback(_consume)
        try:
            if await self._wait_while_read(closing):
                return
        except asyncio.CancelledError:
            self._cut()
            raise
        # The client stopped reading (or never answers the close): drop the socket.
        self._cut()
        await asyncio.wait((closing,), timeout=CLOSE_TIMEOUT_SECONDS)

    async def _wait_while_read(self, closing: asyncio.Future[bool]) -> bool:
        """Wait for the close handshake while the client keeps taking bytes from the socket.

        True when the close finished; False once a whole ``CLOSE_TIMEOUT_SECONDS`` passed
        in which nothing left the socket's buffer.
        """
        transport = self.request.transport
        left = transport.get_write_buffer_size() if transport is not None else 0
        while True:
            done, _ = await asyncio.wait((closing,), timeout=CLOSE_TIMEOUT_SECONDS)
            if done:
                return True
            now = transport.get_write_buffer_size() if transport is not None else 0
            if now == 0 or now >= left:
                # Nothing moved (or all is with the kernel, which still delivers it after
                # the socket is closed, and only the client's close answer is missing).
                return False
            left = now

    def _cut(self) -> None:
        # A client that stopped reading never acknowledges a close: drop the socket and
        # whatever the kernel still holds for it.
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def finish(self) -> None:
        """Called once the reader has stopped: let the writer end, then release the socket."""
        if not self._closing:
            # The client closed or vanished: nothing more can be delivered.
            self._closing = True
            self._queue = None
            self._wake_room()
            if self._writer is not None:
                self._writer.cancel()
        tasks = [t for t in (self._writer, self._closer) if t is not None and not t.done()]
        if tasks:
            _, pending = await asyncio.wait(
                tasks, timeout=SHUTDOWN_FLUSH_SECONDS + CLOSE_TIMEOUT_SECONDS
            )
            for task in pending:
                task.cancel()
            if pending:
                self._cut()
        for done in (self._writer, self._closer):
            if done is None or not done.done() or done.cancelled():
                continue
            exc = done.exception()
            if exc is not None:
                log.error("connection %s: writer failed", self.id, exc_info=exc)
        if not self.ws.closed:
            await self._close_socket(CloseCode.NORMAL, "")


def _consume(fut: asyncio.Future[bool]) -> None:
    # A peer that vanished or never answered is expected (close_code already says how the
    # connection ended); anything else is a bug worth a log line.
    if fut.cancelled():
        return
    exc = fut.exception()
    if exc is not None and not isinstance(exc, (ConnectionError, TimeoutError)):
        log.error("closing a WebSocket failed", exc_info=exc)
