"""The application keys of the real-time layer: the hub, the connection caps."""

from __future__ import annotations

from aiohttp import web

from server.realtime.caps import ConnectionCaps
from server.realtime.hub import Hub

HUB = web.AppKey("realtime_hub", Hub)
CONNECTION_CAPS = web.AppKey("realtime_connection_caps", ConnectionCaps)
