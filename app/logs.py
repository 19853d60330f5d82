"""Logging for the desktop app: a rotating file in the platform's log folder.

Under a frozen, windowed build there is no console and ``sys.stdout`` is None; nothing
may write there, so the streams are pointed at the null device before anything logs.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from server.storage import private

LOG_FILE = "tandem.log"


def guard_missing_streams() -> None:
    """Give a console-less process harmless stdout/stderr, so a stray print cannot crash it."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def setup_logging(log_dir: Path, *, level: int = logging.INFO, max_bytes: int = 1_000_000) -> Path:
    """Send logs to ``log_dir/tandem.log`` (rotated), and to stderr when there is one."""
    guard_missing_streams()
    # Logs name people and projects: other accounts on this computer may not read them.
    private.private_dir(log_dir)
    path = private.private_file(log_dir / LOG_FILE)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tandem", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=5, encoding="utf-8")
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    file_handler._tandem = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    stream = sys.__stderr__
    if stream is not None and not getattr(sys, "frozen", False):
        console = logging.StreamHandler(stream)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        console._tandem = True  # type: ignore[attr-defined]
        root.addHandler(console)
    root.setLevel(level)
    return path
