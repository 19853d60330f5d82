"""Shared fixtures. Each group is marked with what it is for; add yours as a new group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from server.config import ServerConfig
from server.runner import RunningServer, start_server
from tests.api_client import ApiClient

# --- REST API: a real server on 127.0.0.1, port 0, SQLite in tmp_path ------------------


@pytest.fixture
def api_config(tmp_path: Path) -> ServerConfig:
    """The config the ``server`` fixture starts with; override it in a module to change it."""
    return ServerConfig(data_dir=tmp_path / "data", web_root=tmp_path / "no-web-ui")


@pytest.fixture
async def server(api_config: ServerConfig) -> AsyncIterator[RunningServer]:
    running = await start_server(api_config)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server.url, session)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session, closed after the test."""
    async with aiohttp.ClientSession() as s:
        yield s
