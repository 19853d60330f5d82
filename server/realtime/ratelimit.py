"""A token bucket: the per-connection command rate limit, and the JSON byte budget."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``rate`` events per second on average and ``burst`` at once."""

    __slots__ = ("_burst", "_clock", "_rate", "_stamp", "_tokens")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def debit(self, cost: float) -> float:
        """Spend ``cost`` now, into debt if need be; returns seconds until the debt is paid."""
        self._refill()
        self._tokens -= cost
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    def take(self) -> int:
        """Spend one token. Returns 0 when allowed, else milliseconds until one is free."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self._tokens) / self._rate * 1000))
