"""Announcing a shared board on the LAN with mDNS/DNS-SD while sharing is on.

A colleague's "Join" page or a script browses ``_tandem._tcp.local.`` and finds the
address, port and whether the listener uses TLS (with the certificate's fingerprint
to check). The announcement is withdrawn (a goodbye packet) when sharing stops.
Nothing secret is announced: joining still needs an invite.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from yarl import URL
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

import server
from server.security import hosts
from server.security.state import SECURITY

log = logging.getLogger(__name__)

SERVICE_TYPE = "_tandem._tcp.local."


@dataclass
class Announcement:
    zeroconf: AsyncZeroconf
    info: AsyncServiceInfo
    # The repeated announcements zeroconf sends in the background after registering.
    broadcast: asyncio.Future[object] | None = None


def _label(text: str) -> str:
    clean = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return (clean or "tandem")[:40]


def service_info(urls: Sequence[str], fingerprint: str = "") -> AsyncServiceInfo | None:
    """What to announce for the LAN listener at ``urls``; None when there is no address."""
    addresses: list[str] = []
    port = 0
    tls = False
    for url in urls:
        parsed = URL(url)
        port = parsed.port or port
        tls = parsed.scheme == "https"
        host = parsed.host or ""
        try:
            if ipaddress.ip_address(host).version == 4 and host not in ("0.0.0.0",):
                addresses.append(host)
        except ValueError:
            continue
    if not addresses:
        addresses = hosts.lan_addresses()
    if not addresses or not port:
        return None
    hostname = _label(socket.gethostname())
    properties = {
        "path": "/",
        "join": "/join",
        "tls": "1" if tls else "0",
        "version": server.__version__,
    }
    if fingerprint:
        properties["sha256"] = fingerprint
    return AsyncServiceInfo(
        SERVICE_TYPE,
        f"Tandem on {hostname}.{SERVICE_TYPE}",
        addresses=[socket.inet_aton(a) for a in addresses],
        port=port,
        properties=properties,
        server=f"tandem-{hostname}.local.",
    )


async def update(app: web.Application, enabled: bool, urls: Sequence[str]) -> None:
    """Announce (again) for ``urls``, or withdraw the announcement."""
    state = app[SECURITY]
    current = state.discovery
    if isinstance(current, Announcement):
        state.discovery = None
        if current.broadcast is not None and not current.broadcast.done():
            current.broadcast.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await current.broadcast
        try:
            goodbye = await current.zeroconf.async_unregister_service(current.info)
            # Say goodbye on the network before closing, but never hold up a shutdown for it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(goodbye, 2.0)
        finally:
            await current.zeroconf.async_close()
    if not enabled:
        return
    info = service_info(urls, state.sharing.fingerprint)
    if info is None:
        log.info("no LAN address to announce with mDNS")
        return
    interfaces = [socket.inet_ntoa(a) for a in info.addresses]
    zc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
    try:
        broadcast = await zc.async_register_service(info, allow_name_change=True)
    except BaseException:
        await zc.async_close()
        raise
    state.discovery = Announcement(zc, info, asyncio.ensure_future(broadcast))
    log.info("announced on the LAN as %r", info.name)
