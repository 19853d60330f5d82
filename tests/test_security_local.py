"""Local-mode hardening over real sockets: checklist rows 1-3 and the security headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server.security.headers import SECURITY_HEADERS
from tests.fixtures import LOCAL
from tests.test_security_support import project_names
from tests.ws_client import ws_url

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


# Row 1 -------------------------------------------------------------------------------


async def test_websocket_with_foreign_origin_is_refused_without_upgrade(lan_server, http) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(lan_server), headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    assert lan_server.app is not None
    # Our own page's origin, and programs that send none, are let in.
    for headers in ({"Origin": f"http://{LOCAL}:{lan_server.port}"}, {}):
        ws = await http.ws_connect(ws_url(lan_server), headers=headers)
        await ws.close()


@pytest.mark.parametrize(
    "origin",
    ["null", "http://127.0.0.1:1", "https://127.0.0.1.evil.example", "file://", "http://localhost"],
)
async def test_websocket_origin_must_match_scheme_host_and_port(lan_server, http, origin) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(lan_server), headers={"Origin": origin})
    assert refused.value.status == 403


# Row 2 -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/health", "/api/v1/projects", "/", "/ws", "/join"])
async def test_foreign_host_is_refused_on_every_route(lan_server, http, path) -> None:
    for host in (
        "evil.example",
        f"evil.example:{lan_server.port}",
        f"{LOCAL}:1",
        "127.0.0.1.nip.io",
    ):
        async with http.get(lan_server.make_url(path), headers={"Host": host}) as resp:
            assert resp.status == 421, (host, path)
            assert "Tandem" not in await resp.text()


async def test_loopback_names_with_our_port_are_accepted(lan_server, http) -> None:
    for host in (
        f"127.0.0.1:{lan_server.port}",
        f"localhost:{lan_server.port}",
        f"LOCALHOST:{lan_server.port}",
    ):
        async with http.get(lan_server.make_url("/api/health"), headers={"Host": host}) as resp:
            assert resp.status == 200, host


async def test_two_host_headers_are_refused(lan_server) -> None:
    port = lan_server.port
    answer = await raw_request(
        port,
        f"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    status = int(answer.split(b" ", 2)[1])
    # aiohttp's parser refuses it (400) before any handler; the guard would say 421.
    assert status in (400, 421)
    assert b'"projects"' not in answer


# Row 3 -------------------------------------------------------------------------------


async def test_cross_site_form_post_changes_nothing(lan_server, http) -> None:
    url = lan_server.make_url("/api/v1/projects")
    attempts: list[dict[str, Any]] = [
        # A form on evil.example posting to us: foreign Origin.
        {"data": "key=EVIL&name=x", "headers": {
            "Origin": "http://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
        }},
        # The same with the Origin stripped (old browsers, privacy tools): simple type.
        {"data": "key=EVIL&name=x", "headers": {
            "Content-Type": "application/x-www-form-urlencoded"}},
        {"data": '{"key": "EVIL", "name": "x"}', "headers": {
            "Content-Type": "text/plain"}},
        {"data": "--b\r\n\r\n--b--", "headers": {
            "Content-Type": "multipart/form-data; boundary=b"}},
        # fetch(..., {mode: "no-cors", method: "POST"}) with no body has no Content-Type.
        {"data": None, "headers": {}},
        # A JSON body from a foreign page (would need CORS, which we never grant).
        {"json": {"key": "EVIL", "name": "x"}, "headers": {
            "Origin": "http://evil.example"}},
    ]  # fmt: skip
    for attempt in attempts:
        async with http.post(url, **attempt) as resp:
            assert resp.status in (403, 415), attempt
            body = await resp.json()
            assert body["error"]["code"] in (
                "ERROR_CODE_PERMISSION_DENIED",
                "ERROR_CODE_UNSUPPORTED",
            )
    assert await project_names(lan_server) == []


async def test_img_get_against_a_change_changes_nothing(lan_server, http) -> None:
    async with http.post(
        lan_server.make_url("/api/v1/projects"), json={"key": "WEB", "name": "Web"}
    ) as resp:
        assert resp.status in (200, 201), await resp.text()
        project = await resp.json()
    project_id = project.get("id") or project.get("project", {}).get("id")
    async with http.post(
        lan_server.make_url(f"/api/v1/projects/{project_id}/sprints"), json={"name": "S1"}
    ) as resp:
        assert resp.status in (200, 201), await resp.text()
        sprint_id = (await resp.json())["id"]
    # What an <img src=...> on a hostile page would request: GETs of change URLs.
    for path in (
        f"/api/v1/sprints/{sprint_id}/start",
        f"/api/v1/sprints/{sprint_id}/complete",
        f"/api/v1/projects/{project_id}?_method=DELETE",
        f"/api/v1/projects/{project_id}/delete",
    ):
        async with http.get(
            lan_server.make_url(path), headers={"Referer": "http://evil.example/"}
        ) as r:
            assert r.status in (200, 400, 404, 405), path
    assert await project_names(lan_server) == ["Web"]
    async with http.get(lan_server.make_url(f"/api/v1/sprints/{sprint_id}")) as resp:
        assert (await resp.json()).get("state", "SPRINT_STATE_PLANNED") == "SPRINT_STATE_PLANNED"


async def test_same_origin_json_change_is_accepted(lan_server, http) -> None:
    async with http.post(
        lan_server.make_url("/api/v1/projects"),
        json={"key": "OK", "name": "Fine"},
        headers={"Origin": f"http://{LOCAL}:{lan_server.port}"},
    ) as resp:
        assert resp.status in (200, 201)
    assert await project_names(lan_server) == ["Fine"]


# Headers -----------------------------------------------------------------------------


async def test_every_response_carries_the_security_headers(lan_server, http) -> None:
    requests = [
        ("GET", "/", {}),
        ("GET", "/api/health", {}),
        ("GET", "/api/v1/nothing-here", {}),
        ("GET", "/api/health", {"Host": "evil.example"}),
        ("POST", "/api/v1/projects", {"Content-Type": "text/plain"}),
    ]
    for method, path, headers in requests:
        async with http.request(method, lan_server.make_url(path), headers=headers) as resp:
            for name, value in SECURITY_HEADERS.items():
                assert resp.headers.get(name) == value, (path, name)
            csp = resp.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp
            assert "script-src 'self'" in csp
            directives = dict(d.strip().partition(" ")[::2] for d in csp.split(";"))
            # Only our own origin; a bare ws:/wss: would let a script talk to any host.
            assert directives["connect-src"] == "'self'"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
