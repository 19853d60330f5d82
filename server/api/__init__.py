"""The REST API under /api: routes, body encoding, errors and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from server.api.actor import REQUEST_ACTOR, request_actor
from server.api.errors import api_error_middleware
from server.api.openapi import openapi_document
from server.api.reads import OPENAPI_DOCUMENT
from server.api.routes import OPERATIONS, add_routes

__all__ = ["OPERATIONS", "REQUEST_ACTOR", "api_error_middleware", "request_actor", "setup"]


def setup(app: web.Application) -> None:
    """Mount the REST routes on ``app`` (its middlewares must include api_error_middleware)."""
    add_routes(app)
    app[OPENAPI_DOCUMENT] = openapi_document()
