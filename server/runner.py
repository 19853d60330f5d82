"""Running the application on real sockets: a loopback listener and, when shared, a LAN one.

The loopback listener is always plain HTTP; the LAN one uses TLS when ``lan_tls`` is
set, with the self-signed certificate from ``server.security.tls``.

Binds first, then reports: ``start_server`` returns only once the sockets are
listening, and a port already in use comes back as ``PortInUseError`` rather than a
half-started server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import gc
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from yarl import URL

from server import security
from server.app import create_app
from server.appkeys import DOMAIN, FOLDER_LOCK
from server.config import ServerConfig
from server.realtime.upgrade import UpgradeSite
from server.security import limits, sharing, tls
from server.security.hosts import lan_addresses
from server.security.state import SECURITY

__all__ = ["PortInUseError", "RunningServer", "lan_addresses", "start_server", "start_server_as"]

log = logging.getLogger(__name__)

# Long polls end at shutdown, so handlers finish quickly; this bounds a stuck one.
SHUTDOWN_TIMEOUT_SECONDS = 5.0
# Connections the kernel queues before the loop accepts them: a reconnect storm of a few
# thousand clients waits in the queue instead of retrying its SYN a second later (the
# kernel caps it at net.core.somaxconn).
LISTEN_BACKLOG = 4096
# Connections asyncio accepts per wake-up of the listener (it takes its listen backlog for
# this too). Each is set up in the loop's next pass, so a batch of thousands made one pass
# of half a second that every other request waited behind; in batches, a storm's accepts
# take turns with the serving of those already in. Since an upgrade waiting for its place
# costs only its parse (server.realtime.upgrade), 256 let a storm of 2,000 through the
# accept queue faster (a new connection's /api/health waited at worst 120-220 ms, not
# 150-300 ms as with 64) without keeping a kept-alive one waiting longer.
ACCEPT_BATCH = 256
# The LAN listener's, smaller: asyncio accepts a whole batch before any of it meets the
# connection gate (see ``_start_site``).
GATED_ACCEPT_BATCH = 128
# A LAN listener on these listens on every interface; its URLs name the interfaces' addresses.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class PortInUseError(OSError):
    """The address and port asked for are taken by another program."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"port {port} on {host} is already in use; choose another with --port, "
            "or --port 0 for any free port",
        )
        self.host = host
        self.port = port


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


async def _start_site(
    runner: web.AppRunner,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    gate: limits.ConnectionGate | None = None,
) -> tuple[web.BaseSite, int]:
    """Start a listener (HTTPS with ``ssl_context``) and return it with the port it really got.

    With ``gate``, connections pass it first (the LAN listener's cap on unauthenticated ones).
    """
    before = {tuple(a) for a in runner.addresses}
    # WebSocket upgrades skip aiohttp's request machinery (see there). asyncio accepts up to
    # ``backlog`` connections per wake-up before any of them meets the gate, so the gated
    # (LAN) listener takes fewer: a burst of strangers can then never take the files the
    # gate is there to keep free.
    backlog = GATED_ACCEPT_BATCH if gate is not None else ACCEPT_BATCH
    site = UpgradeSite(runner, host, port, ssl_context=ssl_context, backlog=backlog, gate=gate)
    try:
        await site.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from exc
        raise
    # Both listeners: a connection waiting in the kernel's queue holds no file of this
    # process, so the gated one's cap is kept all the same, and a LAN reconnect storm of a
    # few hundred invitees waits there instead of retrying its SYN a second later.
    _deepen_backlog(site)
    new = [a for a in runner.addresses if tuple(a) not in before]
    real_port = int(new[0][1]) if new else port
    return site, real_port


def _deepen_backlog(site: web.BaseSite) -> None:
    """Let the kernel queue LISTEN_BACKLOG connections on the site's sockets, while asyncio
    goes on accepting ACCEPT_BATCH per wake-up (listen again changes only the queue)."""
    server = getattr(site, "_server", None)
    for transport_socket in getattr(server, "sockets", ()):
        with socket.socket(fileno=os.dup(transport_socket.fileno())) as listening:
            listening.listen(LISTEN_BACKLOG)


