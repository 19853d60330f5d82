"""Where colleagues reach a shared board: the LAN address and a port that invite links outlive.

The machine's interfaces are faked (``ifaddr``) or the address list is passed in, so
nothing here depends on this machine's network; every client connects to loopback.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import ifaddr

from server import runner
from server.config import ServerConfig
from server.runner import RunningServer
from server.security import discovery, hosts
from tests.fixtures import start_tandem

# Plays the LAN interface's address: a second loopback address, so nothing leaves this host.
LAN_ADDRESS = "127.0.0.2"


def fake_interfaces() -> list[ifaddr.Adapter]:
    def ip(address: str | tuple[str, int, int], prefix: int) -> ifaddr.IP:
        return ifaddr.IP(address, prefix, "")

    return [
        ifaddr.Adapter("lo", "lo", [ip("127.0.0.1", 8), ip(("::1", 0, 0), 128)]),
        ifaddr.Adapter("eth0", "eth0", [ip("192.168.1.20", 24), ip(("fe80::1", 0, 2), 64)]),
        ifaddr.Adapter("eth1", "eth1", [ip("169.254.7.9", 16)]),
        ifaddr.Adapter("wlan0", "wlan0", [ip("10.0.0.5", 8), ip("192.168.1.20", 24)]),
    ]


def test_lan_addresses_come_from_the_interfaces_not_the_host_name(monkeypatch) -> None:
    monkeypatch.setattr(ifaddr, "get_adapters", fake_interfaces)
    # What Debian and Ubuntu put in /etc/hosts for the machine's own name.
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("127.0.1.1", 0))]
    )
    expected = ["192.168.1.20", "10.0.0.5"]
    assert hosts.lan_addresses() == expected
    # One list for everything that names the board on the LAN: runner and mDNS alike.
    assert runner.lan_addresses is hosts.lan_addresses
    info = discovery.service_info(["http://0.0.0.0:8766/"])
    assert info is not None
    assert [socket.inet_ntoa(a) for a in info.addresses] == expected


def loopback_port_with_a_free_next() -> int:
    """A free loopback port whose next port is free on LAN_ADDRESS too (bounded tries)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        with socket.socket() as probe:
            try:
                probe.bind((LAN_ADDRESS, port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no free pair of ports found")


async def start(data_dir: Path, **config: Any) -> RunningServer:
    """The runner sharing on LAN_ADDRESS, a second loopback address.

    Servers in these tests listen on loopback only; the default (all interfaces) is tested
    inside network namespaces, in test_lan_netns.py.
    """
    config.setdefault("lan_host", LAN_ADDRESS)
    return await start_tandem(data_dir, lan_addresses=lambda: [LAN_ADDRESS], **config)


async def health(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url + "api/health") as resp:
        return resp.status


async def test_the_lan_url_takes_the_next_port_and_keeps_it_across_toggles(
    tmp_path: Path,
) -> None:
    assert ServerConfig().lan_port == 0
    running = await start(tmp_path / "data", port=loopback_port_with_a_free_next())
    try:
        urls = await running.set_lan(True)
        # The port after ours, the same each time sharing is switched on.
        assert urls == [f"http://{LAN_ADDRESS}:{running.port + 1}/"]
        assert await health(urls[0]) == 200
        link = await running.create_invite("viewer", "Ana")
        assert link.startswith(urls[0] + "join?token=")
        assert await running.set_lan(False) == []
        assert await running.set_lan(True) == urls
        assert await health(urls[0]) == 200
    finally:
        await running.close()


async def test_lan_url_survives_a_restart(tmp_path: Path) -> None:
    first = await start(tmp_path / "data", port=loopback_port_with_a_free_next())
    try:
        urls = await first.set_lan(True)
    finally:
        await first.close()
    # A new loopback port (as `tandem serve` picks one each time): the LAN one stays.
    second = await start(tmp_path / "data")
    try:
        assert second.port != first.port
        assert await second.set_lan(True) == urls
        assert await health(urls[0]) == 200
    finally:
        await second.close()


async def test_a_taken_lan_port_falls_back_to_a_free_one(tmp_path: Path) -> None:
    running = await start(tmp_path / "data", lan_host=LAN_ADDRESS)
    try:
        with socket.socket() as squatter:
            squatter.bind((LAN_ADDRESS, running.port + 1))
            squatter.listen()
            [url] = await running.set_lan(True)
            assert running.lan_port not in (0, running.port + 1)
            assert url == f"http://{LAN_ADDRESS}:{running.lan_port}/"
            assert await health(url) == 200
    finally:
        await running.close()
