"""The REST API's route table: the reads, and the commands of the command table.

One table mounts the aiohttp routes and generates the OpenAPI document, so the two
cannot drift apart. Every change goes through ``Domain.command`` with the same command
messages the WebSocket uses.
"""

from __future__ import annotations

from aiohttp import web

from server.api.attachments import ATTACHMENT_OPERATIONS
from server.api.commands import COMMAND_OPERATIONS
from server.api.diagnostics import DIAGNOSTICS_OPERATIONS, add_metrics_route
from server.api.exports import EXPORT_OPERATIONS
from server.api.inbox import INBOX_OPERATIONS
from server.api.operation import Operation, endpoint
from server.api.polls import setup_polls
from server.api.reads import READ_OPERATIONS

#: Every operation of the REST API.
OPERATIONS: tuple[Operation, ...] = (
    *READ_OPERATIONS,
    *DIAGNOSTICS_OPERATIONS,
    *INBOX_OPERATIONS,
    *EXPORT_OPERATIONS,
    *COMMAND_OPERATIONS,
    *ATTACHMENT_OPERATIONS,
)


def add_routes(app: web.Application) -> None:
    setup_polls(app)
    add_metrics_route(app)
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, endpoint(op), name=op.operation_id)
