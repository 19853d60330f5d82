"""The application key under which the real-time hub is stored."""

from __future__ import annotations

from aiohttp import web

from server.realtime.hub import Hub

HUB = web.AppKey("realtime_hub", Hub)
