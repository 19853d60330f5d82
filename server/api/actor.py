"""Who a REST request acts as: the one place that decides it.

The security guard stores the resolved ``Actor`` of a LAN request (from its invite) on
the request under ``REQUEST_ACTOR``. A loopback request is the person at this machine:
a browser names itself with ``X-Tandem-Client-Id`` (and ``X-Tandem-Display-Name``,
percent-encoded) and acts as the same member its WebSocket ``hello`` does, so edits
made while it polls are credited to the right person; without them it is the owner.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web
from tandem.v1 import entities_pb2

from server.appkeys import DOMAIN
from server.domain.actor import Actor

REQUEST_ACTOR = web.RequestKey("actor", Actor)
CLIENT_ID_HEADER = "X-Tandem-Client-Id"
DISPLAY_NAME_HEADER = "X-Tandem-Display-Name"


async def request_actor(request: web.Request) -> Actor:
    actor = request.get(REQUEST_ACTOR)
    if isinstance(actor, Actor):
        return actor
    domain = request.app[DOMAIN]
    client_id = request.headers.get(CLIENT_ID_HEADER, "")
    if not client_id:
        owner: Actor = domain.owner_actor()
        return owner
    name = unquote(request.headers.get(DISPLAY_NAME_HEADER, ""))
    member = await domain.local_member(client_id, name)
    return Actor(
        member_id=member.id, role=entities_pb2.MemberRole.MEMBER_ROLE_OWNER, client_key=client_id
    )
