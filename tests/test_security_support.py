"""Shared helpers for the security tests (a LAN peer is played from a second loopback
address, 127.0.0.2: no traffic ever leaves loopback).

Servers come from the one builder (tests/fixtures.py): take the ``lan_server`` fixture.
``serve`` and ``Served`` are kept only until the tests written against them have moved.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fixtures import (
    LAN_PEER,
    LOCAL,
    OTHER_PEER,
    TandemServer,
    client_from,
    start_tandem,
    until_polls_wait,
)

__all__ = [
    "LAN_PEER",
    "LOCAL",
    "OTHER_PEER",
    "Served",
    "client_from",
    "join",
    "make_invite",
    "project_names",
    "serve",
    "until_polls_wait",
]


@dataclass
class Served:
    """The old handle, over a ``TandemServer``: new tests use the ``lan_server`` fixture."""

    server: TandemServer

    @property
    def app(self) -> web.Application:
        return self.server.app

    @property
    def runner(self) -> web.AppRunner:
        return self.server.runner

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    def url(self, path: str = "/") -> str:
        return self.server.make_url(path)

    def ws_url(self) -> str:
        return self.server.make_url("/ws").replace("http://", "ws://")

    async def share(self, enabled: bool = True) -> None:
        await self.server.share(enabled)


async def serve(data_dir: Path, monkeypatch: Any, **config: Any) -> AsyncIterator[Served]:
    """The ``lan_server`` fixture's server, as the old handle; closed afterwards."""
    options: dict[str, Any] = {"heartbeat_seconds": 5.0, **config}
    server = await start_tandem(data_dir, lan_peers_on_loopback=True, access_log=True, **options)
    try:
        yield Served(server)
    finally:
        await server.close()


async def make_invite(served: Any, role: str, name: str = "Ana") -> tuple[str, str]:
    """(invite id, token) for a new invite, made through the running server's database."""
    from server.appkeys import DOMAIN
    from server.security import invites

    made = await served.app[DOMAIN].write(invites.create, name, role)
    return made.invite.id, made.token


async def project_names(served: Any) -> list[str]:
    from server.appkeys import DOMAIN

    domain = served.app[DOMAIN]
    return [p.name for p in await domain.read(domain.list_projects)]


async def join(
    browser: aiohttp.ClientSession, base: str, token: str, **kwargs: Any
) -> aiohttp.ClientResponse:
    """Open an invite link as a browser does: the page that asks, then its Join button.

    Returns the POST's response (read, so its headers and cookies stay at hand); extra
    arguments (``ssl``, ``allow_redirects``) go to both requests.
    """
    redirects = kwargs.pop("allow_redirects", True)
    async with browser.get(f"{base}/join?token={token}", **kwargs) as page:
        text = await page.text()
        assert page.status == 200, text
    found = re.search(r'name="token" value="([^"]*)"', text)
    assert found is not None, text
    form = {"token": html.unescape(found.group(1))}
    async with browser.post(
        f"{base}/join", data=form, headers={"Origin": base}, allow_redirects=redirects, **kwargs
    ) as resp:
        await resp.read()
        return resp
