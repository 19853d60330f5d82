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

    def take(self, cost: float = 1.0) -> int:
        """Spend ``cost`` tokens. Returns 0 when allowed, else milliseconds until they are free.

        A cost above the burst is charged as the whole burst.
        """
        cost = min(cost, self._burst)
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= cost:
            self._tokens -= cost
            return 0
        return max(1, math.ceil((cost - self._tokens) / self._rate * 1000))
