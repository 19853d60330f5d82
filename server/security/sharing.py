"""Turning LAN sharing on and off at run time, and ending access the moment it is revoked.

``sharing_changed`` is called by whoever opens or closes the LAN listener (the
runner's ``set_lan``). Switching off closes every socket, and ends every long poll,
from the network at once; revoking an invite does the same for that person. An invite
revoked by another process (``tandem invite --revoke`` while the app runs) is noticed
by a watcher that polls the invite table a few times a second while sharing is on.
Sockets and polls are closed by whoever holds them, registered with ``server.access``:
this module says whose access ended, and knows nothing of hubs or polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiohttp import web
from tandem.v1 import errors_pb2
from yarl import URL

from server.access import AccessEnded, end_access
from server.api.errors import ApiError
from server.appkeys import DOMAIN
from server.security import hosts, invites
from server.security.middleware import peer_address
from server.security.state import PRINCIPAL, SECURITY, Sharing
from server.storage.models import MetaRow, put

log = logging.getLogger(__name__)

#: How often the watcher looks for invites revoked elsewhere; well inside the one second
#: a revoked person's sockets may stay open.
REVOCATION_POLL_SECONDS = 0.25
LAN_URL_META_KEY = "lan_url"
SHARING_OFF = "sharing on the network was switched off"
REVOKED = "access revoked"
ErrorCode = errors_pb2.ErrorCode


def close_remote_connections(app: web.Application, reason: str = SHARING_OFF) -> int:
    """Close every WebSocket, and end every long poll, that is not from this machine."""
    ended = AccessEnded(
        reason, ErrorCode.ERROR_CODE_PERMISSION_DENIED, is_local=app[SECURITY].is_local
    )
    return end_access(app, ended)


def close_member_connections(app: web.Application, member_id: str) -> int:
    """Close that member's WebSockets and end their long polls (their access is revoked)."""
    return end_access(
        app, AccessEnded(REVOKED, ErrorCode.ERROR_CODE_UNAUTHENTICATED, member_id=member_id)
    )


async def poll_still_allowed(request: web.Request) -> ApiError | None:
    """The long poll's second look when it wakes: is this request's access still there?

    Ending polls on revocation is immediate for this process; this covers a revocation
    made elsewhere that the watcher has not noticed yet.
    """
    app = request.app
    state = app[SECURITY]
    if state.is_local(peer_address(request)):
        return None
    if not state.sharing.enabled:
        return ApiError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, SHARING_OFF)
    principal = request.get(PRINCIPAL)
    if principal is None or not await app[DOMAIN].read(invites.is_active, principal.invite_id):
        return ApiError(ErrorCode.ERROR_CODE_UNAUTHENTICATED, REVOKED)
    return None


def _names_from(urls: Sequence[str], extra: Sequence[str]) -> frozenset[str]:
    names = {hosts.normalise_host(name) for name in extra if name}
    for url in urls:
        with contextlib.suppress(ValueError):
            host = URL(url).host
            if host:
                names.add(hosts.normalise_host(host))
    names.discard("0.0.0.0")
    names.discard("::")
    return frozenset(names)


def _remember_lan_url(base_url: str) -> None:
    put(MetaRow, key=LAN_URL_META_KEY, value=base_url)


def remembered_lan_url() -> str:
    row = MetaRow.get_or_none(MetaRow.key == LAN_URL_META_KEY)
    return str(row.value) if row is not None else ""


async def sharing_changed(
    app: web.Application,
    enabled: bool,
    urls: Sequence[str] = (),
    *,
    names: Sequence[str] = (),
    fingerprint: str = "",
) -> None:
    """Tell the security layer the LAN listener opened (``urls``: where it answers) or closed.

    ``names``: further host names LAN requests may use (the listener's own address is
    always accepted). ``fingerprint``: the TLS certificate's, when the listener uses TLS.
    """
    state = app[SECURITY]
    base = urls[0].rstrip("/") if urls else ""
    if enabled:
        hostnames = _names_from(urls, names)
        state.sharing = Sharing(
            enabled=True,
            names=hostnames,
            base_url=base,
            tls=base.startswith("https:"),
            fingerprint=fingerprint,
        )
        domain = app.get(DOMAIN)
        if domain is not None:
            if base:
                await domain.write(_remember_lan_url, base)
            state.last_revocation = await domain.read(invites.latest_revocation)
        if state.watcher is None or state.watcher.done():
            state.watcher = asyncio.create_task(_watch_revocations(app), name="invite-watcher")
        await _discovery(app, True, urls)
    else:
        state.sharing = Sharing(enabled=False)
        closed = close_remote_connections(app)
        if closed:
            log.info("sharing off: ended %d connection(s) from the network", closed)
        await stop_watcher(app)
        await _discovery(app, False, ())


async def _discovery(app: web.Application, enabled: bool, urls: Sequence[str]) -> None:
    if enabled and not app[SECURITY].announce:
        return
    try:
        from server.security import discovery
    except ImportError:
        return
    try:
        await discovery.update(app, enabled, urls)
    except Exception:  # discovery is a convenience; sharing works without it
        log.exception("could not update the mDNS announcement")


async def stop_watcher(app: web.Application) -> None:
    state = app[SECURITY]
    task, state.watcher = state.watcher, None
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _watch_revocations(app: web.Application) -> None:
    state = app[SECURITY]
    domain = app[DOMAIN]
    while True:
        await asyncio.sleep(REVOCATION_POLL_SECONDS)
        try:
            revoked = await domain.read(invites.revoked_since, state.last_revocation)
        except Exception:
            log.exception("could not check for revoked invites")
            continue
        for _invite_id, member_id, revoked_at in revoked:
            state.last_revocation = max(state.last_revocation, revoked_at)
            close_member_connections(app, member_id)


async def revoke_invite(app: web.Application, invite_id: str) -> invites.Invite:
    """Revoke an invite from inside the running server: its sockets close at once."""
    invite = await app[DOMAIN].write(invites.revoke, invite_id)
    close_member_connections(app, invite.member_id)
    return invite


def invite_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/join?token={token}"


async def create_invite_link(app: web.Application, role: str, name: str) -> str:
    """A new invite, as the link to send (the token is in it and is not kept anywhere)."""
    domain = app[DOMAIN]
    made = await domain.write(invites.create, name, role)
    base = app[SECURITY].sharing.base_url or await domain.read(remembered_lan_url)
    if not base:
        base = "http://<this computer's address>:<port>"
    return invite_link(base, made.token)
