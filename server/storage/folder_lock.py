"""Which server has a data folder open: a lock held while it runs, and who holds it.

Every server (the tray app's, ``tandem serve``) holds an OS lock on ``server.lock`` in
its data folder from opening the database until closing it, and writes its process id
and, once listening, its address into the file. The lock is the operating system's
(``flock``; on Windows a locked byte range), so it ends with the process however that
ends: a crash leaves no stale lock. Tools that must not run beside a server (``tandem
restore``) ask ``holder``; tools that can hand their work to it read its address.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from server.storage import private

log = logging.getLogger(__name__)

LOCK_FILE = "server.lock"
# Windows locks a byte range; this one lies past anything written, so the file stays readable.
_WINDOWS_LOCK_OFFSET = 1 << 30


@dataclass(frozen=True)
class Holder:
    pid: int
    url: str

    def describe(self) -> str:
        where = f" at {self.url}" if self.url else ""
        return f"Tandem is running on this data folder (process {self.pid}{where})"


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


class FolderLock:
    """The lock on one data folder, taken with ``acquire`` and given back with ``release``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock; False (and nothing held) when another server holds it."""
        if self._fd is not None:
            return True
        try:
            private.private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a folder that cannot be written: opening says so better
            log.debug("cannot hold %s: %s", self.path, exc.strerror or exc)
            return False
        if not _try_lock(fd):
            os.close(fd)
            return False
        self._fd = fd
        self.publish("")
        return True

    def publish(self, url: str) -> None:
        """Record this process and its address for ``holder``."""
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "url": url}).encode()
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, data)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        _unlock(fd)
        os.close(fd)


def holder(data_dir: Path) -> Holder | None:
    """The server holding ``data_dir``, or None when none does."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None  # nobody could have locked a file that cannot be opened for writing
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        info = json.loads(raw.decode())
        return Holder(int(info.get("pid", 0)), str(info.get("url", "")))
    except (ValueError, AttributeError):
        return Holder(0, "")
