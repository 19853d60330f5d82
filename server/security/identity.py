"""Who a WebSocket connection from the network is, checked again when it says hello.

The request guard already let the handshake in; checking the credential once more at
``hello`` closes the gap between the two (an invite revoked, or sharing switched off,
in between).
"""

from __future__ import annotations

from aiohttp import web
from tandem.v1 import entities_pb2

from server.domain.actor import Actor
from server.security.middleware import lookup, presented
from server.security.state import SECURITY


async def remote_identity(
    request: web.BaseRequest, client_key: str
) -> tuple[Actor, entities_pb2.Member] | None:
    """The actor and member behind a LAN connection's credential, or None when it has none."""
    if not isinstance(request, web.Request):
        return None
    app = request.app
    if SECURITY not in app or not app[SECURITY].sharing.enabled:
        return None
    credential = presented(request)
    principal = None if credential is None else await lookup(app, credential)
    if principal is None:
        return None
    return principal.actor(client_key), principal.member
