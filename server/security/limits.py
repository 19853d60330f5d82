"""Keeping the server answering when the network sends it sockets and nothing else.

Anyone on the LAN can open connections without a credential. Each one costs a file
descriptor, and a desktop's open-file limit is often 1,024; run out and the owner's own
loopback UI stops answering. So:

- every connection lives on a deadline until it has sent a whole request (aiohttp's
  ``keepalive_timeout``, which starts when the connection is made and again after each
  response), and a request body must arrive within ``body_timeout_seconds``;
- the LAN listener admits only so many connections that have not yet shown a valid
  credential, per address and in total (``ConnectionGate``); a connection that shows one
  stops counting, so people with an invite always get in;
- the open-file limit is raised as far as the OS allows at start;
- when accepting fails anyway (out of files), asyncio pauses the listener for a moment;
  ``quiet_accept_errors`` makes that one log line a minute instead of a traceback each time.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
import time
from collections import Counter, OrderedDict
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from server.api.attachments import is_upload
from server.appkeys import CONFIG

log = logging.getLogger(__name__)

#: Files kept free for everything that is not a LAN connection waiting to authenticate:
#: the loopback listener and its clients, the database and its WAL, logs, people with
#: an invite.
RESERVED_FILES: Final = 256
#: Unauthenticated LAN connections at most, whatever the open-file limit. A reconnect storm
#: of invitees after a restart has them all unauthenticated at once until their credentials
#: are looked up (some hundreds of milliseconds for 2,000): at 1,024, half of a storm of
#: 2,000 was cut to make room for the other half.
MAX_UNAUTHENTICATED_TOTAL: Final = 4096
#: A TLS handshake on the LAN listener must be done in this many seconds.
TLS_HANDSHAKE_TIMEOUT_SECONDS: Final = 10.0
#: At most one "out of files" log line per this many seconds.
ACCEPT_ERROR_LOG_INTERVAL_SECONDS: Final = 60.0

_RESOURCE_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


# --- the open-file limit ---------------------------------------------------------------


def open_file_limit() -> int:
    """The process's current soft limit on open files (a large number where there is none)."""
    try:
        import resource
    except ImportError:  # Windows: no per-process descriptor limit of this kind
        return 1 << 16
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 16


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one where the OS allows; returns the soft."""
    try:
        import resource
    except ImportError:
        return open_file_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard
    if sys.platform == "darwin":
        # macOS reports RLIM_INFINITY as hard but refuses more than OPEN_MAX for the soft.
        wanted = min(hard, 10_240) if hard != resource.RLIM_INFINITY else 10_240
    if soft != resource.RLIM_INFINITY and (wanted == resource.RLIM_INFINITY or wanted > soft):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.info("could not raise the open-file limit from %d: %s", soft, exc)
    return open_file_limit()


def unauthenticated_total(file_limit: int) -> int:
    """How many LAN connections without a credential the file limit leaves room for."""
    return max(16, min(MAX_UNAUTHENTICATED_TOTAL, (file_limit - RESERVED_FILES) // 2))


# --- counting the LAN listener's connections ---------------------------------------------


class ConnectionGate:
    """The LAN listener's connections that have not shown a valid credential yet.

    Past ``per_address`` from one address, a new connection is cut at once. Past
    ``total`` from everyone, the oldest waiting connection is cut to make room, so a
    flood from many addresses cannot keep a newcomer with an invite out: its first
    request authenticates it within milliseconds, long before it would be the oldest.
    Runs on the event loop; not thread-safe by design.
    """

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address = max(1, per_address)
        self.total = max(1, total)
        # Oldest first: the order to cut in when the total is reached.
        self._waiting: OrderedDict[asyncio.BaseTransport, str] = OrderedDict()
        self._per_address: Counter[str] = Counter()
        self.refused = 0
        self.evicted = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        address = _peer(transport)
        if self._per_address[address] >= self.per_address:
            self.refused += 1
            return False
        while len(self._waiting) >= self.total:
            oldest, old_address = self._waiting.popitem(last=False)
            self._forget_address(old_address)
            self.evicted += 1
            _cut(oldest)
        self._waiting[transport] = address
        self._per_address[address] += 1
        return True

    def authenticated(self, transport: asyncio.BaseTransport | None) -> None:
        """The connection showed a valid credential: it no longer counts against anyone."""
        if transport is None:
            return
        address = self._waiting.pop(transport, None)
        if address is not None:
            self._forget_address(address)

    def closed(self, transport: asyncio.BaseTransport) -> None:
        self.authenticated(transport)

    def _forget_address(self, address: str) -> None:
        left = self._per_address[address] - 1
        if left > 0:
            self._per_address[address] = left
        else:
            del self._per_address[address]


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return ""


def _cut(transport: asyncio.BaseTransport) -> None:
    abort = getattr(transport, "abort", None)
    if callable(abort):
        abort()
    else:
        transport.close()


class GatedProtocol(asyncio.Protocol):
    """Stands in front of a connection's protocol (the LAN listener's upgrade, then aiohttp's
    when the socket goes there), and counts it."""

    __slots__ = ("_admitted", "_gate", "_inner", "_transport")

    def __init__(self, inner: asyncio.Protocol, gate: ConnectionGate) -> None:
        self._inner = inner
        self._gate = gate
        self._admitted = False
        self._transport: asyncio.BaseTransport | None = None

    def hand_to(self, inner: asyncio.Protocol) -> None:
        """The connection's protocol from now on, behind the gate as the one before it."""
        self._inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if not self._gate.admit(transport):
            _cut(transport)
            return
        self._admitted = True
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._gate.closed(self._transport)
        if self._admitted:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


# --- request bodies ---------------------------------------------------------------------


@web.middleware
async def read_body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request's body must arrive within ``body_timeout_seconds``, or it is answered 408.

    Put it after the request guard, so nobody's body is read before their credential is
    checked, and inside the API's error middleware, so the 408 has the usual error shape.
    An attachment upload is streamed by its handler instead, under deadlines of its own.
    """
    if request.can_read_body and not is_upload(request):
        try:
            async with asyncio.timeout(request.app[CONFIG].body_timeout_seconds):
                await request.read()  # kept by aiohttp: the handler reads it again for free
        except TimeoutError:
            request.protocol.force_close()
            raise web.HTTPRequestTimeout(text="the request body did not arrive in time") from None
    return await handler(request)


# --- accept errors ----------------------------------------------------------------------


class _AcceptErrors:
    """A loop exception handler that turns "out of files" into one line a minute."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.last_logged = -ACCEPT_ERROR_LOG_INTERVAL_SECONDS
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
            now = time.monotonic()
            if now - self.last_logged >= ACCEPT_ERROR_LOG_INTERVAL_SECONDS:
                more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
                log.warning(
                    "out of open files (%s): new connections wait and are retried%s",
                    exc.strerror or exc,
                    more,
                )
                self.last_logged = now
                self.suppressed = 0
            else:
                self.suppressed += 1
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Install the handler on ``loop`` (once), keeping any handler already there."""
    current = loop.get_exception_handler()
    if isinstance(current, _AcceptErrors):
        return
    loop.set_exception_handler(_AcceptErrors(current))
