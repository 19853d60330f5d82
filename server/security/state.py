"""What the security layer keeps per application: the sharing switch, the throttle, keys."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from server.api.actor import REQUEST_ACTOR
from server.security.hosts import is_loopback_address
from server.security.invites import Principal
from server.security.limits import ConnectionGate
from server.security.throttle import CredentialThrottle
from server.storage.batched import Batched

#: The acting person of a request (an ``Actor``), set for every request from the LAN.
#: The same key ``server.api.actor.request_actor`` reads, so REST needs no wiring.
ACTOR = REQUEST_ACTOR
#: The invite behind a LAN request (``Principal``); absent on loopback requests.
PRINCIPAL = web.RequestKey("lan_principal", Principal)
#: ``server.access.access_epoch`` as the guard began checking that credential.
PRINCIPAL_EPOCH = web.RequestKey("lan_principal_epoch", int)

SESSION_COOKIE = "tandem_session"


@dataclass
class Sharing:
    """The LAN switch as the security layer sees it; changed only by ``sharing_changed``."""

    enabled: bool = False
    # Names a LAN request may carry in Host (the connection's own address is always allowed).
    names: frozenset[str] = frozenset()
    # Where invite links point, e.g. "http://192.168.1.20:8765".
    base_url: str = ""
    tls: bool = False
    # SHA-256 fingerprint of the LAN certificate, shown with invites ("" without TLS).
    fingerprint: str = ""


@dataclass
class SecurityState:
    sharing: Sharing = field(default_factory=Sharing)
    throttle: CredentialThrottle = field(default_factory=CredentialThrottle)
    # Watches the database for invites revoked by another process (the CLI).
    watcher: asyncio.Task[None] | None = None
    last_revocation: int = 0
    discovery: object | None = None
    # Which peer addresses are this machine (the owner). Injectable so tests can play a
    # LAN peer from a second loopback address; the server itself never changes it.
    is_local: Callable[[str | None], bool] = is_loopback_address
    # mDNS announcements while sharing (tests on one machine switch them off).
    announce: bool = True
    # The LAN listener's connections without a credential yet (set when the server starts).
    gate: ConnectionGate | None = None
    # Credentials presented together, looked up together (made on first use: see lookup).
    lookups: Batched[tuple[str, str], Principal | None] | None = None
    # The credential a LAN listener has just looked up for a connection and found no one
    # behind, as it hands the connection to aiohttp: the guard refuses it without a second
    # lookup (see server.realtime.upgrade). Gone with the connection.
    unfound: weakref.WeakKeyDictionary[asyncio.BaseTransport, tuple[str, str]] = field(
        default_factory=weakref.WeakKeyDictionary
    )


SECURITY = web.AppKey("security", SecurityState)
