"""A LAN viewer reloading while the server is down, in real Chromium. Browsers keep service
workers (and the Cache API) to secure contexts, so over plain http from another machine the
shell cannot be kept; over the LAN TLS option (``lan_tls``) it can, once the browser trusts the
board's self-signed certificate. Merely clicking through the certificate warning is not enough:
Chromium refuses a service worker on an origin with a certificate error ("An SSL certificate
error occurred when fetching the script"). Here the browser trusts exactly this certificate, by
its public key (--ignore-certificate-errors-spki-list), as a machine that installed it would.
The LAN listener is on 127.0.0.2, a loopback address, so the browser's requests still come from
this machine; what is tested is the https origin and its certificate, not the identity."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import expect

from server.security import tls
from tests.e2e.conftest import LiveServer
from tests.fixtures import CHROMIUM, CHROMIUM_ARGS, WEB_DIST

pytestmark = pytest.mark.e2e

LAN_HOST = "127.0.0.2"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[LiveServer]:
    if not (WEB_DIST / "index.html").is_file():
        pytest.skip("web/dist is not built (cd web && npm run build)")
    srv = LiveServer(tmp_path / "data")
    # The LAN listener over TLS, on the same port after a restart, so the page's origin stays.
    srv.overrides.update(lan=True, lan_tls=True, lan_host=LAN_HOST, lan_port=_free_port(LAN_HOST))
    srv.start()
    yield srv
    if srv.is_running:
        srv.stop()


def test_over_the_lan_tls_option_a_reload_while_the_server_is_down_opens_the_app(
    tls_server: LiveServer, playwright: Any
) -> None:
    lan_url = next(u for u in tls_server.server.lan_urls if u.startswith("https://"))
    project = tls_server.api("POST", "/api/v1/projects", {"key": "LAN", "name": "Shared"})
    cert, _ = tls.cert_paths(tls_server.data_dir)
    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    trusting = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}"],
    )
    ctx = trusting.new_context(viewport={"width": 1280, "height": 800})
    ctx.add_init_script("localStorage.setItem('tandem.displayName', 'Lee')")
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{lan_url.rstrip('/')}/#/p/{project['id']}")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "live")
    assert page.evaluate("() => window.isSecureContext") is True
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)

    tls_server.stop()
    expect(indicator).not_to_have_attribute("data-state", "live")
    page.get_by_role("button", name="Add a task to Backlog").click()
    page.get_by_label("New task title").fill("Written on the LAN, offline")
    page.get_by_label("New task title").press("Enter")
    expect(indicator).to_contain_text("1 unsent")
    page.reload()
    expect(page.get_by_role("link", name=re.compile("Tandem"))).to_be_visible()
    expect(page.get_by_test_id("board-unreachable")).to_contain_text("Can't reach Tandem")

    tls_server.start()
    expect(indicator).to_have_attribute("data-state", "live", timeout=30_000)
    expect(page.get_by_test_id("card").filter(has_text="Written on the LAN")).to_have_count(1)
    trusting.close()


@pytest.fixture
def playwright() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p
