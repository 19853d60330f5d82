"""Builds the aiohttp application: domain lifetime, REST API, real-time layer, web UI."""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from server import api, cluster, realtime, reminders, security
from server.appkeys import CONFIG, DOMAIN, FOLDER_LOCK
from server.config import ServerConfig
from server.domain.service import open_domain
from server.monitoring import MONITOR, Monitor
from server.monitoring.logs import install_recent_errors
from server.security.limits import read_body_in_time
from server.storage import folder_lock
from server.storage.folder_lock import FolderLock
from server.transfer import backups
from server.transfer.bodies import larger_import_bodies

log = logging.getLogger(__name__)

REPO_WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"

# Everything the web UI does not own: the API, the WebSocket endpoint.
_UI_PATH = r"{path:(?!api(?:/|$)|ws(?:/|$)).*}"

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tandem</title></head>
<body>
<h1>Tandem is running</h1>
<p>The web UI is not built, run <code>make run</code> (it builds it) and reload this page.</p>
<p>The REST API answers at <a href="/api/health">/api/health</a>; its description is at
<a href="/api/openapi.json">/api/openapi.json</a>.</p>
<p><small>Looked for <code>{where}</code>.</small></p>
</body></html>
"""


def web_root(config: ServerConfig) -> Path:
    return config.web_root if config.web_root is not None else REPO_WEB_DIST


def create_app(config: ServerConfig) -> web.Application:
    # The security guard goes first, so nothing runs for a refused request; the error
    # middleware comes next so every other refusal has the one JSON error shape.
    app = web.Application(
        middlewares=[
            *security.middlewares(),
            api.api_error_middleware,
            larger_import_bodies,
            read_body_in_time,
        ],
        client_max_size=config.max_message_bytes,
    )
    app[CONFIG] = config
    monitor = app[MONITOR] = Monitor(counting=config.metrics)
    install_recent_errors()
    security.setup(app)

    async def domain_lifetime(app: web.Application) -> AsyncIterator[None]:
        # Held while the database is open, so `tandem restore` knows this server runs.
        lock = app[FOLDER_LOCK] = FolderLock(config.data_dir)
        if not lock.acquire() and (other := folder_lock.holder(config.data_dir)) is not None:
            log.warning("%s; `tandem restore` will refuse until both stop", other.describe())
        try:
            domain = open_domain(config)
        except BaseException:
            lock.release()
            raise
        app[DOMAIN] = domain
        if monitor.metrics is not None:
            domain.observe_commits(monitor.metrics.observe_commit)
        try:
            yield
        finally:
            domain.close()
            lock.release()

    async def daily_backups(app: web.Application) -> AsyncIterator[None]:
        # A PostgreSQL database is backed up with pg_dump, by whoever runs the server.
        if config.backup_check_seconds <= 0 or not app[DOMAIN].store.dialect.file_backed:
            yield
            return
        store, where = app[DOMAIN].store, backups.folder(config.data_dir)
        schedule = backups.DailyBackups(
            where,
            lambda now: backups.daily_async(store, where, kept=config.backups_kept, now=now),
            interval=config.backup_check_seconds,
        )
        async for _ in schedule.context():
            yield

    app.cleanup_ctx.append(domain_lifetime)
    app.cleanup_ctx.append(daily_backups)
    app.cleanup_ctx.append(
        monitor.lifetime(
            record=config.record_path,
            record_seconds=config.record_seconds,
            record_max_bytes=config.record_max_bytes,
        )
    )
    api.setup(app)
    realtime.setup(app)  # after the domain's cleanup context: it needs the domain
    cluster.setup(app, config)  # after the hub's: it feeds the hub
    app.cleanup_ctx.append(reminders.context)
    _setup_web_ui(app, web_root(config))
    return app


def _setup_web_ui(app: web.Application, root: Path) -> None:
    """Serve the built UI: files as they are, any other path the single page (index.html)."""
    root = root.resolve()
    index = root / "index.html"

    async def serve(request: web.Request) -> web.StreamResponse:
        if not index.is_file():
            page = _NOT_BUILT.format(where=html.escape(str(root)))
            return web.Response(text=page, content_type="text/html")
        rel = request.match_info["path"]
        try:
            target = (root / rel).resolve() if rel else index
            exists = target.is_file()
        except (ValueError, OSError):  # a NUL byte, a name too long for the file system
            raise web.HTTPBadRequest(text="not a valid path") from None
        # Never serve anything outside the build folder (../ or symlinks out of it).
        if not target.is_relative_to(root) or not exists:
            if "." in rel.rsplit("/", 1)[-1]:
                raise web.HTTPNotFound()
            target = index
        response = web.FileResponse(target)
        if target == index:
            response.headers["Cache-Control"] = "no-cache"
        elif target.parent.name == "assets":
            # Vite names assets by content hash: they never change under one name.
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response

    app.router.add_get("/" + _UI_PATH, serve, name="web_ui")
