"""Keeping credentials out of logs: every log record is scrubbed when it is made.

A filter on one logger misses records that propagate from others, and a filter on a
handler misses handlers added later (the desktop app's, a test's), so this wraps the
log record factory instead: whatever logs, wherever it goes, the invite token in a
``/join?token=...`` URL, an ``Authorization`` value or a session cookie is replaced
before any handler sees it: in the message, and in the traceback of a logged exception
(whose message may quote a URL or a header).
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"

_PATTERNS = (
    # ?token=... / &token=... in any URL or query string (also percent-encoded '=').
    re.compile(r"(?i)([?&;]token(?:=|%3d))[^&\s\"'#]*"),
    # Authorization: Bearer <token>, and a bare "Bearer <token>".
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    # The session cookie, in a Cookie or Set-Cookie header.
    re.compile(r"(?i)(tandem_session=)[^;\s\"']*"),
    # user:password@ in any URL (a database's, a message bus's).
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@\"']+(?=@)"),
)

_installed = False


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


_FORMATTER = logging.Formatter()


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string is the logging call's problem, not ours
        message = None
    if message is not None:
        clean = redact(message)
        if clean != message:
            record.msg = clean
            record.args = None
    _scrub_exception(record)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _scrub_exception(record: logging.LogRecord) -> None:
    """Formatters print ``exc_text`` when it is set, and make it from ``exc_info`` only
    when it is not: so the traceback is made here, scrubbed, and stored in its place."""
    if record.exc_info and not record.exc_text:
        text = _FORMATTER.formatException(record.exc_info)
        clean = redact(text)
        if clean != text:
            record.exc_text = clean
            # A handler that renders the exception object itself would show the secret.
            record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)


def install() -> None:
    """Scrub every log record made in this process from now on (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


class RedactingFilter(logging.Filter):
    """The same scrubbing as a filter, for a handler that formats records made elsewhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub(record)
        return True
