"""Storage failures as refusals: "cannot write now" is UNAVAILABLE (retry), the rest INTERNAL.

SQLite says why it failed in its result code (``sqlite3.Error.sqlite_errorcode``); the
message text is for people and may change between versions, so it is never matched.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator

from server.domain.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)

# Primary result codes for "cannot write now": a full disk, an I/O error, a read-only
# file, another writer holding the lock. Extended codes (SQLITE_IOERR_WRITE, ...) carry
# their primary code in the low byte.
_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    }
)
_MAX_CHAIN = 10


def _causes(err: BaseException) -> Iterator[BaseException]:
    # A failed rollback ("no such savepoint") can hide the cause, and peewee wraps the
    # sqlite3 error it raises: read the whole chain, and what each wrapper carries.
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo and len(seen) < _MAX_CHAIN:
        cause = todo.pop(0)
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        todo.extend(a for a in cause.args[:1] if isinstance(a, BaseException))
        todo.extend(c for c in (cause.__cause__, cause.__context__) if c is not None)


# PostgreSQL's "cannot write now", by SQLSTATE class (psycopg's ``Error.sqlstate``): the
# connection lost (08), a transaction rolled back to be retried (40), the server short of
# disk or memory (53), shutting down or starting (57); and a read-only server (25006).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})
_READ_ONLY_SQLSTATE = "25006"


def _pg_unavailable(cause: BaseException) -> bool:
    state = getattr(cause, "sqlstate", None)
    if not isinstance(state, str):
        # psycopg's OperationalError without a state: the connection itself failed.
        return type(cause).__module__.startswith("psycopg") and (
            type(cause).__name__ == "OperationalError"
        )
    return state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or state == _READ_ONLY_SQLSTATE


def unavailable_cause(err: BaseException) -> BaseException | None:
    """The SQLite (or PostgreSQL) error in ``err``'s chain that means "cannot write now"."""
    for cause in _causes(err):
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(cause, sqlite3.Error) and code is not None and code & 0xFF in _UNAVAILABLE:
            return cause
        if _pg_unavailable(cause):
            return cause
    return None


def classify(err: BaseException) -> DomainError:
    """The refusal for a storage failure of a whole transaction: nothing of it was saved."""
    cause = unavailable_cause(err)
    if cause is not None:
        name = getattr(cause, "sqlite_errorname", None) or getattr(cause, "sqlstate", None)
        text = f"{cause} ({name})"
        log.error("storage unavailable: %s", text)
        return DomainError(
            ErrorCode.ERROR_CODE_UNAVAILABLE,
            f"the database cannot take changes right now ({cause}); nothing was saved",
            retry_after_ms=1000,
        )
    log.error("storage error", exc_info=err)
    return DomainError(ErrorCode.ERROR_CODE_INTERNAL, "storage error; nothing was saved")
