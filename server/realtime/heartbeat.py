"""One heartbeat for every WebSocket: a single timer sweeps all connections.

It also ends connections that have not said hello in time (``Connection.hello_by``): no
timer per joining connection either.

aiohttp's own heartbeat keeps timers per socket (one to ping, one to wait for the pong,
and a callback scheduled for every chunk received to push the first one back): at ten
thousand idle connections, that is ten thousand timers and a task switch per frame read.
Here each connection only notes when it last heard from its client (``Connection.heard``,
one float), and one timer, every ``1/SWEEPS_PER_INTERVAL`` of the interval, pings those
silent for a whole interval and drops those that left a ping unanswered for half of one:
a silent client is dropped 1.5 to 1.625 intervals after it was last heard, as aiohttp
would, and its presence leaves at once. (When the hello timeout is shorter than the
interval, sweeps come ``SWEEPS_PER_INTERVAL`` times per hello timeout instead.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Final

from server.realtime.connection import Connection
from server.realtime.protocol import CloseCode

#: Sweeps per heartbeat interval: how late past its due time a ping or a drop may be.
SWEEPS_PER_INTERVAL: Final = 8


class Heartbeat:
    """Pings silent connections and drops those that stop answering; runs on the loop."""

    def __init__(
        self,
        interval: float,
        connections: Callable[[], Iterable[Connection]],
        hello_timeout: float = 0.0,
    ) -> None:
        self.interval = interval
        self._connections = connections
        # How often to sweep: a fraction of the shorter of the two deadlines.
        shortest = min(t for t in (interval, hello_timeout, 3600.0) if t > 0)
        self._every = shortest / SWEEPS_PER_INTERVAL
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._timer is None:
            self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._every, self._tick)

    def _tick(self) -> None:
        self._schedule()
        self.sweep(asyncio.get_running_loop().time())

    def sweep(self, now: float) -> None:
        interval = self.interval
        silent_since = now - interval
        unanswered_since = now - interval / 2
        beating = interval > 0
        for conn in tuple(self._connections()):
            if not conn.open:
                continue
            if conn.identity is None and conn.hello_by <= now:
                # A socket that never identifies itself must not stay open (nor escape
                # revocation), whatever it sent meanwhile.
                conn.abort(CloseCode.HELLO_TIMEOUT, "no hello in time")
                continue
            if not beating:
                continue
            pinged = conn.pinged
            if pinged:
                if conn.heard >= pinged:
                    conn.pinged = 0.0  # answered (any frame will do, as with aiohttp)
                elif pinged <= unanswered_since:
                    conn.lost(f"no pong within {interval / 2:g} s of a ping")
                    continue
                else:
                    continue
            if conn.heard <= silent_since:
                conn.ping(now)
