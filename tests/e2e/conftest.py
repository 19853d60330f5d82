"""Fixtures for the browser end-to-end tests: a real Tandem server on a thread (restartable on the
same port and data directory) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from server.app import create_app
from server.config import ServerConfig

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

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A REST call as the desktop owner, JSON in and out."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Origin": self.url},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None


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
