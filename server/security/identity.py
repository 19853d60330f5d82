"""Who a WebSocket connection from the network is, when it says hello.

The request guard let the handshake in on a credential it looked up. That answer stands
at ``hello`` unless someone's access ended since the guard began its lookup (an invite
revoked, sharing switched off): what ends access closes the connections it can see, but
not one that was still between its upgrade and the hub. Then the credential is looked up
again. A storm of invitees coming back so needs one lookup each, not two.
"""

from __future__ import annotations

from aiohttp import web
from tandem.v1 import entities_pb2

from server.access import access_epoch
from server.domain.actor import Actor
from server.security.middleware import lookup, presented
from server.security.state import PRINCIPAL, PRINCIPAL_EPOCH, SECURITY


async def remote_identity(
    request: web.BaseRequest, client_key: str
) -> tuple[Actor, entities_pb2.Member] | None:
    """The actor and member behind a LAN connection's credential, or None when it has none."""
    if not isinstance(request, web.Request):
        return None
    app = request.app
    if SECURITY not in app or not app[SECURITY].sharing.enabled:
        return None
    principal = request.get(PRINCIPAL)
    if principal is None or request.get(PRINCIPAL_EPOCH) != access_epoch(app):
        credential = presented(request)
        principal = None if credential is None else await lookup(app, credential)
    if principal is None:
        return None
    return principal.actor(client_key), principal.member
