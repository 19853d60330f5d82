"""Safety of the local server and of LAN sharing.

Local mode (always on): the ``Host`` allow-list against DNS rebinding, the ``Origin``
allow-list against cross-site WebSocket hijacking and cross-site changes, non-simple
content types for changes, security headers on every response. LAN sharing: invites
(stored hashed), sessions in HttpOnly SameSite=Strict cookies, viewer and editor roles,
revocation that closes sockets, throttling of wrong credentials, mDNS discovery and an
optional TLS listener. Details in docs/security.md.

Seams:
- ``middlewares()`` goes first in the application's middlewares; ``setup(app)`` adds
  the state, the security headers and the cleanup.
- REST reads the actor with ``server.api.actor.request_actor`` (``ACTOR`` is its key).
- ``remote_identity(app, admission, client_key)`` for the WebSocket's hello from the LAN,
  on the ``Admission`` its upgrade was let in on (``admitted(request)`` reads the guard's).
- ``sharing_changed(app, enabled, urls)`` whenever the LAN listener opens or closes.
- Sockets and long polls whose access ends are closed by their holders, which register
  with ``server.access``; long polls are checked again by ``poll_still_allowed`` when
  they wake (``server.api.polls.LONG_POLL_CHECK``).
- ``create_invite_link`` and ``revoke_invite`` for the running server;
  ``server.security.cli`` for the command line (no server needed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Middleware

from server.api.polls import LONG_POLL_CHECK
from server.monitoring import MONITOR
from server.security import redact
from server.security.headers import add_security_headers
from server.security.identity import Admission, admitted, remote_identity
from server.security.middleware import guard
from server.security.sharing import (
    create_invite_link,
    poll_still_allowed,
    revoke_invite,
    sharing_changed,
    stop_watcher,
)
from server.security.state import ACTOR, PRINCIPAL, SECURITY, SESSION_COOKIE, SecurityState

__all__ = [
    "ACTOR",
    "PRINCIPAL",
    "SECURITY",
    "SESSION_COOKIE",
    "Admission",
    "SecurityState",
    "admitted",
    "create_invite_link",
    "middlewares",
    "remote_identity",
    "revoke_invite",
    "setup",
    "sharing_changed",
]


def middlewares() -> list[Middleware]:
    """The request guard; put it first so nothing runs for a refused request."""
    return [guard]


def setup(app: web.Application) -> None:
    redact.install()
    app[SECURITY] = SecurityState()
    app.on_response_prepare.append(add_security_headers)
    app[LONG_POLL_CHECK] = poll_still_allowed

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        yield
        await stop_watcher(app)
        await sharing_changed(app, False)

    app.cleanup_ctx.append(lifetime)
    _watch(app)


def _watch(app: web.Application) -> None:
    """Show the LAN throttle in the server's metrics."""
    monitor = app.get(MONITOR)
    metrics = monitor.metrics if monitor is not None else None
    if metrics is None:
        return
    throttle = app[SECURITY].throttle
    metrics.sample(
        "tandem_lan_credential_failures",
        "Wrong or revoked LAN credentials presented.",
        lambda: throttle.failures_total,
        kind="counter",
    )
    metrics.sample(
        "tandem_lan_throttled_requests",
        "LAN requests refused unchecked because their address had to wait.",
        lambda: throttle.refused_total,
        kind="counter",
    )
    metrics.sample(
        "tandem_lan_throttled_addresses",
        "LAN addresses that must wait before their next credential is checked.",
        throttle.waiting,
    )
