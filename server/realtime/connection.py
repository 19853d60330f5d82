"""One WebSocket connection's outgoing side: a bounded queue drained by one writer task.

The broadcast path only ever appends to the queue (``offer``); it never awaits a
client. A client whose queue reaches its limit is closed with ``TOO_SLOW`` and can
resume from its last seq. The connection's own replies (``send``) wait for room
instead, which slows only that client's reader.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web

from server.realtime.codec import Outgoing, WebSocketMessage
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


class Connection:
    """A connected client: its socket, who it acts as, what it subscribed to."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        connection_id: str,
        as_json: bool,
        queue_limit: int,
    ) -> None:
        self.id = connection_id
        self.ws = ws
        self.request = request
        self.as_json = as_json
        self.queue_limit = max(1, queue_limit)
        self.remote = request.remote or ""
        self.connected_at = time.time()
        self.identity: Identity | None = None
        # Keyed by the message_id of the Subscribe that made each one.
        self.subscriptions: dict[str, Subscription] = {}
        self.bucket = TokenBucket(COMMAND_RATE_PER_SECOND, COMMAND_BURST)
        self.close_code: int | None = None
        self._queue: deque[bytes | str] = deque()
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._closing = False
        self._flush_then_close: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    # Sending ---------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return not self._closing

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{self.id}")

    def offer(self, out: Outgoing) -> None:
        """Queue a broadcast message without waiting; over the limit, drop the client."""
        if self._closing:
            return
        if len(self._queue) >= self.queue_limit:
            self.abort(CloseCode.TOO_SLOW, "too slow: resume from your last seq")
            return
        self._queue.append(out.payload(self.as_json))
        self._wakeup.set()

    async def send(self, msg: WebSocketMessage) -> None:
        """Queue one of this connection's own replies, waiting while its queue is full."""
        await self.send_out(Outgoing.of(msg))

    async def send_out(self, out: Outgoing) -> None:
        while not self._closing and len(self._queue) >= self.queue_limit:
            self._room.clear()
            await self._room.wait()
        if self._closing:
            return
        self._queue.append(out.payload(self.as_json))
        self._wakeup.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _write_loop(self) -> None:
        ws, queue, limit = self.ws, self._queue, self.queue_limit
        try:
            while True:
                if not queue:
                    if self._flush_then_close is not None:
                        break
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                item = queue.popleft()
                if len(queue) < limit:
                    self._room.set()
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_str(item)
        except ConnectionError:
            # The peer is gone; the reader sees it too and cleans up.
            self._closing = True
            self._queue.clear()
            self._room.set()
            return
        code, reason = self._flush_then_close
        await self._close_socket(code, reason)

    # Closing ---------------------------------------------------------------------

    def close_after_flush(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code`` (server shutdown)."""
        if self._closing:
            return
        self._closing = True
        self._room.set()
        self._flush_then_close = (code, reason)
        self._wakeup.set()

    def abort(self, code: int, reason: str) -> None:
        """Drop what is queued and close with ``code`` now (too slow, revoked, bad input)."""
        if self._closing and self._flush_then_close is None:
            return
        self._closing = True
        self._flush_then_close = None
        self._queue.clear()
        self._room.set()
        if self._writer is not None:
            self._writer.cancel()
        if self._closer is None:
            self._closer = asyncio.create_task(
                self._close_socket(code, reason), name=f"ws-close-{self.id}"
            )

    async def close_now(self, code: int, reason: str) -> None:
        self.abort(code, reason)
        if self._closer is not None:
            await asyncio.shield(self._closer)

    async def _close_socket(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self.ws.close(code=code, message=reason.encode()[:120])
        except (TimeoutError, ConnectionError):
            self._cut()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                self._cut()
                raise
            # Cancelling a writer that waited for the socket to drain leaves aiohttp's
            # shared drain waiter cancelled, so the close frame cannot be sent either.
            self._cut()
        except Exception:
            log.exception("closing connection %s failed", self.id)
            self._cut()

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
            self._queue.clear()
            self._room.set()
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
