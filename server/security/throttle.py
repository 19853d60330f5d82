"""Slowing down, then refusing, an address that keeps presenting wrong credentials.

A few free mistakes (a mistyped link); then each further attempt must wait twice as
long as the one before; past a limit the address is refused outright for a while.
While an address has to wait, its requests are answered 429 without looking at the
credential. An address's credentials are checked one at a time (``turn``), each after
the count of the ones before it is in, so waiting cannot be skipped by sending many
requests at once either: the checks all run on the one database thread anyway, so
taking turns costs nothing. Other addresses are never affected: the state is per
address, bounded in size, and forgotten after a quiet period.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 5
    first_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    # This many failures in a row and the address is refused for lockout_seconds.
    lockout_after: int = 20
    lockout_seconds: float = 15 * 60.0
    # Addresses remembered at most (the oldest are forgotten first).
    max_tracked: int = 10_000


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


class CredentialThrottle:
    """Per-address failure counts. Runs on the event loop; not thread-safe by design."""

    def __init__(
        self,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or ThrottlePolicy()
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        # One check at a time per address; a lock lives while someone holds or awaits it.
        self._turns: dict[str, asyncio.Lock] = {}
        self._in_turn: Counter[str] = Counter()
        # Since start, for the metrics: wrong credentials, and requests refused unchecked
        # because their address had to wait.
        self.failures_total = 0
        self.refused_total = 0

    @contextlib.asynccontextmanager
    async def turn(self, address: str) -> AsyncIterator[None]:
        """Check this address's credential inside: after every earlier one is counted."""
        lock = self._turns.get(address)
        if lock is None:
            lock = self._turns[address] = asyncio.Lock()
        self._in_turn[address] += 1
        try:
            async with lock:
                yield
        finally:
            self._in_turn[address] -= 1
            if not self._in_turn[address]:
                del self._in_turn[address]
                del self._turns[address]

    def _record(self, address: str) -> _Record | None:
        record = self._records.get(address)
        if record is None:
            return None
        now = self.clock()
        quiet = max(self.policy.lockout_seconds, self.policy.max_delay_seconds)
        if now >= record.locked_until and now - record.last_failure > quiet:
            del self._records[address]
            return None
        return record

    def _delay(self, failures: int) -> float:
        extra = failures - self.policy.free_failures
        if extra < 0:
            return 0.0
        return min(self.policy.first_delay_seconds * (2.0**extra), self.policy.max_delay_seconds)

    def retry_after(self, address: str) -> float:
        """Seconds this address must wait before a credential of its is checked (0: now)."""
        record = self._record(address)
        if record is None:
            return 0.0
        now = self.clock()
        if now < record.locked_until:
            return record.locked_until - now
        return max(0.0, record.last_failure + self._delay(record.failures) - now)

    def failed(self, address: str) -> None:
        self.failures_total += 1
        record = self._record(address) or _Record()
        now = self.clock()
        record.failures += 1
        record.last_failure = now
        if record.failures >= self.policy.lockout_after:
            record.locked_until = now + self.policy.lockout_seconds
        self._records[address] = record
        self._records.move_to_end(address)
        while len(self._records) > self.policy.max_tracked:
            self._records.popitem(last=False)

    def waiting(self) -> int:
        """How many addresses must wait (or are locked out) before their next check."""
        return sum(1 for address in list(self._records) if self.retry_after(address) > 0)

    def failures(self, address: str) -> int:
        record = self._record(address)
        return record.failures if record is not None else 0