@dataclass
class RunningServer:
    """A started server: where it answers, and how to share it or stop it."""

    app: web.Application
    # As started, except lan_tls, which follows set_lan.
    config: ServerConfig
    runner: web.AppRunner
    site: web.BaseSite
    port: int
    lan_site: web.BaseSite | None = None
    lan_port: int = 0
    lan_host: str = ""
    # SHA-256 of the LAN listener's certificate while it is open with TLS, else "".
    lan_fingerprint: str = ""
    # This machine's LAN addresses, for a listener on all interfaces (tests pass their own).
    find_lan_addresses: Callable[[], Sequence[str]] = field(default=lan_addresses, repr=False)
    _closed: bool = field(default=False, repr=False)
    # One sharing switch at a time: two overlapping ones could each open a listener.
    _lan_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def url(self) -> str:
        return f"http://{_url_host(self.config.host)}:{self.port}/"

    @property
    def lan_urls(self) -> list[str]:
        if self.lan_site is None:
            return []
        if self.lan_host in WILDCARD_HOSTS:
            # No interface up but loopback: only this machine can reach the listener.
            hosts = list(self.find_lan_addresses()) or ["127.0.0.1"]
        else:
            hosts = [self.lan_host]
        scheme = "https" if self.lan_fingerprint else "http"
        return [f"{scheme}://{_url_host(h)}:{self.lan_port}/" for h in hosts]

    async def set_lan(
        self, enabled: bool, host: str | None = None, tls: bool | None = None
    ) -> list[str]:
        """Open or close the LAN listener; returns the LAN URLs (empty when off).

        ``tls``: serve the LAN listener over TLS from now on (None keeps the current
        setting). Changing it while the listener is open reopens it on the same port.
        """
        async with self._lan_lock:
            return await self._set_lan(enabled, host, tls)

    async def _set_lan(self, enabled: bool, host: str | None, tls: bool | None) -> list[str]:
        wanted_host = host or self.config.lan_host
        tls_changed = tls is not None and tls != self.config.lan_tls
        if tls is not None and tls_changed:
            self.config = dataclasses.replace(self.config, lan_tls=tls)
        if self.lan_site is not None and (
            not enabled or tls_changed or wanted_host != self.lan_host
        ):
            if not enabled or tls_changed:
                # Cut the network off first: nothing may slip out between the listener
                # closing and the security layer hearing of it. A switch to or from TLS
                # ends everyone's connection too, so none carries on unencrypted.
                await security.sharing_changed(self.app, False)
            await self.lan_site.stop()
            self.lan_site = None
            self.lan_port = 0
            self.lan_fingerprint = ""
        if enabled and self.lan_site is None:
            context, fingerprint = await self._lan_tls(wanted_host)
            self.lan_site, self.lan_port = await self._start_lan(wanted_host, context)
            self.lan_host = wanted_host
            self.lan_fingerprint = fingerprint
        await security.sharing_changed(
            self.app, self.lan_site is not None, self.lan_urls, fingerprint=self.lan_fingerprint
        )
        return self.lan_urls

    async def create_invite(self, role: str, name: str = "") -> str:
        """A new invite link for the LAN (the secret is in the link only)."""
        return await security.create_invite_link(self.app, role, name)

    async def revoke_invite(self, invite_id: str) -> None:
        await security.revoke_invite(self.app, invite_id)

    async def _lan_tls(self, host: str) -> tuple[ssl.SSLContext | None, str]:
        """The LAN listener's SSL context and certificate fingerprint; (None, "") without TLS."""
        if not self.config.lan_tls:
            return None, ""
        addresses = list(self.find_lan_addresses()) if host in WILDCARD_HOSTS else [host]
        # Making the key and certificate the first time is file and CPU work: off the loop.
        context = await asyncio.to_thread(tls.server_context, self.config.data_dir, addresses)
        fingerprint = await asyncio.to_thread(tls.known_fingerprint, self.config.data_dir)
        return context, fingerprint

    async def _start_lan(
        self, host: str, ssl_context: ssl.SSLContext | None
    ) -> tuple[web.BaseSite, int]:
        gate = self.app[SECURITY].gate
        if self.config.lan_port:
            return await _start_site(self.runner, host, self.config.lan_port, ssl_context, gate)
        # Invite links name the port, so it must outlive a toggle and a restart: the one
        # the last LAN URL used, else the one after the loopback port (a wildcard cannot
        # share the loopback port itself), and any free port only when both are taken.
        for port in await self._stable_lan_ports():
            try:
                return await _start_site(self.runner, host, port, ssl_context, gate)
            except PortInUseError:
                log.info("LAN port %d is taken; trying another", port)
        return await _start_site(self.runner, host, 0, ssl_context, gate)

    async def _stable_lan_ports(self) -> list[int]:
        ports: list[int] = []
        remembered = await self.app[DOMAIN].read(sharing.remembered_lan_url)
        with contextlib.suppress(ValueError):
            port = URL(remembered).explicit_port if remembered else None
            if port:
                ports.append(port)
        if self.port + 1 < 65536 and self.port + 1 not in ports:
            ports.append(self.port + 1)
        return ports

    async def close(self) -> None:
        """Stop listening, let the app shut down (sockets closed with 1001), close the store."""
        if self._closed:
            return
        self._closed = True
        await self.runner.cleanup()


