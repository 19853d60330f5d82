"""Typed application state shared by the server's parts."""

from __future__ import annotations

from aiohttp import web

from server.config import ServerConfig
from server.domain.service import Domain

CONFIG = web.AppKey("config", ServerConfig)
DOMAIN = web.AppKey("domain", Domain)
