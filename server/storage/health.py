"""Refusing a database that cannot be used, with one line a person can act on.

At start, before anything writes to the file, ``PRAGMA quick_check`` reads every page:
random bytes, a truncated file or one damaged half-way are refused, never half-served.
The refusal names the file, the newest backup that passes the same check (``backups/``
beside the database, then the copies made before a migration) and how to put it back.
A folder or disk that cannot be written to is refused the same way, with what to fix.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import sqlite3
import time
from pathlib import Path

from server import paths


class DatabaseUnusableError(RuntimeError):
    """The database cannot be opened safely; ``str()`` is the one line to show."""


def quick_check(path: Path) -> str:
    """Either "ok" or what is wrong (quick_check's first finding, or SQLite's error)."""
    # Read-only, so checking changes nothing. A WAL database in a folder that cannot be
    # written cannot even be opened that way; then it is read as immutable (as on a CD).
    for options in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(f"file:{path}?{options}", uri=True)
            try:
                rows = conn.execute("PRAGMA quick_check(1)").fetchall()
            finally:
                conn.close()
        except sqlite3.OperationalError as exc:
            problem = str(exc)
            continue  # cannot open or lock: try again as immutable
        except sqlite3.Error as exc:
            return str(exc)  # not a database, malformed
        found = [str(r[0]) for r in rows]
        return "ok" if found == ["ok"] else one_line(found[0])
    return problem


def one_line(finding: str) -> str:
    words = " ".join(finding.replace("***", " ").split())
    return words if len(words) <= 120 else words[:117] + "..."


def candidate_backups(db_path: Path) -> list[Path]:
    """Backups of this database, newest first: backups/ beside it, then migration copies."""
    found: list[Path] = []
    folder = paths.backups_dir(db_path.parent)
    with contextlib.suppress(OSError):
        found += [p for p in folder.iterdir() if p.suffix == ".sqlite3" and p.is_file()]
    with contextlib.suppress(OSError):
        found += [p for p in db_path.parent.glob(f"{db_path.name}.v*.bak") if p.is_file()]

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(found, key=mtime, reverse=True)


def newest_good_backup(db_path: Path) -> Path | None:
    for candidate in candidate_backups(db_path):
        if quick_check(candidate) == "ok":
            return candidate
    return None


def _restore_hint(db_path: Path) -> str:
    backup = newest_good_backup(db_path)
    if backup is None:
        return f"no good backup was found in {paths.backups_dir(db_path.parent)}"
    return (
        f"the newest good backup is {backup}; to restore it, with Tandem stopped, run: "
        f'tandem restore "{backup}" --data-dir "{db_path.parent}"'
    )


def keep_aside(db_path: Path) -> Path | None:
    """Copy a damaged database (and its journal files) aside, byte for byte.

    The original stays where it is, untouched: whoever repairs it works on a copy, and
    nothing a later start does can make it worse. None when even the copy failed.
    """
    copy = db_path.with_name(f"{db_path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        for suffix in ("", "-wal", "-shm"):
            source = db_path.with_name(db_path.name + suffix)
            if source.exists():
                shutil.copy2(source, copy.with_name(copy.name + suffix))
    except OSError:
        return None
    return copy


def damaged(db_path: Path, problem: str) -> DatabaseUnusableError:
    copy = keep_aside(db_path)
    kept = f"a copy is at {copy}; " if copy is not None else ""
    return DatabaseUnusableError(
        f"the database {db_path} is damaged ({problem}); nothing was changed; {kept}"
        + _restore_hint(db_path)
    )


def unwritable(db_path: Path, problem: str) -> DatabaseUnusableError:
    return DatabaseUnusableError(
        f"cannot write the database {db_path} ({problem}); make {db_path.parent} writable "
        "(or free some space), or start with --data-dir naming a folder that can be written"
    )


def check_before_opening(db_path: Path) -> None:
    """Refuse a file that is there but not a whole SQLite database."""
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise unwritable(db_path, exc.strerror or str(exc)) from None
    if size == 0:
        return  # a new database (SQLite writes the header on first use)
    problem = quick_check(db_path)
    if problem != "ok":
        raise damaged(db_path, problem)


def explain(db_path: Path, exc: BaseException) -> DatabaseUnusableError:
    """What a failure while opening the database means for the person."""
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return unwritable(db_path, exc.strerror or str(exc))
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return unwritable(db_path, "the disk is full")
    message = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return damaged(db_path, message)
    return unwritable(db_path, message)