#: The handle ``start_server`` returns: ``RunningServer`` or a subclass of it.
R = TypeVar("R", bound=RunningServer)


async def start_server(
    config: ServerConfig, *, lan_addresses: Callable[[], Sequence[str]] | None = None
) -> RunningServer:
    """Start listening on loopback (and on the LAN when ``config.lan``).

    ``lan_addresses``: this machine's LAN addresses, when not those of its interfaces.
    """
    return await start_server_as(RunningServer, config, lan_addresses=lan_addresses)


async def start_server_as(
    server_type: type[R],
    config: ServerConfig,
    *,
    lan_addresses: Callable[[], Sequence[str]] | None = None,
    prepare: Callable[[web.Application], None] | None = None,
    access_log: bool = False,
) -> R:
    """``start_server``, returning a ``server_type`` (``RunningServer`` or a subclass).

    ``prepare``: called with the application before it starts (tests adjust its state).
    ``access_log``: log every request as aiohttp does by default; Tandem itself logs none.
    """
    file_limit = limits.raise_open_file_limit()
    limits.quiet_accept_errors(asyncio.get_running_loop())
    app = create_app(config)
    app[SECURITY].gate = limits.ConnectionGate(
        config.lan_unauthenticated_per_address,
        config.lan_unauthenticated_total or limits.unauthenticated_total(file_limit),
    )
    if prepare is not None:
        prepare(app)
    runner_options: dict[str, Any] = {} if access_log else {"access_log": None}
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        # From the moment a connection is made, and again after each response: a whole
        # request must arrive in this time (aiohttp's default is an hour).
        keepalive_timeout=config.idle_timeout_seconds,
        **runner_options,
    )
    await runner.setup()
    try:
        site, port = await _start_site(runner, config.host, config.port)
        running = server_type(app=app, config=config, runner=runner, site=site, port=port)
        app[FOLDER_LOCK].publish(running.url)
        if lan_addresses is not None:
            running.find_lan_addresses = lan_addresses
        if config.lan:
            await running.set_lan(True)
    except BaseException:
        await runner.cleanup()
        raise
    _settle_collector()
    return running


# Objects allocated, less those freed, before the cyclic garbage collector's youngest
# generation is examined (CPython's default is 700).
GC_YOUNG_THRESHOLD = 10_000


@functools.cache
def _settle_collector() -> None:
    """Keep the cyclic garbage collector's passes short, once per process.

    Profiled in a reconnect storm of 2,000, the collector took a fifth of the server's CPU,
    and its full passes (each walking every object: the modules, the schema's descriptors,
    the models) were the event loop's longest stalls, a third of a second of CPU each. What
    exists once the server has started lives as long as the process, so it is frozen out of
    every later pass (gc.freeze, after a collection so no garbage is kept), and the young
    generation is examined less often, as a server allocates fast.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
