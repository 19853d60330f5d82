"""Who a REST request acts as: the one place that decides it.

An authentication middleware (LAN invites) stores the resolved ``Actor`` on the
request under ``REQUEST_ACTOR``; without one, the request is the desktop owner's
(a loopback request from the person at the machine).
"""

from __future__ import annotations

from aiohttp import web

from server.appkeys import DOMAIN
from server.domain.actor import Actor

REQUEST_ACTOR = web.RequestKey("actor", Actor)


def request_actor(request: web.Request) -> Actor:
    actor = request.get(REQUEST_ACTOR)
    if isinstance(actor, Actor):
        return actor
    owner: Actor = request.app[DOMAIN].owner_actor()
    return owner
