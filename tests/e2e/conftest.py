"""Fixtures for the browser end-to-end tests: a real Tandem server on a thread (restartable on the
same port and data directory) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from server import security
from server.app import create_app
from server.config import ServerConfig
from server.security.state import SECURITY

T = TypeVar("T")
# Playing a LAN peer on one machine: a browser's connection to 127.0.0.2 comes from 127.0.0.1, so
# once sharing is on only this address counts as "this machine"; the test's own owner calls use it.
OWNER_ADDRESS = "127.0.0.3"
LAN_ADDRESS = "127.0.0.2"

CHROMIUM = Path("/usr/bin/chromium")
WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class LiveServer:
    """A Tandem server on its own event loop thread; stop() and start() keep the port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._source: str | None = None
        self.lan_port = 0

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=30)

    async def _start(self) -> None:
        config = ServerConfig(
            data_dir=self.data_dir, web_root=WEB_DIST, port=self.port, heartbeat_seconds=2.0
        )
        runner = web.AppRunner(create_app(config))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    def stop(self) -> None:
        assert self._loop is not None and self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=30)
        self._loop.close()
        self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def make_project(
        self, tasks: Iterable[Mapping[str, Any]] = (), *, key: str = "WEB", name: str = "Website"
    ) -> dict[str, Any]:
        """A project with ``tasks`` (REST bodies, in order), as the desktop owner makes it."""
        project: dict[str, Any] = self.api("POST", "/api/v1/projects", {"name": name, "key": key})
        for task in tasks:
            self.api("POST", f"/api/v1/projects/{project['id']}/tasks", dict(task))
        return project

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

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine on the server's loop (for what only the app object can do)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def share_on_lan(self) -> str:
        """Opens a LAN listener on 127.0.0.2 and switches sharing on; returns its URL."""
        assert self._runner is not None
        runner = self._runner
        app = runner.app
        self._source = OWNER_ADDRESS
        app[SECURITY].is_local = lambda address: address == OWNER_ADDRESS
        app[SECURITY].announce = False

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
        assert self._runner is not None and self._source == OWNER_ADDRESS
        runner = self._runner
        app = runner.app
        app[SECURITY].is_local = lambda address: address in (OWNER_ADDRESS, "::1")
        self.run(web.TCPSite(runner, "::1", self.port, reuse_address=True).start())
        return f"http://[::1]:{self.port}"

    def invite(self, role: str, name: str) -> str:
        """A new invite link (with its token) for the LAN listener."""
        assert self._runner is not None
        return self.run(security.create_invite_link(self._runner.app, role, name))

    def stop_sharing(self) -> None:
        """Switches LAN sharing off: the server closes remote sockets with 4403."""
        assert self._runner is not None
        self.run(security.sharing_changed(self._runner.app, False))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    if not (WEB_DIST / "index.html").is_file():
        pytest.skip("web/dist is not built (cd web && npm run build)")
    srv = LiveServer(tmp_path / "data")
    srv.start()
    yield srv
    if srv._runner is not None:
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


def shoot(page: Any, name: str) -> None:
    """Saves light and dark screenshots of the page as it is."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{scheme}.png"))
    page.emulate_media(color_scheme="light")
