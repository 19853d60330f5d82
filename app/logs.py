"""Logging for the desktop app: the server's logging, into the platform's log folder.

Under a frozen, windowed build there is no console and ``sys.stdout`` is None; nothing
may write there, so the streams are pointed at the null device before anything logs.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from server.monitoring import logs
from server.monitoring.logs import LOG_FILE, MAX_LOG_BYTES

__all__ = ["LOG_FILE", "guard_missing_streams", "setup_logging"]


def guard_missing_streams() -> None:
    """Give a console-less process harmless stdout/stderr, so a stray print cannot crash it."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def setup_logging(
    log_dir: Path, *, level: str | int = logging.INFO, max_bytes: int = MAX_LOG_BYTES
) -> Path:
    """Send logs to ``log_dir/tandem.log`` (JSON lines, rotated), and to stderr when there is
    one (a frozen, windowed build has none)."""
    guard_missing_streams()
    path = logs.setup_logging(
        level=level,
        log_dir=log_dir,
        console=not getattr(sys, "frozen", False),
        max_bytes=max_bytes,
    )
    assert path is not None
    return path
