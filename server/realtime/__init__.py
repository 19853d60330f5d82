"""The real-time engine: the WebSocket endpoint, subscriptions, presence and fan-out.

``setup(app)`` adds ``GET /ws`` and the hub. Call it after the domain is stored
under ``server.appkeys.DOMAIN`` (or after the cleanup context that stores it is
registered): the hub starts listening to the domain's commits at startup. Others
reach the hub as ``app[HUB]``. The protocol is described in docs/protocol.md.
"""

from __future__ import annotations

from aiohttp import web

from server.access import access_watch
from server.realtime.caps import CONNECTION_CAPS, ConnectionCaps
from server.realtime.endpoint import websocket
from server.realtime.hub import HUB, ConnectionInfo, Hub
from server.realtime.protocol import PROTOCOL_VERSION, CloseCode

__all__ = ["HUB", "PROTOCOL_VERSION", "CloseCode", "ConnectionInfo", "Hub", "setup"]


def setup(app: web.Application) -> None:
    hub = Hub()
    app[HUB] = hub
    app[CONNECTION_CAPS] = ConnectionCaps()
    # GET only: aiohttp's GET routes take HEAD too, and a HEAD is no handshake (RFC 6455 4.1).
    app.router.add_get("/ws", websocket, name="websocket", allow_head=False)
    app.cleanup_ctx.append(hub.context)
    app.on_shutdown.append(hub.shutdown)
    # Sockets of people whose access ends (sharing off, an invite revoked) close at once.
    access_watch(app).register(hub.access_ended)
