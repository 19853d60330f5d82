"""The running server: restart persistence, ports, the LAN listener and the web UI files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from server.config import ServerConfig
from server.runner import PortInUseError, start_server
from tests.api_client import ApiClient


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path / "data")
    async with aiohttp.ClientSession() as session:
        first = await start_server(config)
        try:
            api = ApiClient(first.url, session)
            pid = (await api.make_project("KEEP", "Kept"))["id"]
            task = await api.make_task(pid, "Still here")
        finally:
            await first.close()
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(first.url + "api/health")

        second = await start_server(config)
        try:
            api = ApiClient(second.url, session)
            assert (await api.get(f"/api/v1/tasks/{task['id']}")).json == task
            assert (await api.get(f"/api/v1/projects/{pid}")).json["key"] == "KEEP"
        finally:
            await second.close()


async def test_a_taken_port_raises_port_in_use(tmp_path: Path) -> None:
    first = await start_server(ServerConfig(data_dir=tmp_path / "a"))
    try:
        with pytest.raises(PortInUseError) as caught:
            await start_server(ServerConfig(data_dir=tmp_path / "b", port=first.port))
        assert str(first.port) in str(caught.value)
    finally:
        await first.close()


async def test_lan_listener_can_be_switched_on_and_off(tmp_path: Path) -> None:
    # 127.0.0.2 stands in for a LAN interface: a second address, still loopback.
    running = await start_server(ServerConfig(data_dir=tmp_path / "data"))
    try:
        assert running.lan_urls == []
        urls = await running.set_lan(True, "127.0.0.2")
        assert urls == [f"http://127.0.0.2:{running.lan_port}/"]
        async with aiohttp.ClientSession() as session, session.get(urls[0] + "api/health") as resp:
            assert resp.status == 200
        assert await running.set_lan(False) == []
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                async with session.get(urls[0] + "api/health"):
                    pass
            async with session.get(running.url + "api/health") as resp:
                assert resp.status == 200
    finally:
        await running.close()


async def test_overlapping_sharing_switches_leave_one_listener(tmp_path: Path) -> None:
    running = await start_server(ServerConfig(data_dir=tmp_path / "data"))
    try:
        results = await asyncio.gather(*(running.set_lan(True, "127.0.0.2") for _ in range(5)))
        assert all(urls == results[0] for urls in results)
        await running.set_lan(False)
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                async with session.get(results[0][0] + "api/health"):
                    pass
    finally:
        await running.close()


@pytest.fixture
def built_ui(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>Tandem board</title>")
    (root / "assets" / "app-1234.js").write_text("console.log('hi')")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


async def test_serves_the_built_web_ui(tmp_path: Path, built_ui: Path) -> None:
    running = await start_server(ServerConfig(data_dir=tmp_path / "data", web_root=built_ui))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(running.url) as resp:
                assert resp.status == 200
                assert "Tandem board" in await resp.text()
            async with session.get(running.url + "assets/app-1234.js") as resp:
                assert resp.status == 200
                assert "immutable" in resp.headers["Cache-Control"]
            # Client-side routes get the page; missing files do not.
            async with session.get(running.url + "projects/abc/board") as resp:
                assert "Tandem board" in await resp.text()
            async with session.get(running.url + "assets/missing.js") as resp:
                assert resp.status == 404
            async with session.get(running.url + "..%2Fsecret.txt") as resp:
                assert "not for the web" not in await resp.text()
            async with session.get(running.url + "api/nothing") as resp:
                assert resp.status == 404
                assert (await resp.json())["error"]["code"] == "ERROR_CODE_NOT_FOUND"
    finally:
        await running.close()


async def test_says_how_to_build_a_missing_web_ui(api: ApiClient) -> None:
    resp = await api.request("GET", "/")
    assert resp.status == 200
    assert b"make run" in resp.raw
