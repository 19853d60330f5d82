"""Watching the live server: metrics, the diagnostics figures, logs and traffic recording.

``Monitor`` is one server's: its ``Metrics`` (``GET /metrics``, the diagnostics page), its
``RecordingTap`` and the history the diagnostics page draws. The real-time layer counts
into it on every frame; the paths it serves are the loopback listener's only (the request
guard answers 404 to anyone else).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from server.monitoring.history import SAMPLE_SECONDS, History
from server.monitoring.metrics import Metrics
from server.monitoring.recording import RecordingTap

__all__ = ["DIAGNOSTICS_PATH", "LOCAL_ONLY_PATHS", "METRICS_PATH", "MONITOR", "Monitor"]

METRICS_PATH = "/metrics"
DIAGNOSTICS_PATH = "/api/v1/diagnostics"
#: Served to this computer only: anyone else gets 404, as if they did not exist.
LOCAL_ONLY_PATHS = frozenset({METRICS_PATH, DIAGNOSTICS_PATH})


class Monitor:
    def __init__(self, *, counting: bool = True) -> None:
        # Without counting (``tandem serve --no-metrics``) the hot paths skip every count;
        # it exists to measure what counting costs.
        self.metrics: Metrics | None = Metrics() if counting else None
        self.recording = RecordingTap()
        self.history = History(self.metrics)
        self.started = time.time()

    def lifetime(
        self, *, record: Path | None = None, record_seconds: float = 0, record_max_bytes: int = 0
    ) -> Callable[[web.Application], AsyncIterator[None]]:
        """A cleanup context: sample the history every second; record from the start when
        ``record`` is given; stop recording when the server stops."""

        async def run(_app: web.Application) -> AsyncIterator[None]:
            self.started = time.time()
            sampler = asyncio.create_task(self._sample(), name="diagnostics-history")
            if record is not None:
                self.recording.start(record, seconds=record_seconds, max_bytes=record_max_bytes)
            try:
                yield
            finally:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                self.recording.stop("server stopped")

        return run

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self.history.tick()


MONITOR = web.AppKey("monitor", Monitor)
