"""Who a WebSocket connection from the network is, when it says hello.

Its upgrade was let in on a credential looked up then (``Admission``): by the request guard,
or by the listener's own upgrade (``server.realtime.upgrade``), which reads the credential
and looks it up the same way. That answer stands at ``hello`` unless someone's access ended
since that lookup began (an invite revoked, sharing switched off): what ends access closes
the connections it can see, but not one that was still between its upgrade and the hub.
Then the credential is looked up again. A storm of invitees coming back so needs one lookup
each, not two.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from tandem.v1 import entities_pb2

from server.access import access_epoch
from server.domain.actor import Actor
from server.security.invites import Principal
from server.security.middleware import Credential, lookup, presented
from server.security.state import PRINCIPAL, PRINCIPAL_EPOCH, SECURITY


@dataclass(frozen=True, slots=True)
class Admission:
    """A LAN peer's upgrade, let in on ``credential``: who it belongs to, and the access epoch
    (``access_epoch``) read before the lookup that found it began."""

    credential: Credential
    principal: Principal
    epoch: int


def admitted(request: web.BaseRequest) -> Admission | None:
    """What the request guard let ``request`` in on; None for this machine's requests."""
    principal = request.get(PRINCIPAL)
    credential = presented(request.headers)
    if principal is None or credential is None:
        return None
    return Admission(credential, principal, request[PRINCIPAL_EPOCH])


async def remote_identity(
    app: web.Application, admission: Admission | None, client_key: str
) -> tuple[Actor, entities_pb2.Member] | None:
    """The actor and member behind a LAN connection's credential, or None when it has none
    (or no longer has one)."""
    if admission is None:
        return None
    if SECURITY not in app or not app[SECURITY].sharing.enabled:
        return None
    principal: Principal | None = admission.principal
    if admission.epoch != access_epoch(app):
        principal = await lookup(app, admission.credential)
    if principal is None:
        return None
    return principal.actor(client_key), principal.member
