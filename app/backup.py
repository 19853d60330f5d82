""" "Back up now" from the tray: one online backup at a time, off the Qt thread.

The backup runs on the server's database thread, so the tray stays responsive however
large the database is; its outcome comes back to the Qt thread as the ``done`` signal.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from server.handle import ServerHandle

log = logging.getLogger(__name__)


class BackupJob(QObject):
    """Starts backups and reports each one's outcome once, on the Qt thread."""

    # (path, error): exactly one of them is empty.
    done = Signal(str, str)
    # From the server's thread; connected (queued) to ``_settled`` on the Qt thread.
    _finished = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self._running: Future[Path] | None = None
        self._finished.connect(self._settled)

    @property
    def running(self) -> bool:
        return self._running is not None

    def start(self, handle: ServerHandle) -> Future[Path] | None:
        """Start a backup and return its future at once; None when one is running already,
        or when it could not start (then ``done`` reports why)."""
        if self._running is not None:
            return None
        try:
            future = handle.start_backup()
        except Exception as error:
            log.exception("backup failed")
            self.done.emit("", str(error) or type(error).__name__)
            return None
        self._running = future
        future.add_done_callback(self._on_future)
        return future

    def _on_future(self, future: Future[Path]) -> None:
        # Called on the server's thread: hand the outcome to the Qt thread, do nothing else.
        if future.cancelled():
            self._finished.emit("", "the backup was cancelled")
            return
        error = future.exception()
        if error is not None:
            log.error("backup failed", exc_info=error)
            self._finished.emit("", str(error) or type(error).__name__)
        else:
            self._finished.emit(str(future.result()), "")

    @Slot(str, str)
    def _settled(self, path: str, error: str) -> None:
        self._running = None
        self.done.emit(path, error)
