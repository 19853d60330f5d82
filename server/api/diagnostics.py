"""The server's own figures, for this computer only: ``GET /metrics`` (Prometheus text,
served by prometheus-client's aiohttp handler) and ``GET /api/v1/diagnostics`` (what the
diagnostics page draws). The request guard answers 404 to anyone but this computer
(``server.monitoring.LOCAL_ONLY_PATHS``).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from google.protobuf.message import Message
from prometheus_client.aiohttp import make_aiohttp_handler
from tandem.v1 import diagnostics_pb2

import server
from server import paths
from server.api.operation import Call, Operation
from server.appkeys import CONFIG
from server.monitoring import DIAGNOSTICS_PATH, METRICS_PATH, MONITOR
from server.monitoring.logs import RECENT


def _newest_backup(data_dir: Path) -> Path | None:
    """The newest backup: in the backups folder, or one made before a migration."""
    found: list[Path] = []
    folder = paths.backups_dir(data_dir)
    if folder.is_dir():
        found.extend(p for p in folder.iterdir() if p.is_file())
    database = paths.database_path(data_dir)
    found.extend(data_dir.glob(f"{database.name}.v*.bak"))
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


async def get_diagnostics(call: Call) -> Message:
    app = call.request.app
    monitor = app[MONITOR]
    data_dir = app[CONFIG].data_dir
    store = call.domain.store
    answer = diagnostics_pb2.DiagnosticsResponse(
        server_version=server.__version__,
        data_folder=str(data_dir),
        database_bytes=await store.call(store.size_bytes),
    )
    answer.start_time.FromSeconds(int(monitor.started))
    backup = _newest_backup(data_dir)
    if backup is not None:
        answer.last_backup_time.FromSeconds(int(backup.stat().st_mtime))
        answer.last_backup_path = str(backup)
    connections, subscriptions, _queued = (
        monitor.history.gauges() if monitor.history.gauges else (0.0, 0.0, 0.0)
    )
    answer.connections = int(connections)
    answer.subscriptions = int(subscriptions)
    metrics = monitor.metrics
    if metrics is not None:
        answer.commands_total = sum(metrics.commands.values())
        answer.rejects_total = sum(n for k, n in metrics.commands.items() if k[2] == "reject")
    for sample in monitor.history.samples:
        out = answer.samples.add(
            connections=int(sample.connections),
            subscriptions=int(sample.subscriptions),
            queued=int(sample.queued),
            messages_in=sample.messages_in,
            messages_out=sample.messages_out,
            commands=sample.commands,
            rejects=sample.rejects,
        )
        out.time.FromMilliseconds(int(sample.time * 1000))
        for name, value in (("p50", sample.p50), ("p95", sample.p95), ("p99", sample.p99)):
            if value is not None:
                setattr(out, f"{name}_seconds", value)
    for entry in RECENT.snapshot():
        logged = answer.errors.add(level=entry.level, logger=entry.logger, message=entry.message)
        logged.time.FromMilliseconds(int(entry.time * 1000))
    tap = monitor.recording
    state = answer.recording
    if tap.active is not None:
        state.active = True
        state.path = str(tap.active.path)
        state.frames = tap.active.frames
        state.bytes = tap.active.written
    elif tap.last is not None:
        state.path = str(tap.last.path)
        state.frames = tap.last.frames
        state.bytes = tap.last.bytes
        state.ended_reason = tap.last.reason
    return answer


DIAGNOSTICS_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        DIAGNOSTICS_PATH,
        "getDiagnostics",
        "This computer only: the live server's figures (the diagnostics page).",
        get_diagnostics,
        "meta",
        diagnostics_pb2.DiagnosticsResponse,
    ),
)


def add_metrics_route(app: web.Application) -> None:
    """``GET /metrics`` from the server's own registry (404 when counting is off)."""
    metrics = app[MONITOR].metrics
    if metrics is not None:
        app.router.add_get(METRICS_PATH, make_aiohttp_handler(metrics.registry), name="metrics")
