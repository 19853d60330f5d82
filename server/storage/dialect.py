"""What differs between the two databases Tandem keeps its data in, each fact once.

The desktop keeps a SQLite file; a team server may keep the same data in PostgreSQL
(``tandem serve --database-url postgresql://...``). The models and peewee's queries are the
same for both; the hand-written statements of the hot paths are written once, in SQLite's
spelling (``?`` parameters), and a dialect says how its database runs them. What cannot be
said in one spelling (full-text search, JSON arrays, upkeep) is a dialect's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: URL schemes that name a PostgreSQL server (``postgres://`` is libpq's short form).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^@/\s]*@", re.IGNORECASE)
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the user and password of every URL in it (and any ``password=``
    parameter) replaced by ``***``: what logs and errors may show of a database URL."""
    return _PASSWORD_PARAM.sub(r"\1***", _CREDENTIALS.sub(r"\g<scheme>***@", text))


class Dialect:
    """SQLite's: statements run as written."""

    name = "sqlite"
    #: Whether the database is one file that Tandem backs up, checks and restores itself.
    file_backed = True
    #: The statement that gives freed space back after pruning (None: the server does it).
    reclaim_space: str | None = "PRAGMA incremental_vacuum"
    #: The SQL function finding a substring (1-based position, 0 when absent).
    find_substring = "instr"
    #: Whether the connection counts the rows it changed (``total_changes``), and a failed
    #: statement undoes only itself: then a command needs no savepoint of its own until it
    #: is refused after writing (see Domain._commit).
    counts_changes = True
    #: A member's count of unread inbox items (one row, one column): here read from the
    #: count triggers keep (migrations.V_INBOX_UNREAD).
    unread_count = "SELECT coalesce((SELECT unread FROM inbox_unread WHERE member_id = ?), 0)"
    #: The bytes of a member's remembered ids (idempotency.Ledger): here the count triggers
    #: keep (migrations.V_APPLIED_REQUEST_SPENT).
    remembered_bytes = (
        "SELECT coalesce((SELECT bytes FROM applied_request_spent WHERE member_id = ?), 0)"
    )
    #: A member's remembered ids, oldest first: here in the order they were stored, found
    #: by reading the table in that order (there is no index by member).
    oldest_remembered = "SELECT key, size FROM applied_request WHERE member_id = ? ORDER BY rowid"
    #: Rows of remembered ids one pruning looks at (idempotency.Pruner): the table is read a
    #: slice at a time, as there is no index to find the expired ones by. None: at once.
    prune_slice: int | None = 4096

    def execute(self, conn: Any, sql: str, params: Sequence[Any] | None = ()) -> Any:
        return conn.execute(sql, params)

    def execute_many(self, conn: Any, sql: str, rows: Any) -> None:
        conn.executemany(sql, rows)

    def json_each(self, expr: str, alias: str) -> str:
        """A table of the elements (column ``value``) of the JSON array text ``expr``."""
        return f"json_each({expr}) AS {alias}"


class PostgresDialect(Dialect):
    """PostgreSQL's (psycopg 3): ``?`` parameters become ``%s`` (and a literal ``%``
    ``%%``), translated once per statement text."""

    name = "postgresql"
    file_backed = False
    # autovacuum gives space back on its own.
    reclaim_space = None
    find_substring = "strpos"
    # A failed statement aborts the whole transaction: every command in its savepoint.
    counts_changes = False
    # Counted: a counter row per member would queue the instances sharing the database.
    unread_count = "SELECT count(*) FROM inbox_item WHERE member_id = ? AND read_at IS NULL"
    # Summed and ordered through the member index, for the same reason.
    remembered_bytes = "SELECT COALESCE(SUM(size), 0) FROM applied_request WHERE member_id = ?"
    oldest_remembered = (
        "SELECT key, size FROM applied_request WHERE member_id = ? ORDER BY created_at"
    )
    prune_slice = None

    def __init__(self) -> None:
        self._translated: dict[str, str] = {}

    def sql(self, sql: str) -> str:
        found = self._translated.get(sql)
        if found is None:
            found = self._translated[sql] = sql.replace("%", "%%").replace("?", "%s")
        return found

    def execute(self, conn: Any, sql: str, params: Sequence[Any] | None = ()) -> Any:
        cursor = conn.cursor()
        cursor.execute(self.sql(sql), params or None)
        return cursor

    def execute_many(self, conn: Any, sql: str, rows: Any) -> None:
        conn.cursor().executemany(self.sql(sql), list(rows))

    def json_each(self, expr: str, alias: str) -> str:
        return f"json_array_elements_text(({expr})::json) AS {alias}(value)"


SQLITE = Dialect()
POSTGRES = PostgresDialect()

_current: Dialect = SQLITE


def use(dialect: Dialect) -> None:
    """Called by the store that opens the database (there is one open database at a time,
    as there is one ``models.database``)."""
    global _current
    _current = dialect


def current() -> Dialect:
    return _current
