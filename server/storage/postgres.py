"""A team server's database in PostgreSQL: connecting, migrating, and one writer at a time.

The domain was written for SQLite's rule that one transaction writes at a time: a command
reads what it changes (a task's field versions for the per-field merge, the project's next
task number, a member's budget of remembered ids) and writes it back. Several servers
sharing one PostgreSQL database keep that rule with a transaction-scoped advisory lock
taken as each transaction begins, as SQLite's ``BEGIN IMMEDIATE`` takes its write lock:
no update is lost, a command retried on another server finds the first one's answer, and
each project's seq (moved by the log head's ``UPDATE ... RETURNING``, which also locks the
row) is gapless in commit order, whichever server commits. Reads outside a transaction
never wait for it. Locking each row read instead (``SELECT ... FOR UPDATE``) would let
servers write different projects at once, but group commit puts many commands in one
transaction, so two servers' groups would lock rows in different orders and deadlock.

Migrations run under a connection-wide advisory lock, so servers starting together migrate
once.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import peewee as pw
import psycopg
from psycopg.adapt import Dumper

from server.storage import migrations
from server.storage.dialect import redact
from server.storage.health import DatabaseUnusableError

log = logging.getLogger(__name__)

# Advisory lock keys (any bigint, the same for every Tandem; per database).
WRITER_LOCK = 0x54414E44454D  # "TANDEM"
MIGRATION_LOCK = WRITER_LOCK + 1
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUrlError(DatabaseUnusableError):
    """The database URL is wrong or names a server that cannot be used; ``str()`` is the
    one line to show (without the URL's credentials)."""


class _BoolAsInteger(Dumper):
    """Booleans are stored as 0 and 1, as SQLite stores them (the columns are BIGINT)."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class PostgresDatabase(pw.PostgresqlDatabase):
    """peewee's PostgreSQL database on psycopg 3, every transaction one writer at a time."""

    def _connect(self) -> Any:
        conn = super()._connect()  # type: ignore[misc]
        conn.adapters.register_dumper(bool, _BoolAsInteger)
        return conn

    def is_closed(self) -> bool:
        state: Any = getattr(self, "_state")  # noqa: B009 - peewee's, untyped in its stubs
        conn = state.conn
        if conn is not None and conn.broken and not self.in_transaction():
            # The server went away (restarted, or the connection was cut): the next
            # statement opens a new connection instead of failing on the dead one for ever.
            log.warning("the connection to the database was lost; connecting again")
            state.reset()
        return bool(super().is_closed())

    def begin(self, isolation_level: Any = None) -> None:
        super().begin(isolation_level)
        self.cursor().execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))  # type: ignore[no-untyped-call]


def check_url(url: str) -> str:
    """``url`` as libpq takes it (``postgresql://``), or DatabaseUrlError saying what is wrong."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise DatabaseUrlError(f"the database URL {redact(url)} is not a URL: {exc}") from exc
    if parts.scheme not in ("postgresql", "postgres"):
        raise DatabaseUrlError(
            f"the database URL {redact(url)} is not a postgresql:// URL "
            "(without --database-url the data stays in the data folder's SQLite file)"
        )
    if not parts.path.strip("/"):
        raise DatabaseUrlError(
            f"the database URL {redact(url)} names no database (postgresql://host/DATABASE)"
        )
    return "postgresql://" + url.split("://", 1)[1]


def connect(url: str) -> PostgresDatabase:
    """The database at ``url``, connected and migrated to the latest version."""
    dsn = check_url(url)
    db = PostgresDatabase(dsn, prefer_psycopg3=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        db.connect()
    except pw.DatabaseError as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        first = " ".join(str(cause).split()) or type(cause).__name__
        raise DatabaseUrlError(f"cannot use the database {redact(url)}: {redact(first)}") from None
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def database_identity(db: pw.Database) -> str:
    """What tells this database from a copy of it (a pg_dump restored, a template copied):
    the cluster's system identifier and the database's object id, both new in a copy."""
    row = db.execute_sql(  # type: ignore[no-untyped-call]
        "SELECT (SELECT system_identifier FROM pg_control_system()), oid"
        " FROM pg_database WHERE datname = current_database()"
    ).fetchone()
    return f"{row[0]}:{row[1]}"


def schema_version(db: pw.Database) -> int:
    found = db.execute_sql("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()  # type: ignore[no-untyped-call]
    if not found[0]:
        return 0
    row = db.execute_sql("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()  # type: ignore[no-untyped-call]
    return int(row[0])


def migrate(db: pw.Database, steps: tuple[str, ...] | None = None) -> int:
    """Bring the database to the latest version under the migration lock; returns the
    version it was at. Another server migrating at the same time is waited for."""
    steps = tuple(migrations.PG_MIGRATIONS) if steps is None else steps
    latest = len(steps)
    db.execute_sql("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))  # type: ignore[no-untyped-call]
    try:
        found = schema_version(db)
        if found > latest:
            raise migrations.DatabaseTooNewError(
                f"the database has schema version {found}, but this Tandem understands up to "
                f"{latest}. It was written by a newer Tandem: install that version (or newer) "
                "to use it. Nothing was changed."
            )
        for version in range(found + 1, latest + 1):
            with db.atomic():
                db.execute_sql(  # type: ignore[no-untyped-call]
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)"
                )
                # Without parameters, so that the step's statements run as one script.
                db.connection().cursor().execute(steps[version - 1])  # type: ignore[no-untyped-call]
                db.execute_sql(  # type: ignore[no-untyped-call]
                    "INSERT INTO schema_version (version, applied_at) VALUES (%s, %s)",
                    (version, time.time_ns() // 1000),
                )
            log.info("migrated the database to version %d", version)
        return found
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))  # type: ignore[no-untyped-call]
