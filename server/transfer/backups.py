"""Backups: made with SQLite's online backup API (never a file copy), named by the local
time, in the data folder's ``backups/``; the newest ``kept`` are kept.

``make`` is the one way a backup is made: ``tandem backup``, the tray's "Back up now" and
the daily schedule all call it. ``DailyBackups`` is the schedule: while the server runs it
looks every ``interval`` seconds and makes one when none was made today (local date), so
a laptop asleep at midnight still gets its day's backup when it wakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from server import paths
from server.storage.database import Store, backup_copy

log = logging.getLogger(__name__)

DEFAULT_KEPT = 14
PREFIX = "tandem-"
_NAME = re.compile(r"^tandem-(\d{8})-(\d{6})(?:-\d+)?\.sqlite3$")

Clock = Callable[[], dt.datetime]


def local_now() -> dt.datetime:
    return dt.datetime.now()


def folder(data_dir: Path) -> Path:
    return paths.backups_dir(data_dir)


def taken_at(path: Path) -> dt.datetime | None:
    """When a backup of ours was made, from its name; None for any other file."""
    found = _NAME.match(path.name)
    if found is None:
        return None
    return dt.datetime.strptime(found.group(1) + found.group(2), "%Y%m%d%H%M%S")


def listed(where: Path) -> list[Path]:
    """The backups in ``where``, oldest first."""
    try:
        found = [(taken_at(p), p) for p in where.iterdir() if p.is_file()]
    except FileNotFoundError:
        return []
    return [p for when, p in sorted((w, p) for w, p in found if w is not None)]


def name_for(where: Path, now: dt.datetime) -> Path:
    stamp = now.strftime("%Y%m%d-%H%M%S")
    dest = where / f"{PREFIX}{stamp}.sqlite3"
    n = 1
    while dest.exists():
        n += 1
        dest = where / f"{PREFIX}{stamp}-{n}.sqlite3"
    return dest


def prune(where: Path, kept: int) -> list[Path]:
    """Delete all but the newest ``kept`` backups; returns what was deleted."""
    backups = listed(where)
    gone = backups[: max(0, len(backups) - max(1, kept))]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def make(
    conn: sqlite3.Connection,
    where: Path,
    *,
    dest: Path | None = None,
    kept: int = DEFAULT_KEPT,
    now: dt.datetime | None = None,
) -> Path:
    """Back ``conn``'s database up (online) to ``dest``, or into ``where`` by the time, and
    keep the newest ``kept`` there. Runs on the thread that owns ``conn``."""
    if dest is None:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)  # the board: owner only
        written = backup_copy(conn, name_for(where, now or local_now()))
        prune(where, kept)
        return written
    return backup_copy(conn, dest)


def made_today(where: Path, now: dt.datetime) -> bool:
    return any((taken_at(p) or dt.datetime.min).date() == now.date() for p in listed(where))


@dataclass
class DailyBackups:
    """One backup a day while running; ``run_backup`` makes it where the database lives."""

    where: Path
    run_backup: Callable[[dt.datetime], Awaitable[Path | None]]
    clock: Clock = local_now
    interval: float = 3600.0
    made: list[Path] = field(default_factory=list)

    async def tick(self) -> Path | None:
        """Make today's backup if it is not made yet; returns it, or None."""
        now = self.clock()
        if made_today(self.where, now):
            return None
        path = await self.run_backup(now)
        if path is not None:
            self.made.append(path)
            log.info("daily backup written to %s", path)
        return path

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a full disk today must not end tomorrow's backup
                log.exception("the daily backup failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

    async def context(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="daily-backups")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def make_async(
    store: Store,
    where: Path,
    *,
    dest: Path | None = None,
    kept: int = DEFAULT_KEPT,
    now: dt.datetime | None = None,
) -> Path:
    """``make`` on the store's database thread (its connection belongs to that thread)."""

    def run() -> Path:
        conn: sqlite3.Connection = store.db.connection()  # type: ignore[no-untyped-call]
        return make(conn, where, dest=dest, kept=kept, now=now)

    return await store.call(run)


async def daily_async(store: Store, where: Path, *, kept: int, now: dt.datetime) -> Path | None:
    """The day's backup, unless the board is still empty (nothing to lose yet)."""

    def run() -> Path | None:
        conn: sqlite3.Connection = store.db.connection()  # type: ignore[no-untyped-call]
        if conn.execute("SELECT 1 FROM project LIMIT 1").fetchone() is None:
            return None
        return make(conn, where, kept=kept, now=now)

    return await store.call(run)
