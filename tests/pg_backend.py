"""The test suites' second backend: PostgreSQL, a fresh database per test.

With ``TANDEM_TEST_POSTGRES`` set to a server's URL (``postgresql://postgres@127.0.0.1:5432``),
the suites' servers and domains keep their data there instead of in ``tmp_path``'s SQLite
file: the session makes one template database, migrated once, and each test gets its own
copy of it (``CREATE DATABASE ... TEMPLATE``, a file copy in PostgreSQL: fast), named to
the ``TANDEM_DATABASE_URL`` every ``ServerConfig`` reads, and dropped after the test. Each
session's databases are named ``<prefix>_<random>_...`` (``TANDEM_TEST_DATABASE_PREFIX``,
default ``tandem_test``), so sessions running side by side never meet.
"""

from __future__ import annotations

import itertools
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
    """This session's template and the per-test databases made from it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stem = f"{prefix()}_{secrets.token_hex(4)}"
        self.template = f"{self.stem}_template"
        self._numbers = itertools.count(1)

    def database_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    def _admin(self) -> Any:
        return _admin(self.url)

    def create_template(self) -> None:
        from server.storage import postgres

        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.template}"')
        postgres.connect(self.database_url(self.template)).close()

    @contextmanager
    def fresh(self) -> Iterator[str]:
        """A new database holding the migrated, empty schema; dropped afterwards."""
        name = f"{self.stem}_{next(self._numbers)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        try:
            yield self.database_url(name)
        finally:
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        with self._admin() as conn:
            names = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{self.stem}_%",)
            ).fetchall()
            for (name,) in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
