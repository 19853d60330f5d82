"""TLS on the LAN listener: HTTPS for colleagues with a self-signed certificate, HTTP on loopback.

A "LAN" peer is played from 127.0.0.2, as in the other security tests; the LAN listener
is bound there, so nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server import cli
from server.runner import RunningServer
from server.security import tls
from server.security.state import SECURITY, SESSION_COOKIE
from tests.fixtures import LAN_PEER, client_from, start_tandem
from tests.test_security_support import join


async def start_shared(data_dir: Path, **config: Any) -> RunningServer:
    """The real runner with its LAN listener on 127.0.0.2 (a LAN peer to the server)."""
    options: dict[str, Any] = {"lan_host": LAN_PEER, "lan_tls": True, **config}
    running = await start_tandem(data_dir, lan_peers_on_loopback=True, **options)
    await running.set_lan(True)
    return running


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_shared(tmp_path / "data")
    try:
        yield running
    finally:
        await running.close()


def pinned(fingerprint: str) -> aiohttp.Fingerprint:
    return aiohttp.Fingerprint(bytes.fromhex(fingerprint.replace(":", "")))


async def served_fingerprint(host: str, port: int) -> str:
    """The fingerprint of the certificate the listener really presents."""
    # A blocking handshake: on another thread, so the server on this loop can answer it.
    pem = await asyncio.to_thread(ssl.get_server_certificate, (host, port), timeout=10)
    der = ssl.PEM_cert_to_DER_cert(pem)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


async def make_invite(running: RunningServer, role: str, name: str) -> str:
    """The token of a new invite made through the running server."""
    link = await running.create_invite(role, name)
    return link.split("token=", 1)[1]


def test_serve_takes_lan_tls_from_the_command_line(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli._add_serve_arguments(parser)
    plain = cli.config_from_args(parser.parse_args(["--data-dir", str(tmp_path), "--lan"]))
    assert plain.lan and not plain.lan_tls
    args = parser.parse_args(["--data-dir", str(tmp_path), "--lan", "--lan-tls"])
    assert cli.config_from_args(args).lan_tls


async def test_lan_listener_speaks_https_and_loopback_stays_http(shared: RunningServer) -> None:
    [lan_url] = shared.lan_urls
    assert lan_url == f"https://{LAN_PEER}:{shared.lan_port}/"
    assert shared.url.startswith("http://127.0.0.1:")
    fingerprint = shared.lan_fingerprint
    assert fingerprint == tls.known_fingerprint(shared.config.data_dir) != ""
    assert shared.app[SECURITY].sharing.fingerprint == fingerprint
    async with aiohttp.ClientSession() as local, local.get(shared.url + "api/health") as resp:
        assert resp.status == 200
    # Plain HTTP to the LAN port gets no answer: the TLS handshake fails first.
    async with client_from(LAN_PEER) as lan:
        with pytest.raises(aiohttp.ClientError):
            async with lan.get(f"http://{LAN_PEER}:{shared.lan_port}/api/health") as resp:
                await resp.read()


async def test_https_client_pinning_the_fingerprint_needs_a_valid_invite(
    shared: RunningServer,
) -> None:
    async with aiohttp.ClientSession() as local:
        made = {"key": "TLS", "name": "Encrypted"}
        async with local.post(shared.url + "api/v1/projects", json=made) as resp:
            assert resp.status in (200, 201), await resp.text()
    viewer = await make_invite(shared, "viewer", "Vic")
    base = shared.lan_urls[0].rstrip("/")
    check = pinned(shared.lan_fingerprint)
    async with client_from(LAN_PEER) as lan:
        async with lan.get(f"{base}/api/v1/projects", ssl=check) as resp:
            assert resp.status == 401
            assert "Encrypted" not in await resp.text()
        wrong = {"Authorization": "Bearer " + "x" * 43}
        async with lan.get(f"{base}/api/v1/projects", ssl=check, headers=wrong) as resp:
            assert resp.status == 401
        ok = {"Authorization": f"Bearer {viewer}"}
        async with lan.get(f"{base}/api/v1/projects", ssl=check, headers=ok) as resp:
            assert resp.status == 200
            assert "Encrypted" in await resp.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await lan.ws_connect(f"wss://{LAN_PEER}:{shared.lan_port}/ws", ssl=check)
        assert refused.value.status == 401
        ws = await lan.ws_connect(f"wss://{LAN_PEER}:{shared.lan_port}/ws", ssl=check, headers=ok)
        await ws.close()

    # A certificate with another fingerprint is not the board's: the client refuses it.
    other = "00:" * 31 + "00"
    async with client_from(LAN_PEER) as lan:
        with pytest.raises(aiohttp.ServerFingerprintMismatch):
            await lan.get(f"{base}/api/health", ssl=pinned(other))


async def test_browser_flow_over_https_sets_a_secure_cookie_and_accepts_https_origins(
    shared: RunningServer,
) -> None:
    editor = await make_invite(shared, "editor", "Eda")
    base = shared.lan_urls[0].rstrip("/")
    check = pinned(shared.lan_fingerprint)
    # A browser's cookie jar: it keeps cookies from an IP address.
    async with client_from(LAN_PEER, cookie_jar=aiohttp.CookieJar(unsafe=True)) as lan:
        r = await join(lan, base, editor, ssl=check, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/"
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        for flag in ("HttpOnly", "Secure", "SameSite=Strict"):
            assert flag.lower() in cookie.lower(), cookie
        own = {"Origin": base}
        project = {"key": "WEB", "name": "Site"}
        async with lan.post(f"{base}/api/v1/projects", json=project, headers=own, ssl=check) as r:
            assert r.status in (200, 201), await r.text()
        foreign = {"Origin": "https://evil.example"}
        other = {"key": "EVL", "name": "Evil"}
        async with lan.post(f"{base}/api/v1/projects", json=other, headers=foreign, ssl=check) as r:
            assert r.status == 403
        async with lan.get(f"{base}/api/v1/projects", ssl=check) as r:
            names = [p["name"] for p in (await r.json())["projects"]]
            assert names == ["Site"]


async def test_client_trusting_the_generated_certificate_verifies_it(
    shared: RunningServer,
) -> None:
    cert_path, _ = tls.cert_paths(shared.config.data_dir)
    # Verification in full: chain (the certificate itself) and the address in it.
    trusting = ssl.create_default_context(cafile=str(cert_path))
    token = await make_invite(shared, "viewer", "Ana")
    async with client_from(LAN_PEER) as lan:
        url = shared.lan_urls[0] + "api/v1/projects"
        async with lan.get(url, ssl=trusting, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200
        # With the system's trust store only, a self-signed certificate is refused.
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await lan.get(url, ssl=ssl.create_default_context())


async def test_certificate_is_made_once_and_reused_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cert_path, key_path = tls.cert_paths(data_dir)
    assert not cert_path.exists()
    first = await start_shared(data_dir)
    try:
        first_fingerprint = first.lan_fingerprint
        assert await served_fingerprint(LAN_PEER, first.lan_port) == first_fingerprint
    finally:
        await first.close()
    cert_bytes = cert_path.read_bytes()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600

    second = await start_shared(data_dir)
    try:
        assert second.lan_fingerprint == first_fingerprint
        assert await served_fingerprint(LAN_PEER, second.lan_port) == first_fingerprint
        # Sharing off and on again at run time keeps the certificate too.
        await second.set_lan(False)
        assert second.lan_urls == [] and second.lan_fingerprint == ""
        await second.set_lan(True)
        assert second.lan_fingerprint == first_fingerprint
    finally:
        await second.close()
    assert cert_path.read_bytes() == cert_bytes


async def test_invite_command_prints_the_served_certificates_fingerprint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    running = await start_shared(data_dir)
    lan_port = running.lan_port
    await running.close()

    assert cli.main(["invite", "--name", "Ana", "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out.splitlines()
    [link] = [line.strip() for line in printed if "/join?token=" in line]
    assert link.startswith(f"https://{LAN_PEER}:{lan_port}/join?token=")
    label = printed.index("Certificate SHA-256 fingerprint (the browser should show the same):")
    fingerprint = printed[label + 1].strip()

    # The link and the fingerprint work with the server started again.
    again = await start_shared(data_dir, lan_port=lan_port)
    try:
        assert await served_fingerprint(LAN_PEER, again.lan_port) == fingerprint
        async with (
            client_from(LAN_PEER) as lan,
            lan.get(link, ssl=pinned(fingerprint), allow_redirects=False) as resp,
        ):
            assert resp.status == 200  # the page that asks before joining
            assert "Join as" in await resp.text()
    finally:
        await again.close()


async def test_invite_command_prints_no_fingerprint_without_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    running = await start_shared(data_dir, lan_tls=False)
    assert running.lan_urls[0].startswith("http://") and running.lan_fingerprint == ""
    await running.close()
    assert cli.main(["invite", "--name", "Ana", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "http://" in out and "fingerprint" not in out.lower()
    assert not tls.cert_paths(data_dir)[0].exists()
