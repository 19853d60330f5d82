"""The content security policy as a real browser applies it: our page's WebSocket to /ws
connects under ``connect-src 'self'``, a WebSocket to any other host is blocked.

Debian's Chromium driven by Playwright; skips where either is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import CHROMIUM, CHROMIUM_ARGS, LOCAL, NewServer, TandemServer

PAGE = """<!doctype html><meta charset="utf-8"><title>csp</title>
<script src="/assets/probe.js"></script>
"""

# Scripts must come from our origin (script-src 'self'), so the probe is a file, not inline.
# The other host is a second loopback address: refused by the policy before any connection.
PROBE = """
window.results = {};
function probe(name, url) {
  try {
    const ws = new WebSocket(url);
    ws.onopen = () => { window.results[name] = "open"; ws.close(); };
    ws.onerror = () => { window.results[name] = window.results[name] || "error"; };
  } catch (e) {
    window.results[name] = "blocked";
  }
}
probe("own", `ws://${location.host}/ws`);
probe("other", `ws://127.0.0.9:${location.port}/ws`);
"""


@pytest.fixture
async def served(tmp_path: Path, new_server: NewServer) -> TandemServer:
    root = tmp_path / "web"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(PAGE)
    (root / "assets" / "probe.js").write_text(PROBE)
    return await new_server(
        lan_peers_on_loopback=True, heartbeat_seconds=5.0, access_log=True, web_root=root
    )


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
async def test_own_websocket_connects_and_others_are_blocked_by_the_policy(served) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    violations: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()

            def console(message: Any) -> None:
                if "Content Security Policy" in message.text:
                    violations.append(message.text)

            page.on("console", console)
            await page.goto(f"http://{LOCAL}:{served.port}/")
            await page.wait_for_function(
                "window.results && window.results.own && window.results.other", timeout=10_000
            )
            results = await page.evaluate("window.results")
        finally:
            await browser.close()
    assert results["own"] == "open"
    assert results["other"] in ("blocked", "error")
    assert any("127.0.0.9" in v and "connect-src" in v for v in violations), violations
