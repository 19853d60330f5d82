"""Fixtures for the browser end-to-end tests: a real Tandem server on a thread (restartable on the
same port and data directory, from the one builder in tests/fixtures.py) and Debian's Chromium
driven by Playwright."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from server import security
from server.security.state import SECURITY
from tests.fixtures import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    WEB_DIST,
    ServerThread,
    client_from,
    make_project,
)

# Playing a LAN peer on one machine: a browser's connection to 127.0.0.2 comes from 127.0.0.1, so
# once sharing is on only this address counts as "this machine"; the test's own owner calls use it.
OWNER_ADDRESS = "127.0.0.3"
LAN_ADDRESS = "127.0.0.2"

SCREENSHOTS = ROOT / "artifacts" / "screenshots"


class LiveServer(ServerThread):
    """The built web UI served by Tandem on its own loop thread; stop() and start() keep the
    port and the data; the owner's REST calls and LAN sharing as the desktop app does them."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, web_root=WEB_DIST, heartbeat_seconds=2.0, access_log=True)
        self._source: str | None = None
        self.lan_port = 0

    def make_project(
        self, tasks: Iterable[Mapping[str, Any]] = (), *, key: str = "WEB", name: str = "Website"
    ) -> dict[str, Any]:
        """A project with ``tasks`` (REST bodies, in order), as the desktop owner makes it."""

        async def made() -> dict[str, Any]:
            async with self._owner_session() as session:
                return await make_project(
                    session, self.url, key=key, name=name, tasks=tasks, headers={"Origin": self.url}
                )

        return self.run(made())

    def _owner_session(self) -> aiohttp.ClientSession:
        return client_from(self._source) if self._source else aiohttp.ClientSession()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A REST call as the desktop owner, JSON in and out."""
        data = json.dumps(body).encode() if body is not None else None
        source = (self._source, 0) if self._source else None
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=source)
        try:
            headers = {"Content-Type": "application/json", "Origin": self.url}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status} {raw!r}")
        return json.loads(raw) if raw else None

    def share_on_lan(self) -> str:
        """Opens a LAN listener on 127.0.0.2 and switches sharing on; returns its URL."""
        runner = self.server.runner
        app = runner.app
        self._source = OWNER_ADDRESS
        app[SECURITY].is_local = lambda address: address == OWNER_ADDRESS

        async def share() -> int:
            site = web.TCPSite(runner, LAN_ADDRESS, 0)
            await site.start()
            port = int(runner.addresses[-1][1])
            await security.sharing_changed(app, True, [f"http://{LAN_ADDRESS}:{port}/"])
            return port

        self.lan_port = self.run(share())
        return f"http://{LAN_ADDRESS}:{self.lan_port}"

    def owner_url_while_sharing(self) -> str:
        """A URL at which a browser is still the owner once share_on_lan() is on.

        Every browser connection to a 127.x address comes from 127.0.0.1, which then plays the
        LAN; one to ::1 comes from ::1, so a listener there on the same port (the Host check
        wants that port) is this machine's own browser.
        """
        assert self._source == OWNER_ADDRESS
        runner = self.server.runner
        app = runner.app
        app[SECURITY].is_local = lambda address: address in (OWNER_ADDRESS, "::1")
        self.run(web.TCPSite(runner, "::1", self.port, reuse_address=True).start())
        return f"http://[::1]:{self.port}"

    def invite(self, role: str, name: str) -> str:
        """A new invite link (with its token) for the LAN listener."""
        return self.run(security.create_invite_link(self.app, role, name))

    def stop_sharing(self) -> None:
        """Switches LAN sharing off: the server closes remote sockets with 4403."""
        self.run(security.sharing_changed(self.app, False))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    if not (WEB_DIST / "index.html").is_file():
        pytest.skip("web/dist is not built (cd web && npm run build)")
    srv = LiveServer(tmp_path / "data")
    srv.start()
    yield srv
    if srv.is_running:
        srv.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def person(browser: Any, server: LiveServer, name: str, **kw: Any) -> Any:
    """A browser context for one person: their display name already chosen."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, **kw)
    ctx.add_init_script(
        f"if (!localStorage.getItem('tandem.displayName'))"
        f" localStorage.setItem('tandem.displayName', {json.dumps(name)});"
    )
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    return page


# What a page asks to do at its next frame waits while window.frames_.held is true, until
# release_frames(page): a test decides when "the next frame" comes. (Preact's effects also
# run 35 ms later without a frame.)
HOLD_FRAMES = """
window.frames_ = { held: false, waiting: [] };
const nextFrame = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (fn) =>
  window.frames_.held ? (window.frames_.waiting.push(fn), 0) : nextFrame(fn);
"""


def hold_frames(page: Any) -> None:
    """Lets the test hold back the page's frames (call before the page loads)."""
    page.add_init_script(HOLD_FRAMES)


def release_frames(page: Any) -> None:
    page.evaluate("window.frames_.held = false")
    page.evaluate("window.frames_.waiting.splice(0).forEach((fn) => fn(performance.now()))")


def shoot(page: Any, name: str) -> None:
    """Saves light and dark screenshots of the page as it is."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{scheme}.png"))
    page.emulate_media(color_scheme="light")
