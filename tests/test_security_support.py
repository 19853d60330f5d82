"""Shared helpers for the security tests: a server wired with the security layer.

A "LAN" peer is played from a second loopback address (127.0.0.2): the server is told
that only 127.0.0.1 is this machine, so no traffic ever leaves loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from server import security
from server.app import create_app
from server.config import ServerConfig
from server.security.state import SECURITY

LOCAL = "127.0.0.1"
LAN_PEER = "127.0.0.2"
OTHER_PEER = "127.0.0.3"


@dataclass
class Served:
    app: web.Application
    runner: web.AppRunner
    port: int
    data_dir: Path

    def url(self, path: str = "/") -> str:
        return f"http://{LOCAL}:{self.port}{path}"

    def ws_url(self) -> str:
        return f"ws://{LOCAL}:{self.port}/ws"

    async def share(self, enabled: bool = True) -> None:
        urls = [self.url("/")] if enabled else []
        await security.sharing_changed(self.app, enabled, urls)


async def serve(data_dir: Path, monkeypatch: Any, **config: Any) -> AsyncIterator[Served]:
    """A wired server on 127.0.0.1 port 0 (real sockets), closed afterwards."""
    app = create_app(ServerConfig(data_dir=data_dir, heartbeat_seconds=5.0, **config))
    state = app[SECURITY]
    state.is_local = lambda address: address == LOCAL
    state.announce = False
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, LOCAL, 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield Served(app, runner, port, data_dir)
    finally:
        await runner.cleanup()


def client_from(address: str, **kwargs: Any) -> aiohttp.ClientSession:
    """A client whose connections come from ``address`` (a loopback address)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
    return aiohttp.ClientSession(connector=connector, **kwargs)


async def make_invite(served: Served, role: str, name: str = "Ana") -> tuple[str, str]:
    """(invite id, token) for a new invite, made through the running server's database."""
    from server.appkeys import DOMAIN
    from server.security import invites

    made = await served.app[DOMAIN].write(invites.create, name, role)
    return made.invite.id, made.token


async def project_names(served: Served) -> list[str]:
    from server.appkeys import DOMAIN

    domain = served.app[DOMAIN]
    return [p.name for p in await domain.read(domain.list_projects)]


async def until_polls_wait(app: web.Application, count: int, timeout: float = 10.0) -> None:
    """Wait (bounded) until ``count`` long polls are parked on the server."""
    from server.api.polls import waiting_polls

    async with asyncio.timeout(timeout):
        while True:
            if waiting_polls(app) == count:
                return
            await asyncio.sleep(0.01)
