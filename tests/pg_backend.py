"""The test suites' second backend: PostgreSQL, one database per run, emptied for each test.

With ``TANDEM_TEST_POSTGRES`` set to a server's URL (``postgresql://postgres@127.0.0.1:5432``),
the suites' servers and domains keep their data there instead of in ``tmp_path``'s SQLite
file: the test run makes one database of its own, migrated once and dropped at the end, and
each test starts on it empty, named to the ``TANDEM_DATABASE_URL`` every ``ServerConfig``
reads. Each run's database is named ``<prefix>_<random>`` (``TANDEM_TEST_DATABASE_PREFIX``,
default ``tandem_test``), so runs side by side never meet.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SERVER_ENV = "TANDEM_TEST_POSTGRES"
PREFIX_ENV = "TANDEM_TEST_DATABASE_PREFIX"
#: Where the PostgreSQL-only tests look when no server is named (every CI machine has it).
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"


def server_url() -> str:
    """The PostgreSQL server the tests run on, or "" (SQLite, the default)."""
    return os.environ.get(SERVER_ENV, "").strip().rstrip("/")


def active() -> bool:
    return bool(server_url())


def prefix() -> str:
    return os.environ.get(PREFIX_ENV, "tandem_test").strip() or "tandem_test"


def _admin(server: str) -> Any:
    import psycopg

    return psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5)


def reachable(server: str) -> bool:
    try:
        _admin(server).close()
    except Exception:
        return False
    return True


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """An empty database of its own on ``server`` (no schema), dropped afterwards."""
    name = f"{prefix()}_{secrets.token_hex(6)}"
    with _admin(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with _admin(server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Databases:
    """This test run's database, emptied before each test.

    Made and migrated once; before each test every table but ``schema_version`` is emptied
    in one ``TRUNCATE`` (tens of milliseconds, where a database copied from a template
    costs most of a second per test), after ending any connection a previous test left.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"{prefix()}_{secrets.token_hex(4)}"
        self._conn: Any = None
        self._truncate = ""

    def database_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    def create(self) -> None:
        import psycopg

        from server.storage import postgres

        with _admin(self.url) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        postgres.connect(self.database_url(self.name)).close()
        self._conn = psycopg.connect(self.database_url(self.name), autocommit=True)
        tables = self._conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_version' ORDER BY tablename"
        ).fetchall()
        names = ", ".join(f'"{t}"' for (t,) in tables)
        self._truncate = f"TRUNCATE {names} RESTART IDENTITY CASCADE"

    @contextmanager
    def fresh(self) -> Iterator[str]:
        """The run's database holding the migrated schema and no rows."""
        self._conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        self._conn.execute(self._truncate)
        yield self.database_url(self.name)

    def drop_all(self) -> None:
        if self._conn is not None:
            self._conn.close()
        with _admin(self.url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
