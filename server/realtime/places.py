"""The hub's places for connections between their upgrade and their hello (MAX_JOINING)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class Places:
    """The hub's places for joining connections (see MAX_JOINING), taken in order of asking.

    A semaphore that can also be taken without a task: the upgrade that aiohttp does not
    see (``server.realtime.upgrade``) runs in a socket's callback, and waits unanswered
    until ``granted`` is called with a place of its own.
    """

    __slots__ = ("_free", "_waiting")

    def __init__(self, count: int) -> None:
        self._free = count
        # Each waiter is called when a place is free: it returns whether it took it (one
        # that has gone meanwhile takes none, and the place goes to the next).
        self._waiting: deque[Callable[[], bool]] = deque()

    @property
    def free(self) -> int:
        return self._free

    def take_now(self) -> bool:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return True
        return False

    def wait(self, granted: Callable[[], bool]) -> None:
        """Call ``granted`` once a place is free (at once if one is)."""
        if self.take_now():
            if not granted():
                self.give_back()
            return
        self._waiting.append(granted)

    async def take(self) -> None:
        if self.take_now():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def granted() -> bool:
            if future.done():  # cancelled while it waited
                return False
            future.set_result(None)
            return True

        self._waiting.append(granted)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give_back()  # granted just as it was cancelled
            raise

    def give_back(self) -> None:
        waiting = self._waiting
        while waiting:
            if waiting.popleft()():
                return
        self._free += 1
