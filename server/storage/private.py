"""Files only their owner can read: the data folder 0700, what is in it 0600.

The board, its backups, the WAL, logs and the TLS key are the owner's; other accounts on
the same computer must not read them. On POSIX that is the mode; SQLite gives the WAL
and shared-memory files the database file's own mode. Windows has no such modes: the
per-user folders Tandem uses there (under %LOCALAPPDATA%) already carry an ACL that
admits only the user, SYSTEM and Administrators, and files inherit it, so nothing is
done there.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Final

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600
_POSIX: Final = os.name == "posix"

log = logging.getLogger(__name__)


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) a folder only its owner can enter.

    A shared folder given as the data folder (sticky, like /tmp), or one that belongs to
    someone else, is left as it is, with a warning.
    """
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if _POSIX:
        info = path.stat()
        if info.st_mode & stat.S_ISVTX or info.st_uid != os.geteuid():
            log.warning("%s is a shared folder; keep Tandem's data in a folder of its own", path)
        elif stat.S_IMODE(info.st_mode) & 0o077:
            # Only ever taking permissions away: a folder made read-only stays read-only.
            _chmod(path, stat.S_IMODE(info.st_mode) & PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, readable by its owner only; narrow it if it exists."""
    if _POSIX:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, PRIVATE_FILE)
        os.close(fd)
        narrow(path)
    return path


def narrow(path: Path) -> None:
    """Make an existing file owner-only (files made by an older Tandem, or by SQLite)."""
    if not _POSIX:
        return
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.geteuid():
        _chmod(path, stat.S_IMODE(info.st_mode) & PRIVATE_FILE)


def _chmod(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode)
    except OSError as exc:  # a read-only disk: opening it says what to do, if it must write
        log.warning("could not make %s private: %s", path, exc.strerror or exc)
