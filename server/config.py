"""Everything a server instance needs to know, injected from outside (CLI, tray app, tests)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from server import paths
from server.monitoring import recording

#: Where a team server keeps its data instead of the data folder's SQLite file.
DATABASE_URL_ENV = "TANDEM_DATABASE_URL"


def default_database_url() -> str:
    """``$TANDEM_DATABASE_URL``, or "" (the data folder's SQLite file, the desktop's)."""
    return os.environ.get(DATABASE_URL_ENV, "").strip()


def add_database_url_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="keep the data in this PostgreSQL database (postgresql://user@host/db) instead "
        f"of the data folder's SQLite file (default: ${DATABASE_URL_ENV})",
    )


def chosen_database_url(given: str | None) -> str:
    return given.strip() if given is not None else default_database_url()


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path = field(default_factory=paths.default_data_dir)
    # A postgresql:// URL: the data lives there (shared by every server given it); the
    # data folder keeps the attachments and the lock. "": the data folder's SQLite file.
    database_url: str = field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    # 0 picks a free port.
    port: int = 0
    # Share on LAN: a second listener on lan_host (all interfaces by default).
    lan: bool = False
    lan_host: str = "0.0.0.0"
    lan_port: int = 0
    # WebSocket heartbeat: a client that stops answering pings is dropped after ~1.5x this.
    heartbeat_seconds: float = 15.0
    # Largest WebSocket frame or REST body accepted.
    max_message_bytes: int = 1 << 20
    # Largest attachment accepted (an upload is refused once it has sent more).
    max_attachment_bytes: int = 25 << 20
    # Outgoing frames queued per connection before a client that does not read is dropped.
    send_queue_limit: int = 1024
    # Change-log entries kept per project; older resumes get a resync.
    history_limit: int = 10_000
    # Daily backups: how many are kept in the data folder's backups/, and how often (in
    # seconds) the server looks whether today's is made (0: no daily backups).
    backups_kept: int = 14
    backup_check_seconds: float = 3600.0
    # Longest long poll on the events endpoint.
    max_poll_seconds: float = 30.0
    # Serve the built web UI from here (None: web/dist next to the sources, if built).
    web_root: Path | None = None
    # Serve the LAN listener over TLS with a self-signed certificate (loopback stays HTTP).
    lan_tls: bool = False
    # A WebSocket that has not said hello successfully this long after connecting is closed.
    hello_timeout_seconds: float = 10.0
    # A connection that has not sent a whole request this long after connecting, or after
    # its last response, is closed: idle keep-alives and headers sent too slowly alike.
    idle_timeout_seconds: float = 15.0
    # A request body that has not fully arrived this long after its headers: 408, closed.
    body_timeout_seconds: float = 15.0
    # LAN connections that have not shown a credential yet: at most this many per address,
    # and in total (0: as many as the open-file limit leaves room for).
    lan_unauthenticated_per_address: int = 32
    lan_unauthenticated_total: int = 0
    # Count what /metrics shows; off only to measure what counting costs (--no-metrics).
    metrics: bool = True
    # Record the WebSocket traffic into this file from the start (tandem serve --record).
    record_path: Path | None = None
    record_seconds: float = recording.DEFAULT_SECONDS
    record_max_bytes: int = recording.DEFAULT_MAX_BYTES
    # The time of every change, in microseconds since the epoch (None: the system clock);
    # tests that script days (sprints, due dates) pass one they move.
    clock: Callable[[], int] | None = None
    # How often the server looks whether the day has changed (due-date reminders).
    day_check_seconds: float = 300.0
    # A team server's message bus (nats://...; None: this instance is alone, as on a
    # desktop). See docs/team-server.md.
    bus_url: str | None = None

    @property
    def database_path(self) -> Path:
        return paths.database_path(self.data_dir)
