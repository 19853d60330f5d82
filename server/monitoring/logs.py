"""Logging: one JSON object a line in a rotated file, readable text on the console.

Every record carries the connection and member it concerns when it was logged while
serving one (``bind_connection`` sets them for the connection's task; asyncio copies the
context into everything that task starts). Credentials never reach a handler: the record
factory scrubs them first (``server.security.redact``, installed with the server).

``RECENT`` keeps the last warnings and errors for the diagnostics page.
"""

from __future__ import annotations

import argparse
import contextvars
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

from server.storage import private

LOG_FILE = "tandem.log"
LEVELS = ("debug", "info", "warning", "error")
#: A log file's size before it is rotated, and how many rotated files are kept.
MAX_LOG_BYTES = 1_000_000
KEPT_LOG_FILES = 5
#: Warnings and errors the diagnostics page shows.
RECENT_ERRORS = 50

CONNECTION: contextvars.ContextVar[str] = contextvars.ContextVar("connection", default="")
MEMBER: contextvars.ContextVar[str] = contextvars.ContextVar("member", default="")

_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(threadName)s %(message)s"
_TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Marks the handlers set up here, so a second set-up replaces them instead of adding more.
_OURS = "_tandem"


def bind_connection(connection_id: str, member_id: str = "") -> None:
    """Name the connection (and its member) in every record logged from this task on."""
    CONNECTION.set(connection_id)
    MEMBER.set(member_id)


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        connection = CONNECTION.get()
        if connection:
            record.connection = connection
            member = MEMBER.get()
            if member:
                record.member = member
        return True


@dataclass(frozen=True)
class LoggedError:
    time: float
    level: str
    logger: str
    message: str


class RecentErrors(logging.Handler):
    """The last ``RECENT_ERRORS`` warnings and errors of this process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.entries: deque[LoggedError] = deque(maxlen=RECENT_ERRORS)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message}: {record.exc_info[1]!r}"
        self.entries.append(LoggedError(record.created, record.levelname, record.name, message))

    def snapshot(self) -> list[LoggedError]:
        return list(self.entries)


RECENT = RecentErrors()


def install_recent_errors() -> None:
    """Keep this process's warnings and errors for the diagnostics page (idempotent)."""
    root = logging.getLogger()
    if RECENT not in root.handlers:
        root.addHandler(RECENT)


def json_formatter() -> logging.Formatter:
    formatter = JsonFormatter(_JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger"})
    formatter.converter = time.gmtime
    formatter.default_msec_format = "%s.%03dZ"
    return formatter


def setup_logging(
    *,
    level: str | int = "info",
    log_dir: Path | None = None,
    console: bool = True,
    console_json: bool = False,
    max_bytes: int = MAX_LOG_BYTES,
) -> Path | None:
    """Log at ``level``: to ``log_dir/tandem.log`` as JSON lines (rotated) when given, and to
    standard error (text, or JSON with ``console_json``). Returns the log file's path."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()
    context = _Context()
    path: Path | None = None
    handlers: list[logging.Handler] = []
    if log_dir is not None:
        # Logs name people and projects: other accounts on this computer may not read them.
        private.private_dir(log_dir)
        path = private.private_file(log_dir / LOG_FILE)
        file_handler = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=KEPT_LOG_FILES, encoding="utf-8"
        )
        file_handler.setFormatter(json_formatter())
        handlers.append(file_handler)
    stream = sys.__stderr__
    if console and stream is not None:
        console_handler = logging.StreamHandler(stream)
        console_handler.setFormatter(
            json_formatter() if console_json else logging.Formatter(_TEXT_FORMAT)
        )
        handlers.append(console_handler)
    for handler in handlers:
        handler.addFilter(context)
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    install_recent_errors()
    return path


def add_log_arguments(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """``--log-level`` (and, for ``tandem serve``, where logs go)."""
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        # A subcommand's default would overwrite what was given before the subcommand.
        default="info" if top_level else argparse.SUPPRESS,
        help="how much to log (default: info)",
    )
    if top_level:
        return
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help=f"also log to DIR/{LOG_FILE} as JSON lines (rotated)",
        metavar="DIR",
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        help="log to standard error as JSON lines instead of text",
    )
