"""One WebSocket connection once its handshake is done: the socket's own asyncio protocol.

After the upgrade (``server.realtime.endpoint``) the socket leaves aiohttp and is served
by a ``Connection``: bytes arrive in ``data_received``, are parsed there into messages
(``server.realtime.framing``) and ready frames go straight to the transport. An idle
connection is this object, its frame reader and its transport: no task, no request, no
reader queue, no buffer (aiohttp would keep all of these for the socket's whole life).

Incoming messages are handled in order, one at a time: each is handed to ``Served.receive``
as it comes, in the same pass as its bytes; a command the domain answers needs no task (its
answer is written when its group commit settles it, and then the next message is handled:
``answered``), the others run as a task of their own while the later ones wait in the
inbox. Past ``INBOX_LIMIT`` bytes waiting, the socket stops being read, which slows only
that client. Outgoing, the broadcast path only ever hands a frame over (``offer``),
already framed for the wire once for every receiver (``Outgoing.wire``); it goes to the
transport at once unless the transport has asked to pause (its buffer is over asyncio's
high-water mark), and then waits in a queue that ``resume_writing`` empties. So one event
reaches a thousand idle subscribers without a task switch or a frame built per socket.

A client whose queue reaches its limit is closed with ``TOO_SLOW`` and can resume from its
last seq. The connection's own replies (``send``) wait for room instead, which slows only
that client's reader.

Closing never cuts a frame short: only whole frames are written, so the close frame
always follows whole frames; the socket is cut only once the client has stopped reading
for ``CLOSE_TIMEOUT_SECONDS`` (or never answers the close). A client that reads again in
time sees whole frames and then the close code, not a broken stream.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

from server.monitoring import Monitor
from server.monitoring.recording import OUT
from server.realtime.codec import Joined, Outgoing, WebSocketMessage, ws_frame
from server.realtime.framing import (
    NO_STATUS,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameReader,
    close_payload,
)
from server.realtime.protocol import (
    CLOSE_TIMEOUT_SECONDS,
    COMMAND_BURST,
    COMMAND_RATE_PER_SECOND,
    SHUTDOWN_FLUSH_SECONDS,
    CloseCode,
)
from server.realtime.ratelimit import TokenBucket

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from server.realtime.identity import Identity
    from server.realtime.subscription import Subscription

log = logging.getLogger(__name__)

#: Bytes of received messages that may wait to be handled before the socket is no longer
#: read (as aiohttp's reader queue did): a client sending faster than it is answered
#: waits in its own socket, not in the server's memory.
INBOX_LIMIT = 128 * 1024

PING_FRAME = ws_frame(OP_PING, b"")

#: Bytes one read may take from a socket (what asyncio reads at most for a plain protocol).
READ_BUFFER_BYTES = 256 * 1024


class _ReadBuffer(threading.local):
    """The buffer every connection of a thread's event loop reads its socket into.

    A plain ``asyncio.Protocol`` gets a new bytes object from each read, allocated at the
    read's full 256 KiB and then shrunk; depending on the allocator's state that costs more
    than the ``recv`` itself (a bare asyncio echo server: 31 us of CPU per small message,
    13 us reading into a buffer). As a ``BufferedProtocol`` the connection reads into this
    buffer instead and copies out only the bytes that came (``buffer_updated``), before the
    next read of any socket of the loop can reuse it.
    """

    def __init__(self) -> None:
        self.view = memoryview(bytearray(READ_BUFFER_BYTES))


_READ_BUFFER = _ReadBuffer()
# For a connection made outside a server (tests of this module): nothing counted.
_UNWATCHED = Monitor(counting=False)


class Answering:
    """What ``Served.receive`` returns for a message whose answer is under way without a
    task: it calls ``Connection.answered`` once the answer is out."""

    __slots__ = ()


#: The one ``Answering``.
ANSWERING = Answering()


class Served(Protocol):
    """What the endpoint does with a connection: its messages, and its end."""

    def receive(
        self, conn: Connection, data: bytes | str
    ) -> Coroutine[object, object, None] | Answering | None:
        """Handle one message: at once (None), later without a task (``ANSWERING``), or
        as the returned coroutine, which the connection runs as a task."""
        ...

    def ended(self, conn: Connection) -> None: ...


class Connection(asyncio.BufferedProtocol):
    """A connected client: its socket, who it acts as, what it subscribed to."""

    __slots__ = (
        "_bucket",
        "_close_left",
        "_close_timer",
        "_closing",
        "_flush_then_close",
        "_gone",
        "_inbox",
        "_inbox_bytes",
        "_metrics",
        "_paused",
        "_queue",
        "_reader",
        "_reading_paused",
        "_room",
        "_sent_close",
        "_served",
        "_serving",
        "_tap",
        "_transport",
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
        "subscriptions",
    )

    def __init__(
        self,
        *,
        connection_id: str,
        remote: str,
        as_json: bool,
        queue_limit: int,
        max_size: int,
        hello_timeout: float = 0.0,
        monitor: Monitor | None = None,
    ) -> None:
        self.id = connection_id
        self.as_json = as_json
        self.queue_limit = max(1, queue_limit)
        self.remote = remote
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
        self._reader: FrameReader | None = FrameReader(max_size)
        self._transport: asyncio.Transport | None = None
        self._served: Served | None = None
        # Made on first use: an idle connection needs none of these.
        self._bucket: TokenBucket | None = None
        self._queue: deque[bytes] | None = None
        self._room: asyncio.Future[None] | None = None
        self._inbox: deque[bytes | str] | None = None
        self._inbox_bytes = 0
        # The message being handled: its task, ANSWERING, or None while none is.
        self._serving: asyncio.Task[None] | Answering | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._close_left = 0
        self._gone: asyncio.Future[None] | None = None
        self._paused = False
        self._reading_paused = False
        self._closing = False
        self._sent_close = False
        self._flush_then_close: tuple[int, str] | None = None
        # Set by the hub: ends the subscriptions (and so the presence) of a connection the
        # server drops, at once rather than when its close handshake is over.
        self.on_abort: Callable[[Connection], None] | None = None
        monitor = monitor if monitor is not None else _UNWATCHED
        self._metrics = monitor.metrics
        self._tap = monitor.recording

    def serve(self, served: Served) -> None:
        """Hand this connection's messages (and its end) to ``served`` from now on."""
        self._served = served
        if self._inbox and self._serving is None:
            self._serve()

    # Limits ----------------------------------------------------------------------

    def take_token(self) -> int:
        """Spend one command token: 0 when allowed, else milliseconds until one is free."""
        bucket = self._bucket
        if bucket is None:
            bucket = self._bucket = TokenBucket(COMMAND_RATE_PER_SECOND, COMMAND_BURST)
        return bucket.take()

    # The socket (asyncio.Protocol) -----------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return _READ_BUFFER.view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(_READ_BUFFER.view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is None:
            return  # past a protocol error or a close: nothing more is read
        try:
            frames = reader.feed(data)
        except FrameError as exc:
            self._reader = None
            self.abort(exc.code, exc.reason)
            return
        if not frames:
            return
        self.heard = asyncio.get_running_loop().time()
        for opcode, payload in frames:
            if opcode in (OP_BINARY, OP_TEXT):
                if self._closing:
                    continue  # closing: what the client still sends is not handled
                if (opcode == OP_TEXT) != self.as_json:
                    want = "text (JSON) frames" if self.as_json else "binary protobuf frames"
                    self._reader = None
                    self.abort(CloseCode.UNSUPPORTED_DATA, f"send {want}")
                    return
                assert isinstance(payload, (bytes, str))
                self._receive(payload)
            elif opcode == OP_PING:
                transport = self._transport
                if transport is not None and not self._sent_close:
                    assert isinstance(payload, bytes)
                    transport.write(ws_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                assert isinstance(payload, int)
                self._peer_closed(payload)
                return
            # A pong needs nothing more: being heard from is what the heartbeat wants.

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._reader = None
        timer = self._close_timer
        if timer is not None:
            self._close_timer = None
            timer.cancel()
        # The client closed or vanished: nothing more can be delivered.
        self._closing = True
        self._queue = None
        self._wake_room()
        served, self._served = self._served, None
        if served is not None:
            served.ended(self)
        gone = self._gone
        if gone is not None and not gone.done():
            gone.set_result(None)

    # Receiving -------------------------------------------------------------------

    def _receive(self, payload: bytes | str) -> None:
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(payload)
        self._inbox_bytes += len(payload)
        if self._inbox_bytes > INBOX_LIMIT and not self._reading_paused:
            transport = self._transport
            if transport is not None:
                self._reading_paused = True
                transport.pause_reading()
        if self._serving is None:
            self._serve()

    def _serve(self) -> None:
        """Handle the waiting messages in order, until one has to wait for its answer."""
        while not self._closing and (inbox := self._inbox):
            served = self._served
            if served is None:
                return  # bytes read with the handshake: ``serve`` handles them
            data = inbox.popleft()
            self._inbox_bytes -= len(data)
            if self._reading_paused and self._inbox_bytes <= INBOX_LIMIT // 2:
                self._resume_reading()
            try:
                later = served.receive(self, data)
            except Exception:
                log.exception("connection %s failed", self.id)
                self.abort(CloseCode.INTERNAL_ERROR, "internal error")
                break
            del data  # an idle connection keeps no message alive
            if later is None:
                continue
            if isinstance(later, Answering):
                self._serving = later
            else:
                task = self._serving = asyncio.create_task(later)
                task.add_done_callback(self._task_done)
            return
        self._inbox = None
        self._inbox_bytes = 0
        if self._reading_paused:
            self._resume_reading()

    def answered(self) -> None:
        """The message being handled has its answer: handle the next ones."""
        self._serving = None
        self._serve()

    def answer_later(self, answering: Coroutine[object, object, None]) -> None:
        """The message being handled (``ANSWERING``) is answered by ``answering``, as a
        task: the next message waits for it."""
        task = self._serving = asyncio.create_task(answering)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("connection %s failed", self.id, exc_info=task.exception())
            self.abort(CloseCode.INTERNAL_ERROR, "internal error")
        self.answered()

    def _resume_reading(self) -> None:
        self._reading_paused = False
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

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
        if queue is None:
            transport = self._transport
            if not self._paused and transport is not None and self._tap.active is None:
                # The usual case of ``_push``, inlined: this is the fan-out's inner loop.
                transport.write(out.wire_text if self.as_json else out.wire)
                return
        elif len(queue) >= self.queue_limit:
            self.abort(CloseCode.TOO_SLOW, "too slow: resume from your last seq")
            return
        self._push(out)

    def offer_all(self, joined: Joined) -> None:
        """``offer`` each of ``joined``'s messages, in one write when nothing waits before
        them (a commit's many events: one system call for all, not one each)."""
        if self._closing:
            return
        transport = self._transport
        if (
            self._queue is None
            and not self._paused
            and transport is not None
            and self._tap.active is None
        ):
            transport.write(joined.wire_text if self.as_json else joined.wire)
            return
        for out in joined.parts:
            self.offer(out)

    async def send(self, msg: WebSocketMessage) -> None:
        """Queue one of this connection's own replies, waiting while its queue is full."""
        await self.send_out(Outgoing.of(msg))

    def reply_now(self, frame: bytes, kind: str) -> bool:
        """One of this connection's own replies (an encoded ``WebSocketMessage`` whose
        payload is ``kind``), queued at once if its queue has room; False when it has none
        (then ``send_out`` waits for room)."""
        queue = self._queue
        if queue is not None and len(queue) >= self.queue_limit and not self._closing:
            return False
        metrics = self._metrics
        if metrics is not None:
            metrics.frames_out[kind] += 1
            metrics.bytes_out[kind] += len(frame)
        if self._closing:
            return True  # as send_out: a closing connection is sent nothing more
        transport = self._transport
        if (
            queue is None
            and not self._paused
            and transport is not None
            and not self.as_json
            and self._tap.active is None
        ):
            transport.write(ws_frame(OP_BINARY, frame))
        else:
            self._push(Outgoing(frame))
        return True

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

    async def send_together(self, first: Outgoing, second: Outgoing) -> None:
        """``send_out`` of two replies in one write (a subscribe's ack and its snapshot):
        one system call, and one packet to wake the client, instead of two."""
        metrics = self._metrics
        if metrics is not None:
            for out in (first, second):
                metrics.frames_out[out.kind] += 1
                metrics.bytes_out[out.kind] += len(out.frame)
        while not self._closing:
            queue = self._queue
            if queue is None or len(queue) < self.queue_limit:
                if self._tap.active is not None:
                    self._tap.frame(self.id, OUT, first.frame)
                    self._tap.frame(self.id, OUT, second.frame)
                if self.as_json:
                    self._put(first.wire_text + second.wire_text)
                else:
                    self._put(first.wire + second.wire)
                return
            room = self._room
            if room is None:
                room = self._room = asyncio.get_running_loop().create_future()
            await room

    def _push(self, out: Outgoing) -> None:
        if self._tap.active is not None:
            self._tap.frame(self.id, OUT, out.frame)
        self._put(out.wire_text if self.as_json else out.wire)

    def _put(self, wire: bytes) -> None:
        queue = self._queue
        if queue is None:
            transport = self._transport
            if not self._paused and transport is not None:
                # Nothing waits before it: straight to the socket, in the caller's pass.
                transport.write(wire)
                return
            queue = self._queue = deque()
        queue.append(wire)

    def _drain(self) -> None:
        """The socket has room again: write what waits, until it is full again."""
        queue = self._queue
        transport = self._transport
        if queue is None or transport is None or self._sent_close:
            return
        while queue and not self._paused:
            transport.write(queue.popleft())
            if len(queue) < self.queue_limit:
                self._wake_room()
        if queue:
            return
        # Drained: no queue until the socket next falls behind.
        self._queue = None
        self._wake_room()
        if self._flush_then_close is not None:
            self._send_close(*self._flush_then_close)

    def _wake_room(self) -> None:
        room = self._room
        if room is not None:
            self._room = None
            if not room.done():
                room.set_result(None)

    # Heartbeat -------------------------------------------------------------------

    def ping(self, now: float) -> None:
        """Send a ping (a whole frame, so it may go in between any two others)."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._sent_close:
            return
        self.pinged = now
        transport.write(PING_FRAME)

    @property
    def missed_heartbeat(self) -> bool:
        """Whether the heartbeat cut this connection (its last ping is unanswered)."""
        return self.close_code == CloseCode.ABNORMAL and self.pinged > self.heard

    def lost(self, reason: str) -> None:
        """The client stopped answering: it cannot take a close frame, so cut the socket
        (1006) and end its subscriptions now."""
        if self.close_code is None:
            self.close_code = CloseCode.ABNORMAL
        log.info("connection %s lost: %s", self.id, reason)
        self._closing = True
        self._queue = None
        self._wake_room()
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
        if self._queue is None:
            # Nothing left to send: close now. Otherwise _drain closes once drained.
            self._send_close(code, reason)

    def abort(self, code: int, reason: str) -> None:
        """Drop what is queued and close with ``code`` (too slow, revoked, bad input).

        Every frame already written is whole in the socket's buffer; the close frame
        follows them.
        """
        if self._closing and self._flush_then_close is None:
            return
        self._closing = True
        self._flush_then_close = None
        self._queue = None
        self._wake_room()
        self._send_close(code, reason)
        if self.on_abort is not None:
            self.on_abort(self)

    async def close_now(self, code: int, reason: str) -> None:
        """``abort``, then wait until the socket is closed."""
        self.abort(code, reason)
        await self.finish()

    def _send_close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
        transport = self._transport
        if self._sent_close or transport is None:
            return
        self._sent_close = True
        transport.write(ws_frame(OP_CLOSE, close_payload(code, reason)))
        # Wait for the client's close frame while it keeps taking bytes from the socket.
        self._close_left = transport.get_write_buffer_size()
        self._close_timer = asyncio.get_running_loop().call_later(
            CLOSE_TIMEOUT_SECONDS, self._close_overdue
        )

    def _close_overdue(self) -> None:
        self._close_timer = None
        transport = self._transport
        if transport is None:
            return
        left = transport.get_write_buffer_size()
        if left == 0 or left >= self._close_left:
            # Nothing moved (or all is with the kernel, which still delivers it after the
            # socket is closed, and only the client's close answer is missing).
            self._cut()
            return
        self._close_left = left
        self._close_timer = asyncio.get_running_loop().call_later(
            CLOSE_TIMEOUT_SECONDS, self._close_overdue
        )

    def _peer_closed(self, code: int) -> None:
        """The client's close frame: the handshake's answer, or its own start of one."""
        self._reader = None
        transport = self._transport
        if transport is None:
            return
        if not self._sent_close:
            # The client closes: answer with its code (RFC 6455 5.5.1); nothing queued
            # can be delivered any more.
            if self.close_code is None:
                self.close_code = code if code != NO_STATUS else CloseCode.NORMAL
            self._closing = True
            self._flush_then_close = None
            self._queue = None
            self._wake_room()
            self._send_close(code if code != NO_STATUS else CloseCode.NORMAL, "")
        # Both sides have closed: the server ends the TCP connection (RFC 6455 7.1.1); a
        # client that stops reading meanwhile is cut by _close_overdue.
        transport.close()

    def _cut(self) -> None:
        # A client that stopped reading never acknowledges a close: drop the socket and
        # whatever the kernel still holds for it.
        transport = self._transport
        if transport is not None:
            transport.abort()

    async def finish(self) -> None:
        """Wait until the socket is closed (cut if that takes longer than a flush may)."""
        if self._transport is None:
            return
        gone = self._gone
        if gone is None:
            gone = self._gone = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(
                asyncio.shield(gone), SHUTDOWN_FLUSH_SECONDS + CLOSE_TIMEOUT_SECONDS
            )
        except TimeoutError:
            self._cut()
