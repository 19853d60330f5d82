"""Shared fixtures, all on the one builder in tests/fixtures.py. Each group is marked with
what it is for; add yours as a new group."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.config import DATABASE_URL_ENV, ServerConfig
from server.domain.service import Domain, open_domain
from tests import pg_backend
from tests.api_client import ApiClient
from tests.fixtures import NewServer, TandemServer, start_tandem

# --- the backend: SQLite in tmp_path, or PostgreSQL (TANDEM_TEST_POSTGRES) --------------


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[pg_backend.Databases | None]:
    """This test run's PostgreSQL database, when the suites run on PostgreSQL."""
    if not pg_backend.active():
        yield None
        return
    databases = pg_backend.Databases(pg_backend.server_url())
    databases.create()
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture(autouse=True)
def database_backend(
    request: pytest.FixtureRequest,
    postgres_databases: pg_backend.Databases | None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The test's database URL ("" for SQLite): on PostgreSQL a fresh database, which every
    ServerConfig made in the test (servers, domains, ``tandem serve`` processes) uses."""
    if postgres_databases is None:
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        yield ""
        return
    marker = request.node.get_closest_marker("sqlite_only")
    if marker is not None:
        pytest.skip(f"SQLite only: {marker.args[0]}")
    with postgres_databases.fresh() as url:
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        yield url


@pytest.fixture
def domain(tmp_path: Path) -> Iterator[Domain]:
    """The domain on a database in tmp_path (on PostgreSQL in the PostgreSQL pass)."""
    d = open_domain(ServerConfig(data_dir=tmp_path))
    yield d
    d.close()


# --- a real server on 127.0.0.1, port 0, SQLite in tmp_path ----------------------------


@pytest.fixture
def server_options(tmp_path: Path) -> dict[str, Any]:
    """The ``start_tandem`` keywords the ``server`` fixture starts with; override it in a
    module to change them."""
    return {"web_root": tmp_path / "no-web-ui"}


@pytest.fixture
async def new_server(tmp_path: Path) -> AsyncIterator[NewServer]:
    """``start_tandem`` with its data in ``tmp_path / "data"`` unless told otherwise; every
    server it started is closed after the test."""
    started: list[TandemServer] = []

    async def start(**options: Any) -> TandemServer:
        data_dir = options.pop("data_dir", tmp_path / "data")
        server = await start_tandem(data_dir, **options)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.close()


@pytest.fixture
async def server(new_server: NewServer, server_options: dict[str, Any]) -> TandemServer:
    return await new_server(**server_options)


@pytest.fixture
async def api(server: TandemServer) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server.url, session)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session, closed after the test."""
    async with aiohttp.ClientSession() as s:
        yield s


# --- LAN peers played from other loopback addresses ------------------------------------


@pytest.fixture
async def lan_server(new_server: NewServer) -> TandemServer:
    """A server for which only 127.0.0.1 is this machine (see ``lan_peers_on_loopback``),
    logging every request so that tests can read what reached the log."""
    return await new_server(lan_peers_on_loopback=True, heartbeat_seconds=5.0, access_log=True)


@pytest.fixture
def credential_lookups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The LAN credentials looked up in the database from now on, in order (kind, secret)."""
    from server.security import invites

    looked_up: list[tuple[str, str]] = []
    principals = invites.principals

    def counted(asked: list[tuple[str, str]]) -> list[invites.Principal | None]:
        looked_up.extend(asked)
        return principals(asked)

    monkeypatch.setattr(invites, "principals", counted)
    return looked_up


# --- Qt objects die on the Qt thread -----------------------------------------------------


@pytest.fixture(autouse=True)
def qt_garbage_collected_here(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a desktop test, its garbage is collected on this, the Qt thread: the dialogs it
    opened and their widgets end up in cycles. Left to the cyclic collector, they would be
    freed on whichever thread ran the next collection, often the next test's server thread,
    where a QObject's destructor deadlocks against the Qt thread (see
    ``TrayController._from_server``)."""
    yield
    if request.node.get_closest_marker("desktop") is not None:
        import gc

        gc.collect()
