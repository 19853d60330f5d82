"""Second-round hardening over real sockets: checklist rows 26, 27, 29 and 30.

The LAN peer is played from 127.0.0.2 (see tests/test_security_support.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from server.security import invites
from server.security.throttle import ThrottlePolicy
from tests.test_security_support import LAN_PEER, Served, serve

ATTEMPTS = 300


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    async for s in serve(tmp_path, monkeypatch):
        await s.share()
        yield s


# Row 26 ------------------------------------------------------------------------------


async def test_many_wrong_credentials_at_once_are_throttled_after_a_few(served: Served) -> None:
    connector = aiohttp.TCPConnector(local_addr=(LAN_PEER, 0), limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as lan:

        async def attempt() -> int:
            headers = {"Authorization": f"Bearer {invites.new_secret()}"}
            async with lan.get(served.url("/api/v1/projects"), headers=headers) as resp:
                return resp.status

        statuses = await asyncio.gather(*(attempt() for _ in range(ATTEMPTS)))
    checked = statuses.count(401)
    free = ThrottlePolicy().free_failures
    # The free mistakes, then 429 without looking; a loaded machine may let one or two
    # more through as the first delay (0.5 s) runs out.
    assert free <= checked <= free + 3, statuses
    assert statuses.count(429) == ATTEMPTS - checked


# Row 29 ------------------------------------------------------------------------------


async def test_odd_requests_are_bad_requests_not_server_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    web_root = tmp_path / "web"
    (web_root / "assets").mkdir(parents=True)
    (web_root / "index.html").write_text("<!doctype html><title>Tandem</title>")
    deep = "[" * 400_000 + "]" * 400_000
    async for served in serve(tmp_path / "data", monkeypatch, web_root=web_root):
        async with aiohttp.ClientSession() as local:
            for path in ("/%00", "/a%00b", "/assets/x%00.js"):
                async with local.get(served.url(path)) as resp:
                    assert resp.status == 400, path
            headers = {"Content-Type": "application/json", "Origin": served.url("").rstrip("/")}
            async with local.post(
                served.url("/api/v1/projects"), data=deep, headers=headers
            ) as resp:
                assert resp.status == 400, await resp.text()
                body = await resp.json()
                assert body["error"]["code"] == "ERROR_CODE_INVALID_ARGUMENT"
            # Still serving.
            async with local.get(served.url("/api/health")) as resp:
                assert resp.status == 200
