"""The last minutes of the live figures, one sample a second, for the diagnostics page.

Each sample holds the gauges of its moment and what happened since the sample before:
messages in and out, commands, and the command latency percentiles of that second (from
the histogram's bucket counts, interpolated within a bucket as Prometheus's
``histogram_quantile`` does).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.monitoring.metrics import Metrics

#: One sample a second, kept for ten minutes.
SAMPLE_SECONDS = 1.0
KEPT_SAMPLES = 600
QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Sample:
    time: float
    connections: float
    subscriptions: float
    queued: float
    messages_in: int
    messages_out: int
    commands: int
    rejects: int
    # Command latency in seconds at QUANTILES over this sample's second; None without commands.
    p50: float | None
    p95: float | None
    p99: float | None


def quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """The ``q`` quantile of observations counted per bucket: ``counts[i]`` observations in
    the bucket up to ``bounds[i]`` (not cumulative), and one more count past the last bound."""
    total = sum(counts)
    if total <= 0 or not bounds:
        return None
    rank = q * total
    cumulative = 0.0
    for i, count in enumerate(counts):
        if count > 0 and cumulative + count >= rank:
            if i >= len(bounds):
                return bounds[-1]  # past the last bound: the most that can be said
            lower = bounds[i - 1] if i else 0.0
            return lower + (bounds[i] - lower) * (rank - cumulative) / count
        cumulative += count
    return bounds[-1]


class History:
    def __init__(
        self,
        metrics: Metrics | None,
        *,
        gauges: Callable[[], tuple[float, float, float]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        # (connections, subscriptions, queued frames): set by the hub once it runs.
        self.gauges = gauges
        self._clock = clock
        self.samples: deque[Sample] = deque(maxlen=KEPT_SAMPLES)
        self._last: tuple[int, int, int, int, list[float]] | None = None

    def _totals(self) -> tuple[int, int, int, int, list[float], list[float]]:
        m = self._metrics
        if m is None:
            return 0, 0, 0, 0, [], []
        commands = sum(m.commands.values())
        rejects = sum(n for key, n in m.commands.items() if key[2] == "reject")
        histogram = m.command_seconds
        bounds = [*histogram.bounds, float("inf")]
        cumulative = [0.0] * len(bounds)
        for buckets in histogram.series().values():
            running = 0
            for i, count in enumerate(buckets.counts):
                running += count
                cumulative[i] += running
        return (
            sum(m.frames_in.values()),
            sum(m.frames_out.values()),
            commands,
            rejects,
            bounds,
            cumulative,
        )

    def tick(self) -> Sample:
        """Take one sample (the server calls this every SAMPLE_SECONDS)."""
        frames_in, frames_out, commands, rejects, bounds, cumulative = self._totals()
        last = self._last
        self._last = (frames_in, frames_out, commands, rejects, cumulative)
        if last is None:
            last = (frames_in, frames_out, commands, rejects, [0.0] * len(cumulative))
        prev_cumulative = last[4] if len(last[4]) == len(cumulative) else [0.0] * len(cumulative)
        # Cumulative bucket counts since the last sample, then per bucket.
        window = [now - before for now, before in zip(cumulative, prev_cumulative, strict=True)]
        per_bucket = [c - (window[i - 1] if i else 0.0) for i, c in enumerate(window)]
        finite = [b for b in bounds if b != float("inf")]
        p = [quantile(q, finite, per_bucket) for q in QUANTILES]
        connections, subscriptions, queued = self.gauges() if self.gauges else (0.0, 0.0, 0.0)
        sample = Sample(
            time=self._clock(),
            connections=connections,
            subscriptions=subscriptions,
            queued=queued,
            messages_in=frames_in - last[0],
            messages_out=frames_out - last[1],
            commands=commands - last[2],
            rejects=rejects - last[3],
            p50=p[0],
            p95=p[1],
            p99=p[2],
        )
        self.samples.append(sample)
        return sample

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.samples]
