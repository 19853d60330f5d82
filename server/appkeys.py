"""Typed application state shared by the server's parts."""

from __future__ import annotations

from aiohttp import web

from server.config import ServerConfig
from server.domain.service import Domain
from server.storage.folder_lock import FolderLock

CONFIG = web.AppKey("config", ServerConfig)
DOMAIN = web.AppKey("domain", Domain)
FOLDER_LOCK = web.AppKey("folder_lock", FolderLock)
