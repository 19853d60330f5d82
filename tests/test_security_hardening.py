"""Second-round hardening over real sockets: checklist rows 26, 27, 29 and 30.

The LAN peer is played from 127.0.0.2 (see tests/test_security_support.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from pathlib import Path

import aiohttp
import pytest

from server import paths
from server.appkeys import DOMAIN
from server.config import ServerConfig
from server.runner import start_server
from server.security import invites, tls
from server.security.state import SESSION_COOKIE
from server.security.throttle import ThrottlePolicy
from tests.fixtures import LAN_PEER, NewServer, TandemServer, client_from
from tests.test_security_support import join, make_invite

ATTEMPTS = 300


@pytest.fixture
async def served(lan_server: TandemServer) -> TandemServer:
    await lan_server.share()
    return lan_server


# Row 26 ------------------------------------------------------------------------------


async def test_many_wrong_credentials_at_once_are_throttled_after_a_few(
    served: TandemServer,
) -> None:
    connector = aiohttp.TCPConnector(local_addr=(LAN_PEER, 0), limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as lan:

        async def attempt() -> int:
            headers = {"Authorization": f"Bearer {invites.new_secret()}"}
            async with lan.get(served.make_url("/api/v1/projects"), headers=headers) as resp:
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
    tmp_path: Path, new_server: NewServer
) -> None:
    web_root = tmp_path / "web"
    (web_root / "assets").mkdir(parents=True)
    (web_root / "index.html").write_text("<!doctype html><title>Tandem</title>")
    deep = "[" * 400_000 + "]" * 400_000
    served = await new_server(web_root=web_root)
    async with aiohttp.ClientSession() as local:
        for path in ("/%00", "/a%00b", "/assets/x%00.js"):
            async with local.get(served.make_url(path)) as resp:
                assert resp.status == 400, path
        headers = {"Content-Type": "application/json", "Origin": served.base_url}
        async with local.post(
            served.make_url("/api/v1/projects"), data=deep, headers=headers
        ) as resp:
            assert resp.status == 400, await resp.text()
            body = await resp.json()
            assert body["error"]["code"] == "ERROR_CODE_INVALID_ARGUMENT"
        # Still serving.
        async with local.get(served.make_url("/api/health")) as resp:
            assert resp.status == 200


# Row 27 ------------------------------------------------------------------------------


async def test_a_link_from_another_page_never_replaces_a_session_unasked(
    served: TandemServer,
) -> None:
    _, ana = await make_invite(served, "editor", "Ana")
    _, mallory = await make_invite(served, "viewer", "Mallory")
    base = served.base_url
    async with client_from(LAN_PEER, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        joined = await join(browser, base, ana, allow_redirects=False)
        assert joined.status == 303
        ana_cookie = joined.cookies[SESSION_COOKIE].value

        # Another host's page sends the browser to its own invite link: a page that asks.
        async with browser.get(served.make_url(f"/join?token={mallory}")) as page:
            assert page.status == 200
            assert SESSION_COOKIE not in page.cookies
            text = await page.text()
        assert "signed in as <strong>Ana</strong>" in text and "Join as Mallory" in text
        # ...or posts its token straight to /join, as a form would: refused.
        for headers in ({"Origin": "http://evil.example"}, {}):
            async with browser.post(
                served.make_url("/join"), data={"token": mallory}, headers=headers
            ) as resp:
                assert resp.status in (403, 415), headers
                assert SESSION_COOKIE not in resp.cookies
        cookies = {c.key: c.value for c in browser.cookie_jar}
        assert cookies[SESSION_COOKIE] == ana_cookie
        project = {"key": "ANA", "name": "Still Ana"}
        async with browser.post(
            served.make_url("/api/v1/projects"), json=project, headers={"Origin": base}
        ) as resp:
            assert resp.status in (200, 201), await resp.text()  # an editor: still Ana

        # Her own link again while signed in as her: straight to the board, no new session.
        async with browser.get(served.make_url(f"/join?token={ana}"), allow_redirects=False) as r:
            assert r.status == 303 and SESSION_COOKIE not in r.cookies


# Row 30 ------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes (Windows: the per-user ACL)")
async def test_the_data_folder_and_its_files_are_the_owners_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # As an older Tandem (or a umask of 022) left them.
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    db = paths.database_path(data_dir)
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)
    running = await start_server(ServerConfig(data_dir=data_dir, web_root=tmp_path / "none"))
    try:
        async with aiohttp.ClientSession() as local:
            project = {"key": "OWN", "name": "Mine"}
            headers = {"Origin": running.url.rstrip("/")}
            async with local.post(
                running.url + "api/v1/projects", json=project, headers=headers
            ) as resp:
                assert resp.status in (200, 201)
        backup = await running.app[DOMAIN].backup_async(paths.backups_dir(data_dir) / "b.sqlite3")
        await asyncio.to_thread(tls.server_context, data_dir, [LAN_PEER])
        wal, shm = db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
        assert wal.exists() and shm.exists()
        for folder in (data_dir, backup.parent, tls.cert_paths(data_dir)[0].parent):
            assert mode(folder) == 0o700, folder
        for file in (db, wal, shm, backup, tls.cert_paths(data_dir)[1]):
            assert mode(file) == 0o600, file
    finally:
        await running.close()


async def test_joining_again_and_again_keeps_a_bounded_number_of_sessions(
    served: TandemServer,
) -> None:
    _, ana = await make_invite(served, "viewer", "Ana")
    base = served.base_url
    for _ in range(invites.MAX_SESSIONS_PER_INVITE + 15):
        async with client_from(LAN_PEER, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            assert (await join(browser, base, ana, allow_redirects=False)).status == 303
    rows = await asyncio.to_thread(
        lambda: (
            sqlite3.connect(paths.database_path(served.data_dir))
            .execute("SELECT count(*) FROM session")
            .fetchone()[0]
        )
    )
    assert rows == invites.MAX_SESSIONS_PER_INVITE


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes (Windows: the per-user ACL)")
def test_the_log_folder_is_the_owners_only(tmp_path: Path) -> None:
    from app.logs import setup_logging

    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o755)
    os.chmod(log_dir, 0o755)
    try:
        path = setup_logging(log_dir)
        logging.getLogger("tandem.test").info("a line naming a project")
        assert mode(log_dir) == 0o700 and mode(path) == 0o600
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
