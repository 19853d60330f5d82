"""``tandem restore FILE``: put a backup back, safely.

Refused while a server has the data folder open (its lock says which). The file is
checked before anything is touched: a whole SQLite database (every page read), a Tandem
database (its tables and epoch), a schema this Tandem knows. The current database is
kept first, as a backup like any other; then the file is written over it with SQLite's
online backup API (never a file copy, so the write-ahead log cannot mix two histories)
under a new epoch: every client that reconnects reads the board afresh instead of
merging what it held.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from server import paths
from server.storage import folder_lock, health, migrations
from server.storage.database import backup_copy, new_epoch
from server.transfer import backups

#: The tables every Tandem database has had since its first schema.
TANDEM_TABLES = ("meta", "member", "project", "task", "comment", "event", "log_head")


class RestoreRefused(RuntimeError):
    """Nothing was changed; ``str()`` is the one line to show."""


def check(source: Path) -> int:
    """The schema version of a file fit to restore; RestoreRefused says why it is not."""
    if not source.is_file():
        raise RestoreRefused(f"{source} is not a file")
    try:
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise RestoreRefused(f"{source} cannot be opened ({exc}); nothing was changed") from None
    try:
        try:
            found = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(1)")]
            tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
            version = migrations.user_version(conn)
        except sqlite3.DatabaseError as exc:
            raise RestoreRefused(
                f"{source} is not a Tandem database ({exc}); nothing was changed"
            ) from None
        if found != ["ok"]:
            raise RestoreRefused(
                f"{source} is damaged ({health.one_line(found[0])}); nothing was changed"
            )
        missing = [t for t in TANDEM_TABLES if t not in tables]
        if missing:
            raise RestoreRefused(
                f"{source} is not a Tandem database (no table {missing[0]}); nothing was changed"
            )
        if version > migrations.LATEST:
            raise RestoreRefused(
                f"{source} has schema version {version}, but this Tandem understands up to"
                f" {migrations.LATEST}: it was written by a newer Tandem; install that version"
                " (or newer) to restore it. Nothing was changed."
            )
        if conn.execute("SELECT 1 FROM meta WHERE key = 'epoch'").fetchone() is None:
            raise RestoreRefused(
                f"{source} is not a Tandem database (no epoch); nothing was changed"
            )
    finally:
        conn.close()
    return version


def _keep_current(db_path: Path, now: dt.datetime | None) -> Path | None:
    """Keep the database being replaced: as a backup, or, when it is too damaged for
    SQLite to read, as a byte-for-byte copy beside it (then it is moved out of the way)."""
    if not db_path.exists() or db_path.stat().st_size == 0:
        return None
    if health.quick_check(db_path) != "ok":
        copy = health.keep_aside(db_path)
        if copy is None:
            raise RestoreRefused(
                f"the damaged {db_path} could not be copied aside; nothing was changed"
            )
        for suffix in ("", "-wal", "-shm"):
            db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
        return copy
    current = sqlite3.connect(db_path)
    try:
        return backup_copy(
            current, backups.name_for(backups.folder(db_path.parent), now or backups.local_now())
        )
    except (sqlite3.Error, RuntimeError) as exc:
        raise RestoreRefused(
            f"the current database {db_path} could not be kept as a backup ({exc});"
            " nothing was changed"
        ) from None
    finally:
        current.close()


def restore(data_dir: Path, source: Path, *, now: dt.datetime | None = None) -> Path | None:
    """Restore ``source`` into ``data_dir``; returns the backup of what was there (if any)."""
    lock = folder_lock.FolderLock(data_dir)
    if not lock.acquire():
        running = folder_lock.holder(data_dir)
        who = running.describe() if running else "Tandem is running on this data folder"
        raise RestoreRefused(f"{who}; quit it first, then restore. Nothing was changed.")
    try:
        check(source)
        db_path = paths.database_path(data_dir)
        kept = _keep_current(db_path, now)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dest = sqlite3.connect(db_path)
        try:
            src.backup(dest)
            with dest:
                dest.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (new_epoch(),))
            dest.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dest.close()
            src.close()
        return kept
    finally:
        lock.release()
